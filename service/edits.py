"""Turn a ``POST /images/edits`` body into an ``EditRequest``, or a 4xx naming the field.

Which fields and inputs an operation takes, and their limits, are the catalogue's data; this
module checks any operation the same way. Cheap checks run first, so a bad parameter is
refused before an input image is read from S3.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from service import fields
from service.catalogue import Catalogue, FieldRule, OperationSpec
from service.config import Settings
from service.errors import InvalidField, ModelRetired, PayloadTooLarge
from service.inputs import BEDROCK_BODY_MAX_BYTES, InputSource, read_input
from service.request import EditRequest, InputImage

COMMON_FIELDS = ("operation", "seed", "output_format")
BODY_FRAME = 1024  # member names, constants, seed and output format around the values


def _operation(body: dict, settings: Settings, catalogue: Catalogue, today: date) -> OperationSpec:
    name = body.get("operation")
    operation = catalogue.operation(name) if isinstance(name, str) else None
    usable = [op.operation for op in catalogue.operations if settings.operation_usable(op, today)]
    choose = f"choose one of {', '.join(usable) or '(none enabled)'}"
    if operation is None or not settings.operation_allowed(operation.operation):
        if name is None:
            problem = "'operation' is required"
        elif not isinstance(name, str):
            problem = "'operation' must be a string"
        else:
            problem = f"'operation' {name!r} is not available here"
        raise InvalidField(f"{problem}; {choose}", field="operation")
    if operation.is_retired(today):
        raise ModelRetired(
            f"operation {operation.operation} ({operation.id}) reached end of life on Bedrock on"
            f" {operation.end_of_life}; use {operation.replacement} instead",
            field="operation",
        )
    if not operation.offered_in(settings.region):
        raise InvalidField(
            f"operation {operation.operation} is not offered in {settings.region}; {choose}",
            field="operation",
        )
    return operation


def _value(body: dict, rule: FieldRule, scope: str) -> Any:
    if rule.type == "text":
        return fields.text(body, rule.name, rule.max_length, required=rule.required)
    if rule.type == "choice":
        value = fields.choice(body, rule.name, rule.values, scope)
    elif rule.type == "integer":
        value = fields.integer(body, rule.name, int(rule.min), int(rule.max), scope)
    else:
        value = fields.number(body, rule.name, rule.min, rule.max, scope)
    if value is None and rule.required:
        raise InvalidField(f"'{rule.name}' is required{scope}", field=rule.name)
    return value


def _images(
    body: dict, operation: OperationSpec, scope: str, source: InputSource
) -> dict[str, InputImage]:
    images: dict[str, InputImage] = {}
    for rule in operation.inputs:
        if body.get(rule.name) is None:
            if rule.required:
                raise InvalidField(f"'{rule.name}' is required{scope}", field=rule.name)
            continue
        images[rule.name] = read_input(rule.name, body[rule.name], rule, source)
    for rule in operation.inputs:
        other = images.get(rule.unless_alpha_in or "")
        if rule.name not in images and other is not None and not other.info.alpha:
            raise InvalidField(
                f"'{rule.name}' is required{scope} when '{rule.unless_alpha_in}' has no alpha"
                " channel: white mask pixels (or transparent image pixels) mark what to change",
                field=rule.name,
            )
    for rule in operation.inputs:
        image, other = images.get(rule.name), images.get(rule.same_size_as or "")
        if image is not None and other is not None:
            mine, theirs = (
                (image.info.width, image.info.height),
                (other.info.width, other.info.height),
            )
            if mine != theirs:
                raise InvalidField(
                    f"'{rule.name}' is {mine[0]}x{mine[1]}; it must be the same size as"
                    f" '{rule.same_size_as}' ({theirs[0]}x{theirs[1]})",
                    field=rule.name,
                )
    return images


def check_body_size(values: dict[str, Any], images: dict[str, InputImage]) -> None:
    """The Bedrock body must stay within InvokeModel's limit: images as base64, and text as
    ``json.dumps`` writes it (non-ASCII escaped, up to 12 bytes a character)."""
    size = len(json.dumps(values)) + sum(len(i.encoded) for i in images.values()) + BODY_FRAME
    if size > BEDROCK_BODY_MAX_BYTES:
        largest = max(images, key=lambda name: len(images[name].encoded))
        raise PayloadTooLarge(
            f"the request to the model would be {size} bytes; Bedrock takes at most"
            f" {BEDROCK_BODY_MAX_BYTES}: send a smaller '{largest}'",
            field=largest,
        )


def parse_edit(
    body: Any, settings: Settings, catalogue: Catalogue, today: date, source: InputSource
) -> EditRequest:
    """Validate a decoded JSON body for ``POST /images/edits``."""
    if not isinstance(body, dict):
        raise InvalidField(
            'the body must be a JSON object like {"operation": "...", "image": {"key": "..."}}',
            field="body",
        )
    operation = _operation(body, settings, catalogue, today)
    scope = f" for operation {operation.operation}"
    accepted = (
        *(name for name in COMMON_FIELDS if name != "seed" or operation.seed_max is not None),
        *(rule.name for rule in operation.fields),
        *(rule.name for rule in operation.inputs),
    )
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise InvalidField(
            f"unknown field '{unknown[0]}'{scope}; it accepts {', '.join(accepted)}",
            field=unknown[0],
        )
    values = {rule.name: _value(body, rule, scope) for rule in operation.fields}
    values = {name: value for name, value in values.items() if value is not None}
    if operation.require_any and not any(values.get(name) for name in operation.require_any):
        raise InvalidField(
            f"give at least one of {', '.join(operation.require_any)} (above 0){scope}",
            field=operation.require_any[0],
        )
    seed = fields.integer(body, "seed", 0, operation.seed_max or 0, scope)
    output_format = fields.choice(body, "output_format", operation.output_formats, scope)
    images = _images(body, operation, scope, source)
    check_body_size(values, images)
    return EditRequest(
        operation=operation,
        invoke_id=operation.invoke_id(settings.region),
        values=values,
        images=images,
        seed=seed,
        output_format=output_format or operation.output_formats[0],
    )
