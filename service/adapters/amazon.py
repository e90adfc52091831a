"""Amazon's image family: Titan Image Generator v2 and Nova Canvas (``TEXT_IMAGE`` task).

The service asks for one image per call (every image of a call shares its seed); blocked images
are dropped from ``images`` and ``error`` says why, so no image is a content-filter result.
"""

from __future__ import annotations

from service.adapters.base import ModelImage, decode_image
from service.errors import ContentFiltered, ModelFailed
from service.request import ImageRequest


class AmazonImageAdapter:
    def request_body(self, request: ImageRequest, count: int, seed: int) -> dict:
        limits = request.model.limits
        text_params: dict = {"text": request.prompt}
        if request.negative_prompt:
            text_params["negativeText"] = request.negative_prompt
        if request.style_preset:
            text_params["style"] = request.style_preset
        return {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": text_params,
            "imageGenerationConfig": {
                "numberOfImages": count,
                "width": request.width,
                "height": request.height,
                "cfgScale": request.cfg_scale
                if request.cfg_scale is not None
                else limits.cfg_scale.default,
                "seed": seed,
                "quality": "standard",
            },
        }

    def parse_response(self, payload: dict, count: int, seed: int) -> list[ModelImage]:
        images = payload.get("images") or []
        error = payload.get("error")
        if not isinstance(images, list):
            raise ModelFailed("the model returned a malformed image list")
        if not images:
            if error:
                raise ContentFiltered(f"blocked by the model's content filter ({error})")
            raise ModelFailed("the model returned no image")
        return [ModelImage(decode_image(image), seed) for image in images]
