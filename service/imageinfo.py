"""Read an image's format and pixel size from its header, without decoding it.

The answer reports what the model really returned (not what was asked), and output that is not
a PNG, JPEG or WebP is treated as a model failure instead of being stored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "png" | "jpeg" | "webp"
    width: int
    height: int
    alpha: bool = False  # has an alpha channel (or PNG transparency)


class NotAnImage(ValueError):
    """The bytes are not a PNG, JPEG or WebP image we can read."""


def _png(data: bytes) -> ImageInfo:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise NotAnImage("truncated PNG header")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("png", width, height, _png_alpha(data))


def _png_alpha(data: bytes) -> bool:
    """Colour type 4 or 6 carries alpha; others may have a tRNS chunk before the image data."""
    if len(data) > 25 and data[25] in (4, 6):
        return True
    offset = 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"tRNS":
            return True
        if kind == b"IDAT":
            return False
        offset += 12 + length
    return False


def _jpeg(data: bytes) -> ImageInfo:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise NotAnImage("corrupt JPEG marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageInfo("jpeg", width, height)
        i += 2 + length
    raise NotAnImage("JPEG without a frame header")


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        alpha = bool(bits >> 28 & 1)
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, alpha)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("webp", width, height, bool(data[20] & 0x10))
    raise NotAnImage("unsupported WebP chunk")


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def check_complete(data: bytes, info: ImageInfo) -> None:
    """Refuse an image cut short (an interrupted upload) without decoding it: a PNG ends with
    its IEND chunk, a JPEG's scan data is followed by an end-of-image marker, a WebP holds the
    bytes its RIFF header announces. Bedrock would refuse such an input as malformed."""
    if info.format == "png":
        whole = data.endswith(_PNG_END)
    elif info.format == "jpeg":
        scan = data.find(b"\xff\xda")
        whole = scan != -1 and data.find(b"\xff\xd9", scan) != -1
    else:
        whole = int.from_bytes(data[4:8], "little") + 8 <= len(data)
    if not whole:
        raise NotAnImage(f"the {info.format.upper()} data is cut short")


def inspect(data: bytes) -> ImageInfo:
    """Return the format and size of ``data`` or raise ``NotAnImage``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data.startswith((b"GIF87a", b"GIF89a")):
        raise NotAnImage("it is a GIF, not a PNG, JPEG or WebP image")
    raise NotAnImage("it is not a PNG, JPEG or WebP image")
