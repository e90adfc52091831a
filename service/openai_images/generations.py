"""``POST /v1/images/generations``: OpenAI's JSON body as the service's own ``ImageRequest``.

``size`` maps to the nearest size the model makes (an aspect ratio for Stability's models) and
the answer's ``size`` and notes say what was made; ``n`` is bounded by the model and the
deployment like ``number_of_images``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from service.errors import InvalidField
from service.flow import Generator
from service.openai_images import answers, options
from service.request import ImageRequest
from service.validation import fit_size, resolve_model

FIELDS = options.COMMON_FIELDS


def parse_generation(body: Any, generator: Generator) -> tuple[ImageRequest, options.Options]:
    """Validate an OpenAI generation body; a 400 names OpenAI's field."""
    if not isinstance(body, dict):
        raise InvalidField('the body must be a JSON object like {"prompt": "..."}', field="body")
    options.check_known(body, FIELDS)
    options.check_ignored(body)
    shaped = options.options(body)
    settings, today = generator.settings, generator.today()
    model, _ = resolve_model(body, settings, generator.catalogue, today)
    scope = f" for model {model.alias}"
    ours: dict[str, Any] = {
        "prompt": body.get("prompt"),
        "model": body.get("model"),
        "number_of_images": options.count(
            body, min(model.limits.max_images, settings.max_images), scope
        ),
        "output_format": body.get("output_format"),
    }
    asked = options.size(body)
    note = None
    if asked is not None:
        size_fields, note = fit_size(model, *asked)
        ours |= size_fields
    request = generator.generation({k: v for k, v in ours.items() if v is not None})
    notes = [note for note in (note, options.ignored(body)) if note is not None]
    if notes:
        request = dataclasses.replace(request, notes=(*notes, *request.notes))
    answers.check_expected_size(request, shaped)
    return request, shaped
