"""Turn an OpenAI edit mask into the mask Stability's inpaint takes, with the standard library.

OpenAI marks the area to edit with transparent pixels: "An additional image whose fully
transparent areas (e.g. where alpha is zero) indicate where ``image`` should be edited. Must be a
valid PNG file" (API reference, images/createEdit). Stability's inpaint takes a grayscale image:
white changes fully, black keeps, grays change partly
(https://docs.aws.amazon.com/bedrock/latest/userguide/stable-image-services.html). So each output
pixel is ``255 - alpha``, as an 8-bit grayscale PNG of the same size.

Only the alpha bytes are decoded. PNG filters predict each byte from the same byte of the pixel
to its left and of the row above, so a row's alpha "lane" (``row[k::bytes_per_pixel]``)
unfilters on its own, like a one-byte-per-pixel image. Everything runs at C speed (slicing,
bytes.translate, big-int SWAR, itertools.accumulate) except Average and Paeth rows where they
do not repeat the row above: a mask's edges, one comprehension step per pixel there. Rows are
inflated a block at a time, so memory stays a few MB at any size. Adam7-interlaced masks are
refused: SDKs and editors do not write them for masks, and their seven passes would double
this code.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from service.errors import InvalidField

SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
BLOCK_BYTES = 2 * 1024 * 1024  # filtered rows inflated at a time: bounds memory at any size
PIECE_BYTES = 64 * 1024  # compressed bytes fed to zlib at a time
RESYNC_BYTES = 16  # bytes computed at a time past a change, until the row above is matched
OUTPUT_LEVEL = 6
_INVERT = bytes(range(255, -1, -1))
_NONZERO = bytes(1) + b"\x01" * 255  # translate: 0 where a byte is 0, 1 elsewhere
_FLAT = bytes(32)  # a run of zero flags long enough to skip rather than compute through
_LOW_BYTE = 0 if sys.byteorder == "little" else 7  # of an array("Q") item

Run = Callable[[bytes, bytes, bytes, int], list[int]]  # (differences, up, up-left, left) -> bytes
Converter = Callable[[list[bytes]], bytes]  # unfiltered lanes of a row -> 255 - alpha per pixel


@dataclass(frozen=True)
class StabilityMask:
    """The converted mask; the caller checks the size matches the image it masks."""

    png: bytes  # 8-bit grayscale: 255 where OpenAI's mask was transparent
    width: int
    height: int


@dataclass(frozen=True)
class _Header:
    width: int
    height: int
    depth: int
    color: int


def _invalid(problem: str) -> InvalidField:
    return InvalidField(f"'mask' {problem}", field="mask")


# ---- reading the PNG -----------------------------------------------------------------------


def _header(body: memoryview, max_pixels: int) -> _Header:
    if len(body) != 13:
        raise _invalid("is not a valid PNG: its IHDR chunk is malformed")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not (0 < width < 2**31 and 0 < height < 2**31) or depth not in DEPTHS.get(color, ()):
        raise _invalid(
            f"is not a valid PNG: {width}x{height}, bit depth {depth}, colour type {color}"
        )
    if compression or filtering or interlace > 1:
        raise _invalid("is not a valid PNG: unknown compression, filter or interlace method")
    if interlace:
        raise _invalid("is an interlaced (Adam7) PNG; save it without interlacing")
    if width * height > max_pixels:
        raise _invalid(
            f"is {width}x{height} ({width * height} pixels); at most {max_pixels} are accepted"
        )
    return _Header(width, height, depth, color)


def _chunks(data: bytes, max_pixels: int) -> tuple[_Header, bytes | None, list[memoryview]]:
    """IHDR, tRNS and the IDAT chunks' data, every chunk's CRC checked. The size is refused
    before any image data is inflated."""
    if not data.startswith(SIGNATURE):
        raise _invalid("must be a PNG file (OpenAI masks are PNGs with transparent pixels)")
    view = memoryview(data)
    header, trns, idat = None, None, []
    pos = len(SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise _invalid("is cut short: the PNG ends before its IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            raise _invalid("is cut short: the PNG ends inside a chunk")
        body = view[pos + 8 : end]
        if zlib.crc32(body, zlib.crc32(kind)) != int.from_bytes(data[end : end + 4], "big"):
            raise _invalid(f"is corrupt: its {kind.decode('latin-1')!r} chunk fails its CRC check")
        if header is None:
            if kind != b"IHDR":
                raise _invalid("is not a valid PNG: it does not start with an IHDR chunk")
            header = _header(body, max_pixels)
        elif kind == b"tRNS":
            trns = body.tobytes()
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos = end + 4
    if not idat:
        raise _invalid("is not a valid PNG: it has no image data (IDAT)")
    return header, trns, idat


def _blocks(idat: list[memoryview], row_length: int, height: int) -> Iterator[bytes]:
    """The filtered rows, a block of whole rows at a time. Output is bounded (a stream that
    would inflate beyond the image, a zip bomb, is never expanded) and input is fed in small
    pieces (zlib copies what it has not read yet at every call)."""
    pieces = (
        chunk[i : i + PIECE_BYTES] for chunk in idat for i in range(0, len(chunk), PIECE_BYTES)
    )
    inflater = zlib.decompressobj()
    rows_per_block = max(1, BLOCK_BYTES // row_length)
    pending: bytes | memoryview = b""
    for first in range(0, height, rows_per_block):
        size = min(rows_per_block, height - first) * row_length
        block, got = [], 0
        while got < size:
            pending = pending or next(pieces, b"")
            try:
                out = inflater.decompress(pending, size - got)
            except zlib.error as exc:
                raise _invalid(f"is corrupt: its image data does not inflate ({exc})") from None
            if not out and not pending:
                raise _invalid("is cut short: its image data ends before the last row")
            block.append(out)
            got += len(out)
            pending = inflater.unconsumed_tail
        yield b"".join(block)


# ---- unfiltering one lane (a byte of every pixel of a row) ----------------------------------


@lru_cache(maxsize=4)
def _masks(length: int) -> tuple[int, int]:
    """SWAR masks: the low 7 bits and the top bit of every byte."""
    return int.from_bytes(b"\x7f" * length, "big"), int.from_bytes(b"\x80" * length, "big")


def _add(x: bytes, y: bytes) -> bytes:
    """Bytewise (x + y) % 256 in a few big-int operations."""
    low, high = _masks(len(x))
    a, b = int.from_bytes(x, "big"), int.from_bytes(y, "big")
    return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(len(x), "big")


def _sums(cur: bytes, start: int) -> bytes:
    """Running sums of ``cur`` from ``start``, modulo 256, at C speed."""
    return array("Q", accumulate(cur, initial=start)).tobytes()[8 + _LOW_BYTE :: 8]


def _sub(cur: bytes) -> bytes:
    """Each byte adds the one to its left: runs of zero differences (flat areas) repeat the last
    value, the rest is summed."""
    flags = cur.translate(_NONZERO)
    out = bytearray(len(cur))
    last = pos = 0
    while pos < len(cur):
        flat = flags.find(_FLAT, pos)
        stop = len(cur) if flat == -1 else flat
        if stop > pos:
            out[pos:stop] = _sums(cur[pos:stop], last)
            last = out[stop - 1]
        if flat == -1:
            break
        pos = flags.find(1, flat)
        pos = len(cur) if pos == -1 else pos
        out[flat:pos] = bytes((last,)) * (pos - flat)
    return bytes(out)


def _average(cur: bytes, up: bytes, up_left: bytes, left: int) -> list[int]:
    return [left := (x + ((left + b) >> 1)) & 255 for x, b in zip(cur, up, strict=True)]


def _paeth(cur: bytes, up: bytes, up_left: bytes, left: int) -> list[int]:
    """PNG's Paeth predictor (pa, pb, pc as in the spec), with comprehension speed."""
    return [
        left := (
            x
            + (
                left
                if (pa := abs(b - c)) <= (pb := abs(left - c)) and pa <= abs(left + b - c - c)
                else b
                if pb <= abs(left + b - c - c)
                else c
            )
        )
        & 255
        for x, b, c in zip(cur, up, up_left, strict=True)
    ]


