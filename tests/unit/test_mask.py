"""service.mask: OpenAI masks (transparent = edit) as Stability inpaint masks (white = edit).

Masks come from Pillow in every mode it writes, and from ``encode`` below, which chooses each
row's filter type (Pillow picks its own) and writes what Pillow cannot (16-bit alpha). Every
output is read back with Pillow and compared with 255 - alpha computed from the pixels.
"""

import io
import random
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter

from service.errors import InvalidField
from service.mask import StabilityMask, stability_mask

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
MAX_PIXELS = 10_000_000
FORMATS = [  # (colour type, bit depth) the converter reads
    (6, 8), (6, 16), (4, 8), (4, 16),
    (3, 1), (3, 2), (3, 4), (3, 8),
    (0, 1), (0, 2), (0, 4), (0, 8), (0, 16),
    (2, 8), (2, 16),
]  # fmt: skip


# ---- writing PNGs --------------------------------------------------------------------------


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """PNG's forward filter ``kind`` (RFC 2083 section 6), byte by byte."""
    out = bytearray([kind])
    for i, x in enumerate(line):
        a = line[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        predicted = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
        out.append((x - predicted) & 255)
    return bytes(out)


def pack(samples: list[int], depth: int) -> bytes:
    if depth == 16:
        return b"".join(s.to_bytes(2, "big") for s in samples)
    if depth == 8:
        return bytes(samples)
    per_byte = 8 // depth
    samples = samples + [0] * (-len(samples) % per_byte)
    return bytes(
        sum(s << (8 - depth * (j + 1)) for j, s in enumerate(samples[i : i + per_byte]))
        for i in range(0, len(samples), per_byte)
    )


def encode(
    color: int,
    depth: int,
    rows: list[list[int]],
    filters: list[int] | tuple[int, ...] = (0,),
    *,
    trns: bytes | None = None,
    interlace: int = 0,
    idat_parts: int = 1,
    ancillary: bool = False,
) -> bytes:
    """A PNG of ``rows`` of samples, row ``y`` filtered with ``filters[y % len(filters)]``."""
    width = len(rows[0]) // CHANNELS[color]
    bpp = max(1, CHANNELS[color] * depth // 8)
    lines = [pack(row, depth) for row in rows]
    prior, raw = bytes(len(lines[0])), bytearray()
    for y, line in enumerate(lines):
        raw += filtered(filters[y % len(filters)], line, prior, bpp)
        prior = line
    ihdr = struct.pack(">IIBBBBB", width, len(rows), depth, color, 0, 0, interlace)
    out = [chunk(b"IHDR", ihdr)]
    if ancillary:
        out.append(chunk(b"tEXt", b"Comment\x00made by the tests"))
    if color == 3:
        out.append(chunk(b"PLTE", bytes(i % 256 for i in range(3 << depth))))
    if trns is not None:
        out.append(chunk(b"tRNS", trns))
    data = zlib.compress(bytes(raw))
    step = -(-len(data) // idat_parts)
    out += [chunk(b"IDAT", data[i : i + step]) for i in range(0, len(data), step)]
    return SIGNATURE + b"".join(out) + chunk(b"IEND", b"")


def expected(color: int, depth: int, rows: list[list[int]], trns: bytes | None) -> bytes:
    """255 - alpha per pixel, from the samples: the answer the converter must give."""
    channels = CHANNELS[color]
    out = bytearray()
    for row in rows:
        for x in range(0, len(row), channels):
            pixel = row[x : x + channels]
            if color in (4, 6):
                alpha = pixel[-1] if depth == 8 else (pixel[-1] * 255 + 32767) // 65535
            elif color == 3:
                alpha = trns[pixel[0]] if pixel[0] < len(trns) else 255
            else:
                key = [int.from_bytes(trns[i : i + 2], "big") for i in range(0, len(trns), 2)]
                alpha = 0 if pixel == key else 255
            out.append(255 - alpha)
    return bytes(out)


def saved(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def converted(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[StabilityMask, bytes]:
    """The converter's answer and its pixels, read back with Pillow (which checks the PNG)."""
    mask = stability_mask(data, max_pixels=max_pixels)
    with Image.open(io.BytesIO(mask.png)) as image:
        assert (image.mode, image.size) == ("L", (mask.width, mask.height))
        return mask, image.tobytes()


def refused(data: bytes, max_pixels: int = MAX_PIXELS) -> str:
    with pytest.raises(InvalidField) as caught:
        stability_mask(data, max_pixels=max_pixels)
    assert caught.value.field == "mask"
    assert caught.value.message.startswith("'mask' ")
    return caught.value.message


def ellipse_alpha(size: tuple[int, int], blur: float = 0) -> Image.Image:
    """An opaque mask with a transparent ellipse, its edge feathered by ``blur``."""
    alpha = Image.new("L", size, 255)
    w, h = size
    ImageDraw.Draw(alpha).ellipse((w // 5, h // 4, w * 4 // 5, h * 3 // 4), fill=0)
    return alpha.filter(ImageFilter.GaussianBlur(blur)) if blur else alpha


def photo(size: tuple[int, int]) -> Image.Image:
    """Noisy colour (like the user's own photo with a hole cut in it, a common mask)."""
    noise = Image.effect_noise(size, 60).convert("RGB")
    return Image.blend(Image.linear_gradient("L").resize(size).convert("RGB"), noise, 0.4)


# ---- masks made by Pillow ------------------------------------------------------------------


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("blur", [0, 6])
@pytest.mark.parametrize("background", ["photo", "black"])
def test_rgba_masks_saved_by_pillow(optimize, blur, background):
    size = (203, 150)
    alpha = ellipse_alpha(size, blur)
    image = (photo(size) if background == "photo" else Image.new("RGB", size)).convert("RGBA")
    image.putalpha(alpha)
    mask, pixels = converted(saved(image, optimize=optimize))
    assert (mask.width, mask.height) == size
    assert pixels == alpha.point(lambda a: 255 - a).tobytes()


def test_a_gradient_gives_partial_strength():
    alpha = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).crop((0, 0, 256, 64))
    image = Image.new("LA", alpha.size)
    image.putalpha(alpha)
    _, pixels = converted(saved(image))
    assert pixels == alpha.point(lambda a: 255 - a).tobytes()
    assert len(set(pixels)) == 256


def test_gray_alpha_masks_saved_by_pillow():
    alpha = ellipse_alpha((97, 61), blur=3)
    image = Image.merge("LA", (alpha, alpha))  # the OpenAI cookbook's recipe: mask as alpha
    _, pixels = converted(saved(image, optimize=True))
    assert pixels == alpha.point(lambda a: 255 - a).tobytes()


@pytest.mark.parametrize("colours", [2, 4, 16, 200])  # Pillow writes 1, 2, 4 and 8 bits
def test_palette_masks_with_trns_saved_by_pillow(colours):
    image = Image.new("P", (45, 21))
    image.putpalette(bytes(i % 256 for i in range(3 * colours)))
    image.putdata([(x * 7 + y * 3) % colours for y in range(21) for x in range(45)])
    alphas = [0, 255, 128, 7][: min(colours, 4)]
    data = saved(image, transparency=bytes(alphas))
    assert data[24] == {2: 1, 4: 2, 16: 4, 200: 8}[colours]  # the bit depth in IHDR
    _, pixels = converted(data)
    table = [255 - alphas[i] if i < len(alphas) else 0 for i in range(256)]
    assert pixels == image.tobytes().translate(bytes(table))
    with Image.open(io.BytesIO(data)) as reread:
        assert pixels == reread.convert("RGBA").getchannel("A").point(lambda a: 255 - a).tobytes()


@pytest.mark.parametrize(
    ("mode", "key", "value"),
    [("L", 200, 200), ("1", 1, 255), ("I;16", 40000, 40000), ("RGB", (9, 8, 7), (9, 8, 7))],
)
def test_a_single_transparent_colour_saved_by_pillow(mode, key, value):
    image = Image.new(mode, (33, 17))
    ImageDraw.Draw(image).rectangle((5, 3, 20, 12), fill=value)
    _, pixels = converted(saved(image, transparency=key))
    assert pixels == bytes(255 if p == value else 0 for p in image.get_flattened_data())


# ---- every filter type, every format -------------------------------------------------------


def rows_from(image: Image.Image, color: int, depth: int) -> list[list[int]]:
    """The rows of samples of ``image`` (an L mask: 0 = transparent) in a format."""
    width, height = image.size
    values = image.tobytes()
    top = (1 << depth) - 1
    rows = []
    for y in range(height):
        row: list[int] = []
        for a in values[y * width : (y + 1) * width]:
            scaled = a * top // 255
            if color in (4, 6):
                colour = [(a * 37) % (top + 1)] * (CHANNELS[color] - 1)
                row += [*colour, a * 257 if depth == 16 else a]
            elif color == 3:
                row.append(min(scaled, top))
            elif color == 0:
                row.append(scaled)
            else:
                row += [scaled, scaled // 2, 3]
        rows.append(row)
    return rows


def trns_for(color: int, depth: int) -> bytes | None:
    if color == 3:
        return bytes(range(0, 256, 3))[: 1 << depth]  # 0 (transparent) first, then more opaque
    if color == 0:
        return (0).to_bytes(2, "big")
    return b"\x00\x00\x00\x00\x00\x03" if color == 2 else None


@pytest.mark.parametrize(("color", "depth"), FORMATS)
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (4, 3, 2, 1, 0, 3, 4)])
def test_every_filter_type_in_every_format(color, depth, filters):
    mask = ellipse_alpha((83, 41), blur=4 if color in (3, 4, 6) else 0)
    rows = rows_from(mask, color, depth)
    trns = trns_for(color, depth)
    data = encode(color, depth, rows, filters, trns=trns, idat_parts=3, ancillary=True)
    want = expected(color, depth, rows, trns)
    if depth == 8 or color == 3:  # Pillow reads the test's own PNG the same way
        with Image.open(io.BytesIO(data)) as image:
            alpha = image.convert("RGBA").getchannel("A").tobytes()
        assert alpha == want.translate(bytes(range(255, -1, -1)))
    _, pixels = converted(data)
    assert pixels == want


def test_a_wide_mask_with_long_flat_runs_and_small_changes_between_rows():
    """Rows that repeat the one above except near the edge, as in real masks: the paths that
    copy the row above and resynchronise after a change."""
    alpha = ellipse_alpha((300, 90), blur=2)
    rows = rows_from(alpha, 6, 8)
    for filters in [(1,), (3,), (4,), (3, 4)]:
        _, pixels = converted(encode(6, 8, rows, filters))
        assert pixels == expected(6, 8, rows, None)


def test_16_bit_alpha_rounds_to_8_bits_for_every_value():
    rows = [[v for x in range(256) for v in (0, 256 * y + x)] for y in range(256)]
    _, pixels = converted(encode(4, 16, rows, (4, 3, 1, 2)))
    assert pixels == bytes(255 - (a * 255 + 32767) // 65535 for a in range(65536))
    assert pixels[:129] == b"\xff" * 129 and pixels[129] == 254  # alpha 0..128 rounds to 0


def test_palette_indices_beyond_trns_are_opaque_and_odd_widths_are_trimmed():
    rows = [[i % 4 for i in range(y, y + 13)] for y in range(5)]
    _, pixels = converted(encode(3, 2, rows, (1, 4), trns=b"\x00\x80"))
    assert pixels == bytes([255, 127, 0, 0][i] for row in rows for i in row)


def test_trns_in_an_rgba_mask_is_ignored():
    rows = [[1, 2, 3, 0, 1, 2, 3, 255]]
    _, pixels = converted(encode(6, 8, rows, trns=b"\x00\x01\x00\x02\x00\x03"))
    assert pixels == b"\xff\x00"


# ---- properties ----------------------------------------------------------------------------


@st.composite
def masks(draw):
    """Small images in any format, with any filter per row. Rows repeat the one above with a
    few changes (as masks do), from a few values, so every path of the unfiltering runs."""
    color, depth = draw(st.sampled_from(FORMATS))
    channels, top = CHANNELS[color], (1 << depth) - 1
    width, height = draw(st.integers(1, 70)), draw(st.integers(1, 6))
    values = st.sampled_from([0, top, top // 2, 1]) | st.integers(0, top)
    row = draw(st.lists(values, min_size=width * channels, max_size=width * channels))
    rows = [row]
    for _ in range(height - 1):
        row = list(row)
        for index in draw(st.lists(st.integers(0, len(row) - 1), max_size=8)):
            row[index] = draw(values)
        rows.append(row)
    trns = None
    if color == 3:
        trns = draw(st.binary(max_size=1 << depth))
    elif color in (0, 2):  # often a colour the image has
        samples = st.lists(st.integers(0, top), min_size=channels, max_size=channels)
        key = draw(st.just(rows[0][:channels]) | samples)
        trns = b"".join(k.to_bytes(2, "big") for k in key)
    filters = draw(st.lists(st.integers(0, 4), min_size=height, max_size=height))
    return color, depth, rows, filters, trns


@given(masks())
def test_random_masks_match_the_pixels(case):
    color, depth, rows, filters, trns = case
    want = expected(color, depth, rows, trns)
    data = encode(color, depth, rows, filters, trns=trns)
    if not any(want):
        assert "has no transparent pixel" in refused(data)
        return
    mask, pixels = converted(data)
    assert pixels == want
    assert (mask.width, mask.height) == (len(rows[0]) // CHANNELS[color], len(rows))


# ---- the output ----------------------------------------------------------------------------


def test_the_output_is_8_bit_gray_with_unfiltered_rows():
    image = Image.new("RGBA", (40, 30), (0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle((10, 10, 20, 20), fill=(0, 0, 0, 0))
    mask, _ = converted(saved(image))
    assert mask.png.startswith(SIGNATURE)
    assert mask.png[8:33] == chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 30, 8, 0, 0, 0, 0))
    length = int.from_bytes(mask.png[33:37], "big")
    raw = zlib.decompress(mask.png[41 : 41 + length])
    assert {raw[y * 41] for y in range(30)} == {0}
    assert mask.png.endswith(chunk(b"IEND", b""))


# ---- refusals ------------------------------------------------------------------------------


def small() -> bytes:
    return encode(6, 8, [[0, 0, 0, 0, 9, 9, 9, 255]] * 2)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a...",
        saved(Image.new("RGBA", (4, 4)), "WEBP"),
        saved(Image.new("RGB", (8, 8)), "JPEG"),
        b"\x89PNG",
    ],
)
def test_not_a_png(data):
    assert "must be a PNG file" in refused(data)


@pytest.mark.parametrize("cut", [10, 20, 40, -30, -12, -4])
def test_a_truncated_png(cut):
    assert "is cut short" in refused(small()[:cut])


def test_a_bad_crc_in_any_chunk():
    data = bytearray(small())
    data[20] ^= 1  # inside IHDR
    assert "its 'IHDR' chunk fails its CRC check" in refused(bytes(data))
    data = bytearray(small())
    data[-20] ^= 1  # inside IDAT
    assert "its 'IDAT' chunk fails its CRC check" in refused(bytes(data))


@pytest.mark.parametrize(
    ("ihdr", "problem"),
    [
        ((0, 5, 8, 6, 0, 0, 0), "0x5, bit depth 8, colour type 6"),
        ((5, 5, 3, 6, 0, 0, 0), "bit depth 3"),
        ((5, 5, 8, 5, 0, 0, 0), "colour type 5"),
        ((5, 5, 16, 3, 0, 0, 0), "bit depth 16, colour type 3"),
        ((5, 5, 8, 6, 1, 0, 0), "unknown compression, filter or interlace method"),
        ((5, 5, 8, 6, 0, 0, 2), "unknown compression, filter or interlace method"),
    ],
)
def test_an_invalid_header(ihdr, problem):
    data = SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", *ihdr)) + chunk(b"IEND", b"")
    assert problem in refused(data)


def test_the_header_must_come_first_and_be_whole():
    data = small()
    assert "does not start with an IHDR chunk" in refused(SIGNATURE + chunk(b"gAMA", b"1234"))
    assert "IHDR chunk is malformed" in refused(SIGNATURE + chunk(b"IHDR", data[16:28]))


def test_interlaced_masks_are_refused():
    data = encode(6, 8, [[0, 0, 0, 0]] * 3, interlace=1)
    assert "is an interlaced (Adam7) PNG; save it without interlacing" in refused(data)


def test_image_data_that_is_missing_corrupt_or_short():
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0))
    end = chunk(b"IEND", b"")
    assert "has no image data" in refused(SIGNATURE + ihdr + end)
    corrupt = SIGNATURE + ihdr + chunk(b"IDAT", b"\x78\x9c not deflate") + end
    assert "its image data does not inflate" in refused(corrupt)
    short = SIGNATURE + ihdr + chunk(b"IDAT", zlib.compress(bytes(9))) + end
    assert "its image data ends before the last row" in refused(short)
    bad_filter = SIGNATURE + ihdr + chunk(b"IDAT", zlib.compress(b"\x05" + bytes(17))) + end
    assert "a row has filter type 5" in refused(bad_filter)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (8, 8)),
        Image.new("L", (8, 8)),
        Image.new("P", (8, 8)),
        Image.new("1", (8, 8)),
    ],
)
def test_a_mask_without_transparency(image):
    message = refused(saved(image))
    assert "has no transparency (no alpha channel or tRNS chunk)" in message
    assert "OpenAI masks mark the area to edit with fully transparent pixels" in message


@pytest.mark.parametrize(
    "data",
    [
        saved(Image.new("RGBA", (16, 16), (255, 0, 0, 255))),
        saved(Image.new("LA", (16, 16), (0, 255))),
        saved(Image.new("L", (16, 16), 3), transparency=4),
        encode(2, 8, [[1, 2, 3]], trns=b"\x01\x01\x00\x02\x00\x03"),  # key not in 8 bits
    ],
)
def test_a_mask_with_nothing_transparent(data):
    assert "has no transparent pixel, so it marks nothing to edit" in refused(data)


def test_one_partly_transparent_pixel_is_something_to_edit():
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 255))
    image.putpixel((15, 15), (0, 0, 0, 254))
    _, pixels = converted(saved(image))
    assert pixels == bytes(255) + b"\x01"


