"""OpenAI request fields that both routes share: ``n``, ``size``, ``response_format`` and the
ones accepted for compatibility but not mapped (Bedrock has no equivalent), each checked by the
values OpenAI documents so a typo is still a 400 naming the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from service import fields
from service.errors import InvalidField

RESPONSE_FORMATS = ("b64_json", "url")
SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")
MAX_SIDE = 8192
# Accepted so clients that send them work; Bedrock's image models have no such setting.
IGNORED_CHOICES = {
    "quality": ("auto", "low", "medium", "high", "standard", "hd"),
    "style": ("vivid", "natural"),
    "moderation": ("auto", "low"),
    "input_fidelity": ("low", "high"),
}
USER_MAX_LENGTH = 256


@dataclass(frozen=True)
class Options:
    """How the answer is shaped: ``url`` (our presigned URL) or ``b64_json`` (the default, as
    Open WebUI and gpt-image clients expect)."""

    response_format: str


def options(body: dict[str, Any]) -> Options:
    return Options(fields.choice(body, "response_format", RESPONSE_FORMATS) or "b64_json")


def size(body: dict[str, Any]) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` as asked, or None for ``auto`` / not given (the model's default)."""
    value = body.get("size")
    if value is None or value == "auto":
        return None
    match = SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None or max(int(match[1]), int(match[2])) > MAX_SIDE:
        raise InvalidField(
            f"'size' must be 'auto' or WIDTHxHEIGHT like '1024x1024' (each side 1 to {MAX_SIDE})",
            field="size",
        )
    return int(match[1]), int(match[2])


def count(body: dict[str, Any], most: int, scope: str) -> int:
    return fields.integer(body, "n", 1, most, scope) or 1


def check_ignored(body: dict[str, Any]) -> None:
    """Fields with no Bedrock equivalent: valid values are accepted and have no effect, except
    the ones that would promise what the models cannot do."""
    for name, values in IGNORED_CHOICES.items():
        fields.choice(body, name, values)
    fields.text(body, "user", USER_MAX_LENGTH, required=False)
    fields.integer(body, "output_compression", 0, 100)
    if fields.choice(body, "background", ("auto", "opaque", "transparent")) == "transparent":
        raise InvalidField(
            "'background' 'transparent' is not something Bedrock's image models make; use"
            " 'auto', or remove the background afterwards (POST /images/edits, operation"
            " remove-background)",
            field="background",
        )
    if body.get("stream") not in (None, False):
        raise InvalidField("'stream' is not supported; omit it or send false", field="stream")
    if body.get("partial_images") not in (None, 0):
        raise InvalidField(
            "'partial_images' must be 0 or left out: streaming is not supported",
            field="partial_images",
        )


def ignored(body: dict[str, Any]) -> str | None:
    """A note naming the fields given that have no effect, so the answer says so too."""
    given = [
        name for name in (*IGNORED_CHOICES, "output_compression") if body.get(name) is not None
    ]
    if not given:
        return None
    return f"{', '.join(given)} accepted for compatibility; Bedrock's models have no such setting"


COMMON_FIELDS = (
    "model",
    "prompt",
    "n",
    "size",
    "response_format",
    "output_format",
    "background",
    "output_compression",
    "stream",
    "partial_images",
    "user",
    *IGNORED_CHOICES,
)


def check_known(body: dict[str, Any], accepted: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise InvalidField(
            f"unknown field '{unknown[0]}'; accepted fields: {', '.join(accepted)}",
            field=unknown[0],
        )
