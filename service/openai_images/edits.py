"""``POST /v1/images/edits``: OpenAI's multipart form as the service's own ``EditRequest``.

With a ``mask`` the edit is Stability's inpaint; without one, the image's own transparent pixels
are the mask (OpenAI's rule), and an image without any is redrawn by SD3.5 Large's image-to-image
at a fixed ``strength``. OpenAI's mask marks the area to change with transparent pixels,
Stability's with white ones, so the mask is converted (``service.mask``) before it is checked
like any other input. The form's images are read in memory through the same input checks as
inline data.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from service import imageinfo, mask, multipart
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


def _operation(generator: Generator, masked: bool) -> str:
    name = WITH_MASK if masked else WITHOUT_MASK
    operation = generator.catalogue.operation(name)
    if operation is not None and generator.settings.operation_usable(operation, generator.today()):
        return name
    settings = generator.settings
    if masked:
        raise InvalidField(
            f"editing with a 'mask' (or a transparent 'image') uses the inpaint operation, which"
            f" this deployment does not offer in {settings.region}",
            field="mask",
        )
    raise InvalidField(
        f"editing without a 'mask' uses image-to-image (SD3.5 Large), which this deployment does"
        f" not offer in {settings.region}; send a 'mask' (transparent pixels mark the area to"
        " change) to inpaint instead",
        field="image",
    )


def _info(data: bytes) -> imageinfo.ImageInfo | None:
    """The image's header, or None: the input checks then say what is wrong with it."""
    try:
        return imageinfo.inspect(data)
    except imageinfo.NotAnImage:
        return None


def _mask_pixels(generator: Generator) -> int:
    """The inpaint mask's pixel limit, checked before a mask is inflated."""
    spec = generator.catalogue.operation(WITH_MASK)
    rule = next((rule for rule in spec.inputs if rule.name == "mask"), None) if spec else None
    return (rule.max_pixels if rule else None) or MASK_MAX_PIXELS


def _mask(generator: Generator, image: bytes, mask_data: bytes | None) -> bytes | None:
    """Stability's mask for the edit, or None for image-to-image.

    With a ``mask``: converted, after its size is checked against the image's (a cheap header
    read, before the expensive decoding). Without one, OpenAI's rule: "If mask is not provided,
    image must have transparency, which will be used as the mask" (images/createEdit) - an image
    with transparent pixels is inpainted there; an opaque one is redrawn (image-to-image).
    """
    info = _info(image)
    if mask_data is None:
        if info is None or info.format != "png" or not info.alpha:
            return None
        try:
            return mask.stability_mask(image, max_pixels=_mask_pixels(generator)).png
        except InvalidField:  # no transparent pixel: nothing marked, so the whole image
            return None
    shape = _info(mask_data)
    if (
        info is not None
        and shape is not None
        and (shape.width, shape.height)
        != (
            info.width,
            info.height,
        )
    ):
        raise InvalidField(
            f"'mask' is {shape.width}x{shape.height}; it must be the same size as 'image'"
            f" ({info.width}x{info.height})",
            field="mask",
        )
    return mask.stability_mask(mask_data, max_pixels=_mask_pixels(generator)).png


def _notes(body: dict[str, Any], operation: str, generator: Generator, derived: bool) -> list:
    notes = []
    if derived:
        notes.append("no 'mask' was sent: the image's transparent pixels are the area to change")
    name = body.get("model")
    spec = generator.catalogue.operation(operation)
    if name is not None and spec is not None:
        notes.append(f"model {name} makes new images; edits run {operation} ({spec.model})")
    if options.size(body) is not None:
        notes.append(f"size {body['size']} is not used: {operation} decides the output size")
    ignored = options.ignored(body)
    if ignored:
        notes.append(ignored)
    return notes


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
    image = images[0].data
    stability_mask = _mask(generator, image, mask_part.data if mask_part else None)
    operation = _operation(generator, stability_mask is not None)
    files = {f"{FORM_PREFIX}image": image}
    ours: dict[str, Any] = {
        "operation": operation,
        "image": {"key": f"{FORM_PREFIX}image"},
        "prompt": body.get("prompt"),
        "output_format": body.get("output_format"),
    }
    if stability_mask is not None:
        files[f"{FORM_PREFIX}mask"] = stability_mask
        ours["mask"] = {"key": f"{FORM_PREFIX}mask"}
    else:
        ours["strength"] = IMAGE_TO_IMAGE_STRENGTH
    source = InputSource((FORM_PREFIX,), lambda key, _limit: files.get(key))
    request = generator.editing({k: v for k, v in ours.items() if v is not None}, source)
    notes = _notes(body, operation, generator, stability_mask is not None and mask_part is None)
    return dataclasses.replace(
        request,
        number_of_images=options.count(
            body, generator.settings.max_images, f" for operation {operation}"
        ),
        notes=(*request.notes, *notes),
    ), shaped
