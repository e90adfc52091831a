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

from service.catalogue import ModelSpec
from service.errors import InvalidField, NotFound, ResponseTooLarge
from service.flow import Generator, Outcome
from service.openai_images.options import Options
from service.request import EditRequest, ImageRequest

LAMBDA_MAX_RESPONSE = 6 * 1024 * 1024
# The proxy response around the body (status, headers) and the JSON escaping of the body's
# quotes when Lambda serializes it.
RESPONSE_FRAME = 16 * 1024
ITEM_FRAME = len(json.dumps({"b64_json": ""})) + 2  # and the comma and space between items
PNG_BYTES_PER_PIXEL_AT_LEAST = 1  # Stability's 1 MP PNGs are 1.3-1.8 MB


def _base64_length(size: int) -> int:
    return (size + 2) // 3 * 4


def _smaller_formats(request: ImageRequest | EditRequest) -> str:
    """The compressed formats the model offers besides the one asked for, as a way out."""
    offered = (
        request.model.limits.output_formats
        if isinstance(request, ImageRequest)
        else request.operation.output_formats
    )
    smaller = [f"'{name}'" for name in ("jpeg", "webp") if name in offered]
    smaller = [name for name in smaller if name != f"'{request.output_format}'"]
    return f", or 'output_format' {' or '.join(smaller)}" if smaller else ""


def check_expected_size(request: ImageRequest, shaped: Options) -> None:
    """Refuse before any model call when the base64 answer cannot fit whatever the pictures
    hold: a PNG takes at least about a byte a pixel for a model's pictures."""
    if shaped.response_format != "b64_json" or request.output_format != "png":
        return
    pixels = request.width * request.height * request.number_of_images
    least = _base64_length(pixels * PNG_BYTES_PER_PIXEL_AT_LEAST) + RESPONSE_FRAME
    if least > LAMBDA_MAX_RESPONSE:
        raise InvalidField(
            f"{request.number_of_images} PNG images of {request.width}x{request.height} are at"
            f" least {least / 1e6:.0f} MB as base64, more than the 6 MB one answer can carry;"
            f" ask for 'response_format' 'url', a smaller 'n'{_smaller_formats(request)}",
            field="n",
        )


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
    fewer = f", 'n' of at most {fitting}" if fitting else ""
    raise ResponseTooLarge(
        f"the {len(sizes)} images are {sum(sizes) / 1e6:.1f} MB as base64, more than the 6 MB"
        f" one answer can carry; ask for 'response_format' 'url'{fewer}"
        f"{_smaller_formats(outcome.request)}. The images were made: 'images' lists their URLs",
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


def _model_entry(model: ModelSpec) -> dict[str, Any]:
    return {"id": model.alias, "object": "model", "created": 0, "owned_by": model.id.split(".")[0]}


def models_answer(generator: Generator, today: date) -> dict[str, Any]:
    """The usable image models, the deployment's default first. ``created`` is 0: the
    catalogue records lifecycle dates, not release times."""
    settings, catalogue = generator.settings, generator.catalogue
    default = catalogue.find(settings.default_model)
    usable = [m for m in catalogue.models if settings.usable(m, catalogue, today)]
    usable.sort(key=lambda model: model is not default)
    return {"object": "list", "data": [_model_entry(model) for model in usable]}


def model_answer(generator: Generator, today: date, name: Any) -> dict[str, Any]:
    """``GET /v1/models/{model}``: one entry of the list, or a 404 naming the listed ones."""
    listed = {entry["id"]: entry for entry in models_answer(generator, today)["data"]}
    if name not in listed:
        raise NotFound(
            f"no model {name!r} here; GET /v1/models lists {', '.join(listed)}", field="model"
        )
    return listed[name]
