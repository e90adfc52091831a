"""OpenAI's answer shapes: images as ``b64_json`` or ``url``, the model list, and errors.

A Lambda answer carries at most 6 MB (https://docs.aws.amazon.com/lambda/latest/dg/
gettingstarted-limits.html): images that would not fit as base64 are refused with a 400 that
names the ways out, never cut short or turned into API Gateway's 502. The images were made and
paid for by then, so the refusal lists their URLs.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

from service.errors import ResponseTooLarge
from service.flow import Generator, Outcome
from service.openai_images.options import Options

LAMBDA_MAX_RESPONSE = 6 * 1024 * 1024
# The proxy response around the body (status, headers) and the JSON escaping of the body's
# quotes when Lambda serializes it.
RESPONSE_FRAME = 16 * 1024
ITEM_FRAME = len(json.dumps({"b64_json": ""})) + 2  # and the comma and space between items
ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_type(status: int) -> str:
    """OpenAI's ``type`` for a status, as its SDKs and clients read it."""
    if status >= 500:
        return "server_error"
    return ERROR_TYPES.get(status, "invalid_request_error")


def openai_error(body: dict[str, Any], status: int) -> dict[str, Any]:
    """The service's ``{"error": {"code", "message", "field"?}}`` in OpenAI's shape; ``param``
    is the field, and members an error adds (``images``) stay."""
    error = dict(body["error"])
    param = error.pop("field", None)
    return {
        "error": {
            "message": error.pop("message"),
            "type": error_type(status),
            "param": param,
            "code": error.pop("code"),
            **error,
        }
    }


def _base64_length(size: int) -> int:
    return (size + 2) // 3 * 4


def _check_fits(outcome: Outcome, answer: dict[str, Any]) -> None:
    frame = len(json.dumps(answer)) + RESPONSE_FRAME
    sizes = [_base64_length(image.bytes) + ITEM_FRAME for image in outcome.stored]
    if frame + sum(sizes) <= LAMBDA_MAX_RESPONSE:
        return
    fitting, total = 0, frame
    for size in sizes:
        total += size
        if total > LAMBDA_MAX_RESPONSE:
            break
        fitting += 1
    fewer = f" 'n' of at most {fitting}," if fitting else ""
    raise ResponseTooLarge(
        f"the {len(sizes)} images are {sum(sizes) / 1e6:.1f} MB as base64, more than the 6 MB"
        f" one answer can carry; ask for 'response_format' 'url',{fewer} or a smaller"
        " 'output_format' ('jpeg' or 'webp'). The images were made: 'images' lists their URLs",
        field="response_format",
        images=[{"url": image.url, "key": image.key} for image in outcome.stored],
    )


def images_answer(outcome: Outcome, shaped: Options, generator: Generator) -> dict[str, Any]:
    """``{"created", "data", "size", "output_format", "imagegen"}``; ``imagegen`` is the
    service's own answer (keys, seeds, cost, notes), which OpenAI clients ignore."""
    first = outcome.stored[0]
    answer: dict[str, Any] = {
        "created": int(outcome.created.timestamp()),
        "data": [],
        "size": f"{first.width}x{first.height}",
        "output_format": first.content_type.removeprefix("image/"),
        "imagegen": generator.describe(outcome),
    }
    if shaped.response_format == "url":
        answer["data"] = [{"url": image.url} for image in outcome.stored]
        return answer
    _check_fits(outcome, answer)
    answer["data"] = [
        {"b64_json": base64.b64encode(data).decode("ascii")}
        for data in generator.image_data(outcome)
    ]
    return answer


def models_answer(generator: Generator, today: date) -> dict[str, Any]:
    """The usable image models, the deployment's default first. ``created`` is 0: the
    catalogue records lifecycle dates, not release times."""
    settings, catalogue = generator.settings, generator.catalogue
    default = catalogue.find(settings.default_model)
    usable = [m for m in catalogue.models if settings.usable(m, catalogue, today)]
    usable.sort(key=lambda model: model is not default)
    return {
        "object": "list",
        "data": [
            {
                "id": model.alias,
                "object": "model",
                "created": 0,
                "owned_by": model.id.split(".")[0],
            }
            for model in usable
        ],
    }