def _resync(cur: bytes, prior: bytes, misses: bytes, run: Run) -> bytes:
    """Average and Paeth rows, computed byte after byte only where needed: where a byte's left
    neighbour equals the row above's and its difference is the one that repeats the row above
    (``misses`` is 0 there), it equals the byte above."""
    out = bytearray(prior)
    above = b"\0" + prior  # above[i]: the byte up-left of i (0 off the row)
    size, pos = len(cur), 0
    while (start := misses.find(1, pos)) != -1:
        end = misses.find(_FLAT, start)  # short gaps cost less to compute than to skip
        end, left = size if end == -1 else end, above[start]
        while True:
            out[start:end] = run(cur[start:end], prior[start:end], above[start:end], left)
            left = out[end - 1]
            if end == size or left == above[end]:  # in step with the row above again
                break
            start, end = end, min(size, end + RESYNC_BYTES)
        pos = end
    return bytes(out)


def _unfilter(kind: int, cur: bytes, prior: bytes) -> bytes:
    if kind == 0:
        return cur
    if kind == 1:
        return _sub(cur)
    if kind == 2:
        return _add(cur, prior)
    if kind == 4:  # under Paeth, a byte that repeats the one above has a zero difference
        return _resync(cur, prior, cur.translate(_NONZERO), _paeth)
    if kind == 3:  # under Average, up - (up_left + up) // 2: a SWAR mean, then a subtraction
        low, high = _masks(len(prior))
        up = int.from_bytes(prior, "big")
        left = up >> 8
        mean = (left & up) + (((left ^ up) >> 1) & low)
        same = ((up | high) - (mean & low)) ^ (~(up ^ mean) & high)
        misses = (same ^ int.from_bytes(cur, "big")).to_bytes(len(cur), "big")
        return _resync(cur, prior, misses.translate(_NONZERO), _average)
    raise _invalid(f"is corrupt: a row has filter type {kind}")


