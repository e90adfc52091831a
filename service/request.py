"""The validated request every adapter builds its Bedrock body from.

It lives apart from ``validation`` so adapters depend on the request's shape, not on how it is
checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.catalogue import ModelSpec


@dataclass(frozen=True)
class ImageRequest:
    """A validated request: every value within the chosen model's limits."""

    prompt: str
    negative_prompt: str | None
    model: ModelSpec
    invoke_id: str  # the model id or inference-profile id sent to Bedrock
    width: int
    height: int
    aspect_ratio: str | None  # set for models that take an aspect ratio
    seed: int | None  # None: the service picks one per call
    cfg_scale: float | None
    steps: int | None
    style_preset: str | None
    number_of_images: int
    output_format: str
    notes: tuple[str, ...] = ()
