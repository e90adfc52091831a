"""``POST /v1/images/edits``: OpenAI's multipart form as the service's own ``EditRequest``.

With a ``mask`` the edit is Stability's inpaint; without one, SD3.5 Large's image-to-image at a
fixed ``strength``. OpenAI's mask marks the area to change with transparent pixels, Stability's
with white ones, so the mask is converted (``service.mask``) before it is checked like any
other input. The form's images are read in memory through the same input checks as inline data.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from service import mask, multipart
from service.errors import InvalidField
from service.flow import Generator
from service.inputs import InputSource
from service.openai_images import options
from service.request import EditRequest
from service.validation import resolve_model

FIELDS = (*options.COMMON_FIELDS, "image", "image[]", "mask")
FILE_FIELDS = ("image", "image[]", "mask")
INTEGER_FIELDS = ("n", "output_compression", "partial_images")
BOOLEAN_FIELDS = ("stream",)
WITH_MASK, WITHOUT_MASK = "inpaint", "image-to-image"
# How much image-to-image may change the image (0 keeps it, 1 ignores it): OpenAI's edit has no
# such field; enough to follow the prompt while keeping the composition.
IMAGE_TO_IMAGE_STRENGTH = 0.6
# Where the catalogue states no pixel limit for a mask: Stability's documented input maximum.
MASK_MAX_PIXELS = 9_437_184
FORM_PREFIX = "form:"  # keys of the form's images in the in-memory input source
_INTEGER = re.compile(r"-?[0-9]{1,9}")


def _form_value(name: str, text: str) -> Any:
    """Form fields are text; OpenAI's numbers and booleans arrive as their decimal or literal
    spelling, as the SDKs send them."""
    if name in INTEGER_FIELDS and _INTEGER.fullmatch(text.strip()):
        return int(text)
    if name in BOOLEAN_FIELDS and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return text


def _split(parts: list[multipart.Part]) -> tuple[dict[str, Any], list[multipart.Part], Any]:
    body: dict[str, Any] = {}
    images: list[multipart.Part] = []
    mask_part = None
    for part in parts:
        if part.name in ("image", "image[]"):
            images.append(part)
            body.setdefault(part.name, True)
            continue
        if part.name in body:
            raise InvalidField(f"'{part.name}' is given more than once", field=part.name)
        if part.name == "mask":
            mask_part = part
            body["mask"] = True
            continue
        if part.name not in FIELDS:  # refused by name below, whatever it holds
            body[part.name] = None
        elif part.filename is not None:
            raise InvalidField(f"'{part.name}' must be a text field, not a file", field=part.name)
        else:
            body[part.name] = _form_value(part.name, multipart.text(part))
    return body, images, mask_part


def _operation(generator: Generator, has_mask: bool) -> str:
    name = WITH_MASK if has_mask else WITHOUT_MASK
    operation = generator.catalogue.operation(name)
    if operation is not None and generator.settings.operation_usable(operation, generator.today()):
        return name
    settings = generator.settings
    if has_mask:
        raise InvalidField(
            f"editing with a 'mask' uses the inpaint operation, which this deployment does not"
            f" offer in {settings.region}",
            field="mask",
        )
    raise InvalidField(
        f"editing without a 'mask' uses image-to-image (SD3.5 Large), which this deployment does"
        f" not offer in {settings.region}; send a 'mask' (transparent pixels mark the area to"
        " change) to inpaint instead",
        field="image",
    )


def _converted_mask(generator: Generator, operation: str, data: bytes) -> bytes:
    """OpenAI's mask as Stability's, bounded by the operation's pixel limit before inflating."""
    spec = generator.catalogue.operation(operation)
    rule = next(rule for rule in spec.inputs if rule.name == "mask")
    return mask.stability_mask(data, max_pixels=rule.max_pixels or MASK_MAX_PIXELS).png


def parse_edit_form(
    data: bytes, content_type: str | None, generator: Generator
) -> tuple[EditRequest, options.Options]:
    """Validate an OpenAI edit form; a 4xx names OpenAI's field."""
    body, images, mask_part = _split(multipart.parse(data, content_type))
    options.check_known(body, FIELDS)
    options.check_ignored(body)
    shaped = options.options(body)
    if not images:
        raise InvalidField("'image' is required: the image to edit, as a file", field="image")
    if len(images) > 1:
        raise InvalidField(
            f"{len(images)} images were sent; Stability's editing services take one 'image'",
            field=images[0].name,
        )
    if body.get("model") is not None:  # any model this API lists, as clients reuse one setting
        resolve_model(body, generator.settings, generator.catalogue, generator.today())
    operation = _operation(generator, mask_part is not None)
    files = {f"{FORM_PREFIX}image": images[0].data}
    ours: dict[str, Any] = {
        "operation": operation,
        "image": {"key": f"{FORM_PREFIX}image"},
        "prompt": body.get("prompt"),
        "output_format": body.get("output_format"),
    }
    if mask_part is not None:
        files[f"{FORM_PREFIX}mask"] = _converted_mask(generator, operation, mask_part.data)
        ours["mask"] = {"key": f"{FORM_PREFIX}mask"}
    else:
        ours["strength"] = IMAGE_TO_IMAGE_STRENGTH
    source = InputSource((FORM_PREFIX,), lambda key, _limit: files.get(key))
    request = generator.editing({k: v for k, v in ours.items() if v is not None}, source)
    scope = f" for operation {operation}"
    notes = list(request.notes)
    if options.size(body) is not None:
        notes.append(f"size {body['size']} is not used: {operation} decides the output size")
    return dataclasses.replace(
        request,
        number_of_images=options.count(body, generator.settings.max_images, scope),
        notes=tuple(notes),
    ), shaped
