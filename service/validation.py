"""Turn a request body into a fully resolved ``ImageRequest``, or a 400 naming the field and limit.

Everything is checked against the model's catalogue limits before Bedrock is called, because a
call that Bedrock rejects still costs latency and a rejected field is easier to fix when named.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from service.catalogue import Catalogue, ModelSpec, Range, SizeRule
from service.config import Settings
from service.errors import InvalidField, ModelRetired
from service.fields import choice, integer, number, text
from service.request import ImageRequest

FIELDS = (
    "prompt",
    "negative_prompt",
    "model",
    "width",
    "height",
    "aspect_ratio",
    "seed",
    "cfg_scale",
    "steps",
    "style_preset",
    "number_of_images",
    "output_format",
)
# Two positive integers without leading zeros; openapi.yaml carries the same pattern.
ASPECT_RATIO = re.compile(r"[1-9][0-9]{0,3}:[1-9][0-9]{0,3}")
_MAX_REQUEST_SIDE = 8192


def _number(body: dict, name: str, model: ModelSpec, limit: Range | None) -> float | None:
    if limit is None:
        if body.get(name) is not None:
            raise InvalidField(f"'{name}' is not supported by model {model.alias}", field=name)
        return None
    return number(body, name, limit.min, limit.max, f" for model {model.alias}")


def _choice(body: dict, name: str, choices: tuple[str, ...], model: ModelSpec) -> str | None:
    if not choices and isinstance(body.get(name), str):
        raise InvalidField(f"'{name}' is not supported by model {model.alias}", field=name)
    return choice(body, name, choices, f" for model {model.alias}")


def resolve_model(
    body: dict, settings: Settings, catalogue: Catalogue, today: date
) -> tuple[ModelSpec, str]:
    name = body.get("model")
    if name is None:  # like every optional field, null means "not given"
        name = settings.default_model
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("'model' must be a non-empty string", field="model")
    name = name.strip()
    model = catalogue.find(name)
    if model is None or not settings.is_allowed(name, catalogue):
        allowed = [m.alias for m in catalogue.models if settings.usable(m, catalogue, today)]
        raise InvalidField(
            f"'model' {name!r} is not available here; choose one of {', '.join(allowed)}",
            field="model",
        )
    if model.is_retired(today) and not settings.retired_enabled(name, catalogue):
        raise ModelRetired(
            f"model {model.alias} ({model.id}) reached end of life on Bedrock on "
            f"{model.end_of_life}; use {model.replacement} instead",
            field="model",
        )
    invoke_id = name if name in model.inference_profiles else model.id
    return model, invoke_id


def fit_size(model: ModelSpec, width: int, height: int) -> tuple[dict[str, Any], str | None]:
    """The size fields ``parse_request`` takes for the valid size nearest ``width`` x
    ``height``, and a note when it differs: for clients that ask for any pixel size (OpenAI's
    ``size``) instead of the model's own terms."""
    rule = model.limits.size
    if rule.mode == "aspect_ratio":
        ratio = _nearest_ratio(rule, width, height)
        fitted = rule.aspect_ratios[ratio]
        fields: dict[str, Any] = {"aspect_ratio": ratio}
    elif rule.mode == "fixed":
        fitted = _nearest_offered(rule, width, height)
        fields = {"width": fitted[0], "height": fitted[1]}
    else:
        fitted = _nearest_in_range(rule, width, height)
        fields = {"width": fitted[0], "height": fitted[1]}
    if fitted == (width, height):
        return fields, None
    how = f"aspect ratio {fields['aspect_ratio']}, " if "aspect_ratio" in fields else ""
    return fields, (
        f"size {width}x{height} mapped to {how}{fitted[0]}x{fitted[1]}, the nearest size model"
        f" {model.alias} makes"
    )