def test_a_trns_chunk_of_the_wrong_length():
    assert "tRNS chunk has the wrong length" in refused(encode(0, 8, [[1, 2]], trns=b"\x00"))


# ---- the decompression bomb guard ----------------------------------------------------------


def test_too_many_pixels_are_refused_before_inflating():
    huge = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0)
    data = SIGNATURE + chunk(b"IHDR", huge) + chunk(b"IDAT", b"not even zlib") + chunk(b"IEND", b"")
    message = refused(data)
    assert "is 100000x100000 (10000000000 pixels); at most 10000000 are accepted" in message
    assert "at most 6599 are accepted" in refused(encode(6, 8, [[0] * 4 * 66] * 100), 6599)
    assert stability_mask(encode(6, 8, [[0] * 4 * 66] * 100), max_pixels=6600).width == 66


def test_image_data_that_inflates_far_beyond_the_image_is_never_inflated():
    """A 4x4 mask whose zlib stream holds 256 MB: only the 4 rows it needs are inflated."""
    compressor = zlib.compressobj(9)
    rows = b"".join(b"\x00" + bytes(16) for _ in range(4))
    stream = [compressor.compress(rows)]
    stream += [compressor.compress(bytes(1 << 20)) for _ in range(256)]
    stream.append(compressor.flush())
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 6, 0, 0, 0))
    data = SIGNATURE + ihdr + chunk(b"IDAT", b"".join(stream)) + chunk(b"IEND", b"")
    tracemalloc.start()
    try:
        mask = stability_mask(data, max_pixels=16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (mask.width, mask.height) == (4, 4)
    assert peak < 2 * len(data) + (1 << 20)


def test_memory_stays_bounded_for_a_large_mask():
    """2048x2048 RGBA is 16 MB of rows; they are inflated a block at a time."""
    image = Image.new("RGBA", (2048, 2048), (0, 0, 0, 255))
    ImageDraw.Draw(image).ellipse((300, 300, 1700, 1500), fill=(0, 0, 0, 0))
    data = saved(image)
    tracemalloc.start()
    try:
        mask = stability_mask(data, max_pixels=MAX_PIXELS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mask.width == 2048
    assert peak < 10 * 2**20


@pytest.mark.parametrize("idat_parts", [1, 7, 10_000])
def test_image_data_in_one_large_chunk_or_many_small_ones(idat_parts):
    """Random bytes do not compress: one IDAT chunk larger than a piece fed to zlib, or
    byte-sized chunks (a chunk boundary anywhere in the zlib stream)."""
    pixels = random.Random(idat_parts).randbytes(180 * 100 * 4)
    rows = [list(pixels[y * 720 : (y + 1) * 720]) for y in range(100)]
    data = encode(6, 8, rows, (1, 2, 3, 4, 0), idat_parts=idat_parts)
    if idat_parts == 1:
        assert len(data) > 64 * 1024
    _, got = converted(data)
    assert got == expected(6, 8, rows, None)
