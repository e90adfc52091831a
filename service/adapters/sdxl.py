"""Stability SDXL 1.0: the classic recipe's ``text_prompts`` / ``artifacts`` format.

Kept so the recipe's request works wherever SDXL is still served (private access).
"""

from __future__ import annotations

from service.adapters.base import ModelImage, decode_image
from service.errors import ContentFiltered, ModelFailed
from service.request import ImageRequest


class SdxlAdapter:
    def request_body(self, request: ImageRequest, count: int, seed: int) -> dict:
        limits = request.model.limits
        prompts = [{"text": request.prompt, "weight": 1.0}]
        if request.negative_prompt:
            prompts.append({"text": request.negative_prompt, "weight": -1.0})
        body: dict = {
            "text_prompts": prompts,
            "cfg_scale": request.cfg_scale
            if request.cfg_scale is not None
            else limits.cfg_scale.default,
            "steps": request.steps if request.steps is not None else int(limits.steps.default),
            "seed": seed,
            "width": request.width,
            "height": request.height,
            "samples": 1,
        }
        if request.style_preset:
            body["style_preset"] = request.style_preset
        return body

    def parse_response(self, payload: dict, count: int, seed: int) -> list[ModelImage]:
        artifacts = payload.get("artifacts")
        if not isinstance(artifacts, list) or not artifacts:
            raise ModelFailed("the model returned no image")
        images = []
        for artifact in artifacts:
            if not isinstance(artifact, dict):
                raise ModelFailed("the model returned a malformed artifact")
            reason = artifact.get("finishReason")
            if reason == "CONTENT_FILTERED":
                raise ContentFiltered("blocked by the model's content filter")
            if reason not in (None, "SUCCESS"):
                raise ModelFailed(f"the model reported: {reason}")
            art_seed = artifact.get("seed")
            images.append(
                ModelImage(
                    decode_image(artifact.get("base64")),
                    art_seed if isinstance(art_seed, int) else seed,
                )
            )
        return images