def _ratio_name(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def _nearest_ratio(rule: SizeRule, width: int, height: int) -> str:
    target = math.log(width / height)
    return min(rule.aspect_ratios, key=lambda r: abs(math.log(_ratio_name(r)) - target))


def _nearest_fixed(rule: SizeRule, ratio: float) -> tuple[int, int]:
    return min(rule.sizes, key=lambda s: (abs(math.log(s[0] / s[1] / ratio)), -s[0] * s[1]))


def _nearest_offered(rule: SizeRule, width: int, height: int) -> tuple[int, int]:
    """The offered size of the nearest aspect ratio, then the nearest pixel count."""
    ratio, pixels = math.log(width / height), math.log(width * height)
    return min(
        rule.sizes,
        key=lambda s: (
            round(abs(math.log(s[0] / s[1]) - ratio), 6),
            abs(math.log(s[0] * s[1]) - pixels),
        ),
    )


def _nearest_in_range(rule: SizeRule, width: int, height: int) -> tuple[int, int]:
    """Keep the aspect ratio within the model's bounds, scale into its side and pixel limits,
    round each side to the model's multiple, then shrink the longer side while rounding left
    the ratio or the pixel count a step outside."""
    ratio = min(max(width / height, rule.min_ratio), rule.max_ratio)
    pixels = min(max(width * height, rule.min_side**2), rule.max_pixels)
    w, h = math.sqrt(pixels * ratio), math.sqrt(pixels / ratio)
    scale = max(min(1.0, rule.max_side / max(w, h)), rule.min_side / min(w, h))
    step = rule.multiple_of

    def side(value: float) -> int:
        return min(max(int(value * scale) // step * step, rule.min_side), rule.max_side)

    w, h = side(w), side(h)
    while not (rule.min_ratio <= w / h <= rule.max_ratio and w * h <= rule.max_pixels):
        if w >= h:
            w -= step
        else:
            h -= step
    return w, h


def _check_range(rule: SizeRule, model: ModelSpec, width: int, height: int) -> None:
    for name, side in (("width", width), ("height", height)):
        if not rule.min_side <= side <= rule.max_side or side % rule.multiple_of:
            raise InvalidField(
                f"'{name}' must be between {rule.min_side} and {rule.max_side} and a multiple of"
                f" {rule.multiple_of} for model {model.alias}",
                field=name,
            )
    if width * height > rule.max_pixels:
        raise InvalidField(
            f"'width' x 'height' is {width * height} pixels; model {model.alias} allows at most"
            f" {rule.max_pixels}",
            field="width",
        )
    if not rule.min_ratio <= width / height <= rule.max_ratio:
        raise InvalidField(
            f"'width'/'height' ratio must be between {rule.min_ratio:g} and {rule.max_ratio:g}",
            field="width",
        )


def _size_from_ratio_in_range(rule: SizeRule, ratio: float) -> tuple[int, int]:
    pixels = rule.default_size[0] * rule.default_size[1]
    step = rule.multiple_of
    width = round(math.sqrt(pixels * ratio) / step) * step
    height = round(math.sqrt(pixels / ratio) / step) * step
    return width, height


def _resolve_size(body: dict, model: ModelSpec) -> tuple[int, int, str | None, tuple[str, ...]]:
    """Return (width, height, aspect_ratio, notes) the model will be asked for."""
    rule = model.limits.size
    width = integer(body, "width", 1, _MAX_REQUEST_SIDE)
    height = integer(body, "height", 1, _MAX_REQUEST_SIDE)
    ratio = body.get("aspect_ratio")
    if (width is None) != (height is None):
        missing = "height" if height is None else "width"
        raise InvalidField(
            f"'width' and 'height' go together; '{missing}' is missing", field=missing
        )
    if ratio is not None and width is not None:
        raise InvalidField(
            "give either 'aspect_ratio' or 'width'+'height', not both", field="aspect_ratio"
        )
    if ratio is not None:
        if not isinstance(ratio, str) or not ASPECT_RATIO.fullmatch(ratio):
            raise InvalidField(
                "'aspect_ratio' must be two positive integers like '16:9'", field="aspect_ratio"
            )
        ratio_value = _ratio_name(ratio)
        if rule.mode == "aspect_ratio":
            if ratio not in rule.aspect_ratios:
                raise InvalidField(
                    f"'aspect_ratio' must be one of {', '.join(rule.aspect_ratios)}"
                    f" for model {model.alias}",
                    field="aspect_ratio",
                )
            w, h = rule.aspect_ratios[ratio]
            return w, h, ratio, ()
        if rule.mode == "fixed":
            w, h = _nearest_fixed(rule, ratio_value)
        else:
            w, h = _size_from_ratio_in_range(rule, ratio_value)
            _check_range(rule, model, w, h)
        note = f"aspect_ratio {ratio} mapped to {w}x{h} (model {model.alias} takes pixel sizes)"
        return w, h, None, (note,)
    if width is None or height is None:
        if rule.mode == "aspect_ratio":
            ratio = rule.default_aspect_ratio
            w, h = rule.aspect_ratios[ratio]
            return w, h, ratio, ()
        return rule.default_size[0], rule.default_size[1], None, ()
    if rule.mode == "aspect_ratio":
        ratio = _nearest_ratio(rule, width, height)
        w, h = rule.aspect_ratios[ratio]
        note = (
            f"width/height {width}x{height} mapped to aspect_ratio {ratio} "
            f"(model {model.alias} takes an aspect ratio, not pixel sizes)"
        )
        return w, h, ratio, (note,)
    if rule.mode == "fixed":
        if (width, height) not in rule.sizes:
            sizes = ", ".join(f"{w}x{h}" for w, h in rule.sizes)
            raise InvalidField(
                f"'width'x'height' {width}x{height} is not offered by model {model.alias};"
                f" choose one of {sizes}",
                field="width",
            )
        return width, height, None, ()
    _check_range(rule, model, width, height)
    return width, height, None, ()


def parse_request(body: Any, settings: Settings, catalogue: Catalogue, today: date) -> ImageRequest:
    """Validate a decoded JSON body for ``POST /images``."""
    if not isinstance(body, dict):
        raise InvalidField('the body must be a JSON object like {"prompt": "..."}', field="body")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidField(
            f"unknown field '{unknown[0]}'; accepted fields: {', '.join(FIELDS)}", field=unknown[0]
        )
    model, invoke_id = resolve_model(body, settings, catalogue, today)
    limits = model.limits
    prompt = text(body, "prompt", limits.prompt_max_length, required=True)
    negative = text(body, "negative_prompt", limits.negative_prompt_max_length, required=False)
    width, height, ratio, notes = _resolve_size(body, model)
    max_images = min(limits.max_images, settings.max_images)
    count = integer(body, "number_of_images", 1, max_images)
    steps = _number(body, "steps", model, limits.steps)
    if steps is not None and not isinstance(steps, int):
        raise InvalidField("'steps' must be an integer", field="steps")
    output_format = body.get("output_format", limits.output_formats[0])
    return ImageRequest(
        prompt=prompt or "",
        negative_prompt=negative,
        model=model,
        invoke_id=invoke_id,
        width=width,
        height=height,
        aspect_ratio=ratio,
        seed=integer(body, "seed", 0, limits.seed_max),
        cfg_scale=_number(body, "cfg_scale", model, limits.cfg_scale),
        steps=steps,
        style_preset=_choice(body, "style_preset", limits.style_presets, model),
        number_of_images=count or 1,
        output_format=_choice(
            {"output_format": output_format}, "output_format", limits.output_formats, model
        )
        or "png",
        notes=notes,
    )
