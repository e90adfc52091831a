"""Emulated image edits for the Bedrock emulator: each operation's visible effect, labelled.

No editing model runs offline, so each operation does the simplest thing that shows it happened:
upscales are bigger, a mask bounds what changes, outpaint grows the canvas, remove-background
makes the background transparent. New content comes from ``devstack.render.picture`` (prompt and
seed), so the same inputs and seed give the same bytes. Every answer carries the emulated label in
its metadata (PNG text, EXIF Software), and drawn in the part of the image the edit changed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

from devstack.render import LABEL, encode, label, picture

Inputs = Mapping[str, Image.Image]
Params = Mapping[str, Any]
Size = tuple[int, int]
_WHITE = (255, 255, 255)


def output_size(
    rule: Mapping[str, Any], inputs: Inputs, params: Params, render_sizes: Mapping[str, list[int]]
) -> Size:
    """The answer's size by the model's ``output`` rule (``bedrock_models.json``)."""
    if rule["size"] == "aspect_ratio":
        width, height = render_sizes[params["aspect_ratio"]]
        return width, height
    width, height = inputs[rule["field"]].size
    if rule["size"] == "scale":
        return width * rule["factor"], height * rule["factor"]
    if rule["size"] == "grow":
        return width + params["left"] + params["right"], height + params["up"] + params["down"]
    if rule["size"] == "pixels":
        scale = math.sqrt(rule["pixels"] / (width * height))
        return round(width * scale), round(height * scale)
    if rule["size"] == "nearest_render_size":
        ratio = width / height
        nearest = min(render_sizes.values(), key=lambda s: abs(math.log(s[0] / s[1] / ratio)))
        return nearest[0], nearest[1]
    return width, height


def edit(operation: str, inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """Apply ``operation`` to the decoded ``inputs``; ``params`` hold the body's values with
    the documented defaults filled in."""
    return _OPERATIONS[operation](inputs, params, seed, size)


def encode_edit(image: Image.Image, image_format: str) -> bytes:
    """Encode with the label as EXIF Software; a JPEG cannot be transparent, so it is
    flattened onto white."""
    if image_format == "jpeg" and image.mode == "RGBA":
        flat = Image.new("RGB", image.size, _WHITE)
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    exif = Image.Exif()
    exif[ExifTags.Base.Software] = LABEL
    return encode(image, image_format, exif=exif.tobytes())


# ---- operations -----------------------------------------------------------------------------


def _upscale(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    upscaled = inputs["image"].convert("RGB").resize(size, Image.Resampling.LANCZOS)
    label(upscaled, [f"upscaled to {size[0]}x{size[1]}"])
    return upscaled


def _creative_upscale(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """Re-imagines details: the new picture shows through by ``creativity``."""
    upscaled = inputs["image"].convert("RGB").resize(size, Image.Resampling.LANCZOS)
    blended = Image.blend(upscaled, picture(params["prompt"], seed, *size), params["creativity"])
    label(blended, [f"upscaled to {size[0]}x{size[1]}"])
    return blended


def _inpaint(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    base = inputs["image"].convert("RGB")
    mask = _grown(_mask(inputs), params["grow_mask"])
    new = _stamped(picture(params["prompt"], seed, *base.size), mask, "inpaint")
    return Image.composite(new, base, mask)


def _erase(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """Fills the masked area with the blurred surroundings."""
    base = inputs["image"].convert("RGB")
    filler = base.filter(ImageFilter.GaussianBlur(max(base.size) / 16))
    mask = _grown(_mask(inputs), params["grow_mask"])
    return Image.composite(_stamped(filler, mask, "erase"), base, mask)


def _search_replace(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    base = inputs["image"].convert("RGB")
    mask = _grown(_region(params["search_prompt"], base.size), params["grow_mask"])
    new = _stamped(picture(params["prompt"], seed, *base.size), mask, "search-replace")
    return Image.composite(new, base, mask)


def _search_recolor(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    base = inputs["image"].convert("RGB")
    color = tuple(hashlib.sha256(params["prompt"].encode()).digest()[:3])
    recolored = ImageOps.colorize(base.convert("L"), black=(0, 0, 0), white=color)
    mask = _grown(_region(params["select_prompt"], base.size), params["grow_mask"])
    return Image.composite(_stamped(recolored, mask, "search-recolor"), base, mask)


def _remove_background(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """Keeps a centred ellipse (the 'subject'); everything around it becomes transparent."""
    cutout = inputs["image"].convert("RGBA")
    subject = Image.new("L", cutout.size, 0)
    width, height = cutout.size
    ImageDraw.Draw(subject).ellipse(
        (width // 6, height // 10, width - width // 6, height - height // 10), fill=255
    )
    cutout.putalpha(ImageChops.multiply(cutout.getchannel("A"), subject))
    return _stamped(cutout, subject, "remove-background")


def _outpaint(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """The input, untouched, on a grown canvas of new content."""
    canvas = picture(params["prompt"] or "outpaint", seed, *size)
    image = inputs["image"].convert("RGB")
    _stamp(canvas, _largest_strip(params, size), "outpaint")
    canvas.paste(image, (params["left"], params["up"]))
    return canvas


def _control(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """A new picture traced with the input's contours, as dark as ``control_strength``."""
    guide = inputs["image"].convert("L").resize(size).filter(ImageFilter.FIND_EDGES)
    strength = params["control_strength"]
    contours = ImageOps.autocontrast(guide).point(lambda v: round(v * strength))
    return Image.composite(Image.new("RGB", size), picture(params["prompt"], seed, *size), contours)


