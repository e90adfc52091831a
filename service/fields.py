"""Checks for single body fields, shared by every request type: each names the field and the
limit it breaks, so a 400 says exactly what to fix."""

from __future__ import annotations

import math
import unicodedata

from service.errors import InvalidField

_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
# Letters and symbols by category that render as nothing (Hangul fillers, braille blank).
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(ch: str) -> bool:
    """A letter, digit, punctuation or symbol that draws something."""
    return unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_LOOKALIKES


def text(body: dict, name: str, max_length: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidField(f"'{name}' is required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidField(f"'{name}' must be a string", field=name)
    value = value.strip()
    if not value:
        if required:
            raise InvalidField(f"'{name}' must not be empty", field=name)
        return None
    if len(value) > max_length:
        raise InvalidField(
            f"'{name}' is {len(value)} characters; this model accepts at most {max_length}",
            field=name,
        )
    for ch in value:
        if ch in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            raise InvalidField(
                f"'{name}' contains a control character (U+{ord(ch):04X})", field=name
            )
        if category == "Cs":
            raise InvalidField(f"'{name}' contains an unpaired surrogate", field=name)
    if not any(_visible(ch) for ch in value):
        # Only format characters (U+200B, U+FEFF), marks or blank fillers: nothing a model can
        # draw. Like a blank one, an optional field of them counts as not given.
        if not required:
            return None
        raise InvalidField(f"'{name}' must contain at least one visible character", field=name)
    return value


def integer(body: dict, name: str, low: int, high: int, scope: str = "") -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(f"'{name}' must be an integer", field=name)
    if not low <= value <= high:
        raise InvalidField(f"'{name}' must be between {low} and {high}{scope}", field=name)
    return value


def number(body: dict, name: str, low: float, high: float, scope: str = "") -> float | None:
    """A finite number within [low, high]; ``scope`` ends the range message (e.g. the model)."""
    value = body.get(name)
    if value is None:
        return None
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if isinstance(value, bool) or not finite:  # math.isfinite overflows on huge ints
        raise InvalidField(f"'{name}' must be a number", field=name)
    if not low <= value <= high:
        raise InvalidField(f"'{name}' must be between {low:g} and {high:g}{scope}", field=name)
    return value


def choice(body: dict, name: str, choices: tuple[str, ...], scope: str = "") -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(f"'{name}' must be a string", field=name)
    if value not in choices:
        expected = f"one of {', '.join(choices)}" if len(choices) > 1 else choices[0]
        raise InvalidField(f"'{name}' must be {expected}{scope}", field=name)
    return value
