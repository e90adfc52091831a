"""Input images for editing: ``{"key": ...}`` of an earlier image or upload, or ``{"data": ...}``
inline base64, checked against the operation's documented limits before any paid call.

Bedrock takes images as base64 inside a JSON body of at most 25,000,000 bytes
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html), so that
bounds every input. Inline data is decoded once, to check it; the caller's base64 text itself
goes to Bedrock. An image read from S3 is encoded once.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from service import imageinfo
from service.catalogue import InputRule
from service.errors import InvalidField, PayloadTooLarge
from service.request import InputImage

BEDROCK_BODY_MAX_BYTES = 25_000_000
BODY_RESERVE_BYTES = 64 * 1024  # prompts and parameters beside the images
# The largest image whose base64 still fits one Bedrock body (edits check the whole body too).
MAX_INPUT_BYTES = (BEDROCK_BODY_MAX_BYTES - BODY_RESERVE_BYTES) * 3 // 4
MAX_KEY_LENGTH = 1024
_DATA_URI = re.compile(r"data:[\w.+-]+/[\w.+-]+;base64,", re.IGNORECASE)

Reader = Callable[[str, int], bytes | None]  # (key, max bytes) -> the object, or None if absent


@dataclass(frozen=True)
class InputSource:
    """Where keys may point and how to read them."""

    prefixes: tuple[str, ...]  # generated images and uploads
    read: Reader


def check_key(key: object, field: str, prefixes: tuple[str, ...], label: str = "") -> str:
    """A key of this service's images or uploads: under one of its prefixes, no traversal.
    ``label`` names it in the message when it is a member of ``field`` (``image.key``)."""
    label = label or field
    if not isinstance(key, str) or not key:
        raise InvalidField(f"'{label}' must be a non-empty string", field=field)
    if len(key) > MAX_KEY_LENGTH or ".." in key or not key.startswith(prefixes):
        raise InvalidField(
            f"'{label}' must be a key under {' or '.join(repr(p) for p in prefixes)} of at most"
            f" {MAX_KEY_LENGTH} characters, from an earlier answer",
            field=field,
        )
    return key


def _inline(name: str, data: object) -> tuple[str, bytes]:
    if not isinstance(data, str) or not data:
        raise InvalidField(f"'{name}.data' must be a non-empty base64 string", field=name)
    prefix = _DATA_URI.match(data)
    encoded = data[prefix.end() :] if prefix else data
    if len(encoded) > (MAX_INPUT_BYTES + 2) // 3 * 4:
        raise PayloadTooLarge(
            f"'{name}' is larger than {MAX_INPUT_BYTES} bytes, the most Bedrock takes", field=name
        )
    try:
        return encoded, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField(
            f"'{name}.data' is not valid base64 (or a data:image/...;base64, URI)", field=name
        ) from None


def _stored(name: str, key: object, source: InputSource) -> tuple[str, bytes]:
    key = check_key(key, name, source.prefixes, f"{name}.key")
    try:
        data = source.read(key, MAX_INPUT_BYTES)
    except PayloadTooLarge as exc:
        raise PayloadTooLarge(f"'{name}.key': {exc.message}", field=name) from None
    if data is None:
        raise InvalidField(
            f"'{name}.key' names no stored image: {key!r} (uploads and images expire)", field=name
        )
    return base64.b64encode(data).decode("ascii"), data


def _check_size(name: str, rule: InputRule, info: imageinfo.ImageInfo) -> None:
    width, height = info.width, info.height
    pixels, ratio = width * height, width / max(height, 1)
    size = f"'{name}' is {width}x{height}"
    max_side = rule.max_side or max(width, height)
    if min(width, height) < rule.min_side or max(width, height) > max_side:
        most = f" and at most {rule.max_side}" if rule.max_side else ""
        raise InvalidField(
            f"{size}; each side must be at least {rule.min_side}{most} pixels", field=name
        )
    low, high = rule.min_pixels or 0, rule.max_pixels or pixels
    if not low <= pixels <= high:
        raise InvalidField(
            f"{size} ({pixels} pixels); it must have {low} to {rule.max_pixels} pixels", field=name
        )
    if rule.min_ratio is not None and not rule.min_ratio <= ratio <= (rule.max_ratio or ratio):
        raise InvalidField(
            f"{size}; its width/height ratio must be between {rule.min_ratio:g} and"
            f" {rule.max_ratio:g}",
            field=name,
        )


def read_input(name: str, value: object, rule: InputRule, source: InputSource) -> InputImage:
    """One input image, or a 4xx naming ``name`` and the limit it breaks."""
    if not isinstance(value, dict) or len(value) != 1 or not {"key", "data"} & set(value):
        raise InvalidField(
            f'\'{name}\' must be {{"key": "<key of an earlier image or upload>"}} or'
            f' {{"data": "<base64>"}}',
            field=name,
        )
    key = value.get("key")
    encoded, data = _inline(name, value["data"]) if "data" in value else _stored(name, key, source)
    try:
        info = imageinfo.inspect(data)
        imageinfo.check_complete(data, info)
    except imageinfo.NotAnImage as exc:
        raise InvalidField(f"'{name}' cannot be used: {exc}", field=name) from None
    if info.format not in rule.formats:
        raise InvalidField(
            f"'{name}' is {info.format}; this operation takes {', '.join(rule.formats)}",
            field=name,
        )
    _check_size(name, rule, info)
    return InputImage(encoded, info)
