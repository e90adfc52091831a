"""Bedrock wire formats, one module per model family, all with the ``Adapter`` interface."""

from __future__ import annotations

from service.adapters.amazon import AmazonImageAdapter
from service.adapters.base import Adapter, ModelImage
from service.adapters.sdxl import SdxlAdapter
from service.adapters.stability import StabilityImageAdapter

ADAPTERS: dict[str, Adapter] = {
    "stability-image": StabilityImageAdapter(),
    "stability-sdxl": SdxlAdapter(),
    "amazon-image": AmazonImageAdapter(),
}

__all__ = ["ADAPTERS", "Adapter", "ModelImage", "for_family"]


def for_family(family: str) -> Adapter:
    try:
        return ADAPTERS[family]
    except KeyError:
        raise ValueError(f"catalogue names unknown model family {family!r}") from None
