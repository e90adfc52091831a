"""Bedrock wire formats, one module per model family, all with the ``Adapter`` interface."""

from __future__ import annotations

from service.adapters.amazon import AmazonImageAdapter
from service.adapters.base import Adapter, ModelImage
from service.adapters.sdxl import SdxlAdapter
from service.adapters.stability import StabilityImageAdapter
from service.adapters.stability_services import StabilityServicesAdapter

ADAPTERS: dict[str, Adapter] = {
    "stability-image": StabilityImageAdapter(),
    "stability-sdxl": SdxlAdapter(),
    "amazon-image": AmazonImageAdapter(),
    "stability-services": StabilityServicesAdapter(),
}

__all__ = ["ADAPTERS", "Adapter", "ModelImage", "for_family"]


def for_family(family: str) -> Adapter:
    try:
        return ADAPTERS[family]
    except KeyError:
        raise ValueError(f"catalogue names unknown model family {family!r}") from None
