"""``make bench`` (masks): converting an OpenAI edit mask into Stability's (``service.mask``),
next to Pillow doing the same conversion in the same run.

The Lambda ships no Pillow, so ``service.mask`` decodes only the alpha bytes in pure Python;
Pillow's C decoder and encoder are the baseline to stay near. Masks of 1, 4 and 9.4 megapixels:
as Pillow saves them (it picks each row's filter itself), and written with every row
Paeth-filtered, the slowest filter to undo where rows differ. Peak memory is each conversion's
own, in a fresh interpreter: its high-water mark (VmHWM) above the one before it ran.
"""

from __future__ import annotations

import collections
import io
import json
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from service.mask import stability_mask

ROOT = Path(__file__).resolve().parents[1]
SIDES = {"1 MP": 1024, "4 MP": 2048, "9.4 MP": 3072}
RUNS = 3
FILTERS = ("None", "Sub", "Up", "Average", "Paeth")


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


# ---- the masks ---------------------------------------------------------------------------------


def hole(side: int, blur: float = 0) -> Image.Image:
    """Opaque, with a transparent ellipse (its edge feathered by ``blur``)."""
    alpha = Image.new("L", (side, side), 255)
    ImageDraw.Draw(alpha).ellipse((side // 5, side // 4, side * 4 // 5, side * 3 // 4), fill=0)
    return alpha.filter(ImageFilter.GaussianBlur(blur)) if blur else alpha


def photo_with_hole(side: int) -> Image.Image:
    """The user's photo with the area to edit erased: a common way to make an OpenAI mask."""
    noise = Image.effect_noise((side, side), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    image = Image.blend(gradient, noise, 0.35).convert("RGBA")
    image.putalpha(hole(side))
    return image


def feathered(side: int) -> Image.Image:
    """The OpenAI cookbook's recipe: a grayscale mask put in every channel, alpha included."""
    alpha = hole(side, blur=side / 60)
    return Image.merge("RGBA", (alpha, alpha, alpha, alpha))


def pillow_png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def paeth_png(alpha: Image.Image) -> bytes:
    """An RGBA PNG with ``alpha`` in every channel and every row Paeth-filtered (Pillow cannot
    be told a filter). Filters work per byte lane, so one lane's differences serve all four."""
    width, height = alpha.size
    pixels, prior, raw = alpha.tobytes(), bytes(width), bytearray()
    for y in range(height):
        line = pixels[y * width : (y + 1) * width]
        lefts, up_lefts = b"\0" + line[:-1], b"\0" + prior[:-1]
        lane = bytes(
            (x - paeth(a, b, c)) & 255
            for x, a, b, c in zip(line, lefts, prior, up_lefts, strict=True)
        )
        out = bytearray(4 * width)
        for k in range(4):
            out[k::4] = lane
        raw += b"\x04" + out
        prior = line
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunks = ((b"IHDR", ihdr), (b"IDAT", zlib.compress(bytes(raw), 6)), (b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_mix(data: bytes) -> str:
    """Which filter types the PNG's rows use, most used first."""
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    counts = collections.Counter(raw[y * (4 * width + 1)] for y in range(height))
    return ", ".join(f"{FILTERS[k]} {n * 100 // height}%" for k, n in counts.most_common(3))


# ---- the two conversions -----------------------------------------------------------------------


def ours(data: bytes) -> bytes:
    return stability_mask(data, max_pixels=50_000_000).png


def pillow(data: bytes) -> bytes:
    """The same answer with Pillow: the alpha channel, inverted, as an 8-bit gray PNG."""
    with Image.open(io.BytesIO(data)) as image:
        inverted = image.getchannel("A").point(lambda a: 255 - a)
    out = io.BytesIO()
    inverted.save(out, "PNG", compress_level=6)
    return out.getvalue()


CONVERTERS: dict[str, Callable[[bytes], bytes]] = {"ours": ours, "pillow": pillow}


def vm_hwm_kb() -> int:
    """This process's peak resident memory so far (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def child(path: str, converter: str) -> None:
    """One conversion in this fresh interpreter; prints the peak memory it added, in KB."""
    data = Path(path).read_bytes()
    convert = CONVERTERS[converter]
    before = vm_hwm_kb()
    convert(data)
    print(json.dumps({"added_kb": vm_hwm_kb() - before}))


def added_mb(path: Path, converter: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "bench.masks", "--child", str(path), converter],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return f"{json.loads(out)['added_kb'] / 1024:.0f} MB"


def timed(data: bytes) -> tuple[float, float]:
    """Median seconds of ours and Pillow's, alternated so drift hits both alike."""
    assert (
        Image.open(io.BytesIO(ours(data))).tobytes()
        == Image.open(io.BytesIO(pillow(data))).tobytes()
    )
    times: dict[str, list[float]] = {"ours": [], "pillow": []}
    for _ in range(RUNS):
        for name, convert in CONVERTERS.items():
            started = time.perf_counter()
            convert(data)
            times[name].append(time.perf_counter() - started)
    return statistics.median(times["ours"]), statistics.median(times["pillow"])


def main() -> None:
    print("# OpenAI mask -> Stability mask", time.strftime("%Y-%m-%d"))
    print(f"\nMedian of {RUNS} runs each; 'ratio' is service.mask's time over Pillow's.\n")
    row(
        "mask", "PNG", "row filters", "service.mask", "Pillow", "ratio", "peak adds (ours / Pillow)"
    )
    row(*["---"] * 7)
    with tempfile.TemporaryDirectory(prefix="imagegen-bench-masks-") as tmp:
        for label, side in SIDES.items():
            masks = {
                "photo with a hole": pillow_png(photo_with_hole(side)),
                "photo with a hole, optimize=True": pillow_png(
                    photo_with_hole(side), optimize=True
                ),
                "feathered": pillow_png(feathered(side)),
                "feathered, all Paeth (worst case)": paeth_png(hole(side, blur=side / 60)),
                "noise alpha, all Paeth (no real mask)": paeth_png(
                    Image.effect_noise((side, side), 80)
                ),
            }
            for name, data in masks.items():
                path = Path(tmp) / "mask.png"
                path.write_bytes(data)
                mine, theirs = timed(data)
                row(
                    f"{label} {name}",
                    f"{len(data) / 1e6:.1f} MB",
                    filter_mix(data),
                    f"{mine * 1000:.0f} ms",
                    f"{theirs * 1000:.0f} ms",
                    f"{mine / theirs:.2f}x",
                    f"{added_mb(path, 'ours')} / {added_mb(path, 'pillow')}",
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:4])
    else:
        main()