# ---- from unfiltered lanes to 255 - alpha --------------------------------------------------


def _invert(lanes: list[bytes]) -> bytes:
    return lanes[0].translate(_INVERT)


def _invert16(lanes: list[bytes]) -> bytes:
    """255 - round(alpha * 255 / 65535) from the high and low alpha bytes, per pixel in 16-bit
    SWAR slots: round(v / 257) is hi + 1 when lo - hi >= 129, hi - 1 when hi - lo >= 129,
    else hi (and 65535 - alpha, both bytes inverted, rounds to 255 minus the same)."""
    hi, lo = (lane.translate(_INVERT) for lane in lanes)
    count = len(hi)
    wide = bytearray(b"\x02\x00" * count)  # slots of lo + 512: lo - hi + 512 stays positive
    wide[1::2] = lo
    high = bytearray(2 * count)
    high[1::2] = hi
    high_slots = int.from_bytes(high, "big")
    spread = int.from_bytes(wide, "big") - high_slots  # lo - hi + 512, in 257..767
    ones = int.from_bytes(b"\x00\x01" * count, "big")
    up = ((spread + 383 * ones) >> 10) & ones  # lo - hi + 512 >= 641
    down = (~(spread + 640 * ones) >> 10) & ones  # lo - hi + 512 < 384
    return (high_slots + up - down).to_bytes(2 * count, "big")[1::2]


def _samples(table: bytes, depth: int, width: int) -> Converter:
    """Per pixel, ``table[sample]`` for samples packed ``depth`` bits each into the row."""
    if depth == 8:
        return lambda lanes: lanes[0].translate(table)
    per_byte, mask = 8 // depth, (1 << depth) - 1
    shifts = [8 - depth * (j + 1) for j in range(per_byte)]
    tables = [bytes(table[byte >> shift & mask] for byte in range(256)) for shift in shifts]

    def unpack(lanes: list[bytes]) -> bytes:
        out = bytearray(len(lanes[0]) * per_byte)
        for j, lookup in enumerate(tables):
            out[j::per_byte] = lanes[0].translate(lookup)
        del out[width:]
        return bytes(out)

    return unpack


