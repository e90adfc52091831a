"""What every family adapter shares: the image type, the interface and strict base64 decoding."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Protocol

from service.errors import ModelFailed
from service.request import EditRequest, ImageRequest


@dataclass(frozen=True)
class ModelImage:
    """One image as the model returned it."""

    data: bytes
    seed: int


class Adapter(Protocol):
    def request_body(self, request: ImageRequest | EditRequest, count: int, seed: int) -> dict:
        """The JSON body of one ``InvokeModel`` call producing ``count`` images."""
        ...

    def parse_response(self, payload: dict, count: int, seed: int) -> list[ModelImage]:
        """The images in the model's answer; raises ContentFiltered or ModelFailed."""
        ...


def decode_image(encoded: object) -> bytes:
    """Decode a base64 image field strictly: a malformed field is the model's failure."""
    if not isinstance(encoded, str) or not encoded:
        raise ModelFailed("the model returned an empty or non-text image field")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ModelFailed("the model returned image data that is not valid base64") from None
