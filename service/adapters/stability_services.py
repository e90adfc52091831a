"""Stability AI Image Services on Bedrock (upscale, edit, control, style) and SD3.5 Large's
image-to-image mode: one body shape for all of them, built from the catalogue's operation data.

The body is the operation's constants, the given parameters under their wire names, the input
images as base64, the seed and the output format; the answer is Stability's usual
``seeds`` / ``finish_reasons`` / ``images`` (one image per call).
"""

from __future__ import annotations

from service.adapters.base import ModelImage
from service.adapters.stability import parse_stability_answer
from service.request import EditRequest


class StabilityServicesAdapter:
    def request_body(self, request: EditRequest, count: int, seed: int) -> dict:
        op = request.operation
        body: dict = dict(op.constants)
        for rule in op.fields:
            if rule.name in request.values:
                body[rule.wire] = request.values[rule.name]
        for rule in op.inputs:
            if rule.name in request.images:
                body[rule.wire] = request.images[rule.name].encoded
        if op.seed_max is not None:
            body["seed"] = seed
        body["output_format"] = request.output_format
        return body

    def parse_response(self, payload: dict, count: int, seed: int) -> list[ModelImage]:
        return parse_stability_answer(payload, seed)