def _style_guide(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """A new picture tinted with the style image's color by ``fidelity``."""
    tint = Image.new("RGB", size, _mean_color(inputs["image"]))
    return Image.blend(picture(params["prompt"], seed, *size), tint, params["fidelity"] / 2)


def _style_transfer(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """The init image recolored in the style image's color."""
    base = inputs["init_image"].convert("RGB")
    styled = ImageOps.colorize(
        base.convert("L"), black=(0, 0, 0), white=_mean_color(inputs["style_image"])
    )
    result = Image.blend(base, styled, params["style_strength"] * params["change_strength"])
    label(result, ["style-transfer"])
    return result


def _image_to_image(inputs: Inputs, params: Params, seed: int, size: Size) -> Image.Image:
    """The input and a new picture mixed by ``strength``: 0 keeps the input."""
    base = inputs["image"].convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return Image.blend(base, picture(params["prompt"], seed, *size), params["strength"])


_OPERATIONS: dict[str, Callable[[Inputs, Params, int, Size], Image.Image]] = {
    "upscale-fast": _upscale,
    "upscale-conservative": _upscale,
    "upscale-creative": _creative_upscale,
    "inpaint": _inpaint,
    "erase": _erase,
    "outpaint": _outpaint,
    "search-replace": _search_replace,
    "search-recolor": _search_recolor,
    "remove-background": _remove_background,
    "control-sketch": _control,
    "control-structure": _control,
    "style-guide": _style_guide,
    "style-transfer": _style_transfer,
    "image-to-image": _image_to_image,
}


# ---- labels, masks and regions -------------------------------------------------------------


def _stamped(content: Image.Image, mask: Image.Image, operation: str) -> Image.Image:
    """``content`` with the emulated label where ``mask`` lets it through, so an edit that
    changes only part of an image still says it is emulated in the part it changed."""
    box = mask.point(lambda v: 255 if v >= 128 else 0).getbbox()
    if box is not None:  # inset, so the label stays inside a round region too
        left, top, right, bottom = box
        dx, dy = (right - left) * 3 // 20, (bottom - top) * 3 // 20
        _stamp(content, (left + dx, top + dy, right - dx, bottom - dy), operation)
    return content


def _stamp(image: Image.Image, box: tuple[int, int, int, int], operation: str) -> None:
    """ "EMULATED" and the operation, sized to fit ``box``, at its top-left corner."""
    left, top, right, bottom = box
    size = max(8, min(48, (right - left) // 7, (bottom - top) // 3))
    ImageDraw.Draw(image).multiline_text(
        (left + 2, top + 2),
        f"EMULATED\n{operation}",
        fill=_WHITE,
        font=ImageFont.load_default(size=size),
        stroke_width=1,
        stroke_fill=(0, 0, 0),
    )


def _largest_strip(params: Params, size: Size) -> tuple[int, int, int, int]:
    """The widest band outpaint added (left, right, top or bottom), as a box."""
    width, height = size
    strips = {
        (0, 0, params["left"], height): params["left"] * height,
        (width - params["right"], 0, width, height): params["right"] * height,
        (0, 0, width, params["up"]): params["up"] * width,
        (0, height - params["down"], width, height): params["down"] * width,
    }
    return max(strips, key=strips.__getitem__)


def _mask(inputs: Inputs) -> Image.Image:
    """The documented mask: ``mask`` resized to the image, else the image's transparency
    (transparent = edited), else nothing to edit."""
    image = inputs["image"]
    if "mask" in inputs:
        return inputs["mask"].convert("L").resize(image.size)
    if image.has_transparency_data:
        return ImageOps.invert(image.convert("RGBA").getchannel("A"))
    return Image.new("L", image.size, 0)


def _grown(mask: Image.Image, grow: float) -> Image.Image:
    """``mask`` grown by ``grow`` pixels, the band it gains blurred (``grow_mask``); pixels
    farther than that from the mask stay at 0, so they stay unchanged."""
    pixels = round(grow)
    if pixels <= 0:
        return mask
    reach = mask.filter(ImageFilter.BoxBlur(pixels)).point(lambda v: 255 if v else 0)
    soft = reach.filter(ImageFilter.BoxBlur(max(1, pixels // 2)))
    return ImageChops.lighter(mask, ImageChops.multiply(reach, soft))


def _region(text: str, size: Size) -> Image.Image:
    """Where ``text`` is 'found': an ellipse placed by its hash, the same for the same text."""
    digest = hashlib.sha256(text.encode()).digest()
    width, height = size
    rx, ry = width * (15 + digest[0] % 16) // 100, height * (15 + digest[1] % 16) // 100
    cx, cy = width * (35 + digest[2] % 31) // 100, height * (35 + digest[3] % 31) // 100
    region = Image.new("L", size, 0)
    ImageDraw.Draw(region).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    return region


def _mean_color(image: Image.Image) -> tuple[int, int, int]:
    red, green, blue = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return red, green, blue