def _matches(keys: list[int | None]) -> Converter:
    """255 where every sample byte equals the tRNS colour's (``None``: a key no byte has)."""
    tables = [bytes(255 if value == key else 0 for value in range(256)) for key in keys]

    def match(lanes: list[bytes]) -> bytes:
        found = -1
        for lane, table in zip(lanes, tables, strict=True):
            found &= int.from_bytes(lane.translate(table), "big")
        return found.to_bytes(len(lanes[0]), "big")

    return match


def _layout(header: _Header, trns: bytes | None) -> tuple[int, tuple[int, ...], Converter]:
    """Bytes per pixel (as filters see them), which byte lanes to unfilter, and the converter."""
    depth, color = header.depth, header.color
    bpp = max(1, CHANNELS[color] * depth // 8)
    if color in (4, 6):
        if depth == 8:
            return bpp, (bpp - 1,), _invert
        return bpp, (bpp - 2, bpp - 1), _invert16
    if trns is None:
        raise _invalid(
            "has no transparency (no alpha channel or tRNS chunk): OpenAI masks mark the area"
            " to edit with fully transparent pixels"
        )
    if color == 3:
        alpha = trns[: 1 << depth]
        table = bytes(255 - alpha[i] if i < len(alpha) else 0 for i in range(1 << depth))
        return bpp, (0,), _samples(table, depth, header.width)
    if len(trns) != 2 * CHANNELS[color]:
        raise _invalid("is not a valid PNG: its tRNS chunk has the wrong length")
    key = [int.from_bytes(trns[i : i + 2], "big") for i in range(0, len(trns), 2)]
    if depth < 16:  # one byte (or fewer bits) per sample
        if color == 0:
            table = bytes(255 if value == key[0] else 0 for value in range(1 << depth))
            return bpp, (0,), _samples(table, depth, header.width)
        return bpp, (0, 1, 2), _matches([k if k < 256 else None for k in key])
    return bpp, tuple(range(bpp)), _matches(list(trns))


# ---- the conversion --------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> tuple[bytes, ...]:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)), kind, body, struct.pack(">I", crc)


def stability_mask(data: bytes, *, max_pixels: int) -> StabilityMask:
    """Stability's inpaint mask for an OpenAI edit mask (a PNG), or ``InvalidField`` on
    ``mask``: not a complete PNG, corrupt, interlaced, more than ``max_pixels`` (checked before
    inflating), without transparency, or fully opaque (nothing to edit)."""
    header, trns, idat = _chunks(data, max_pixels)
    bpp, lanes, convert = _layout(header, trns)
    row_length = 1 + (header.width * CHANNELS[header.color] * header.depth + 7) // 8
    priors = [bytes((row_length - 1) // bpp)] * len(lanes)
    opaque = bytes(header.width)
    editable = False
    compressor = zlib.compressobj(OUTPUT_LEVEL)
    out = []
    for block in _blocks(idat, row_length, header.height):
        rows = []
        for start in range(0, len(block), row_length):
            kind, end = block[start], start + row_length
            priors = [
                _unfilter(kind, block[start + 1 + k : end : bpp], prior)
                for k, prior in zip(lanes, priors, strict=True)
            ]
            row = convert(priors)
            editable = editable or row != opaque
            rows += (b"\0", row)  # filter type None
        out.append(compressor.compress(b"".join(rows)))
    if not editable:
        raise _invalid(
            "has no transparent pixel, so it marks nothing to edit: OpenAI masks mark the area"
            " to edit with fully transparent pixels"
        )
    out.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", header.width, header.height, 8, 0, 0, 0, 0)
    chunks = (_chunk(b"IHDR", ihdr), _chunk(b"IDAT", b"".join(out)), _chunk(b"IEND", b""))
    png = b"".join((SIGNATURE, *(part for chunk in chunks for part in chunk)))
    return StabilityMask(png, header.width, header.height)
