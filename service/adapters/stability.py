"""Stability's current image family on Bedrock: SD3.5 Large, Stable Image Core and Ultra.

One image per call, an aspect ratio instead of pixel sizes; the answer carries ``seeds``
and ``finish_reasons`` (null on success, "Filter reason: ..." when blocked).
"""

from __future__ import annotations

from service.adapters.base import ModelImage, decode_image
from service.errors import ContentFiltered, ModelFailed
from service.request import ImageRequest


class StabilityImageAdapter:
    def request_body(self, request: ImageRequest, count: int, seed: int) -> dict:
        body: dict = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect_ratio,
            "seed": seed,
            "output_format": request.output_format,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        return body

    def parse_response(self, payload: dict, count: int, seed: int) -> list[ModelImage]:
        return parse_stability_answer(payload, seed)


def parse_stability_answer(payload: dict, seed: int) -> list[ModelImage]:
    """Stability's answer, shared by its generation models and its image services."""
    reasons = payload.get("finish_reasons") or []
    for reason in reasons:
        if reason is None:
            continue
        if str(reason).startswith("Filter reason"):
            raise ContentFiltered(f"blocked by the model's content filter ({reason})")
        raise ModelFailed(f"the model reported: {reason}")
    images = payload.get("images")
    if not isinstance(images, list) or not images:
        raise ModelFailed("the model returned no image")
    seeds = payload.get("seeds")
    if not isinstance(seeds, list) or len(seeds) != len(images):
        seeds = [seed] * len(images)
    return [
        ModelImage(decode_image(image), int(s) if isinstance(s, int) else seed)
        for image, s in zip(images, seeds, strict=True)
    ]
