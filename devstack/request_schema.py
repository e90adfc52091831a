"""Request-body validation as API Gateway's validator does it: JSON Schema draft 4 [1].

The schema comes from the deployed document (``$ref`` into its ``components``). An integer too
long for Python to print (a 5,000-digit seed) counts as infinitely large, so every bound refuses
it as API Gateway's exact comparison does, instead of the parser failing.

[1] https://docs.aws.amazon.com/apigateway/latest/developerguide/models-mappings-models.html
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft4Validator

_MAX_DIGITS = 4000  # below Python's int-string conversion limit


def _integer(text: str) -> int | float:
    if len(text.lstrip("-")) <= _MAX_DIGITS:
        return int(text)
    return float("-inf") if text.startswith("-") else float("inf")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def validation_errors(schema: dict, document: dict, body: bytes) -> list[str]:
    """What is wrong with ``body`` under ``schema`` (empty when it is valid)."""
    try:
        instance = json.loads(body, parse_int=_integer, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        return [f"the body is not JSON ({exc})"]
    resolvable = {**schema, "components": document.get("components", {})}
    validator = Draft4Validator(resolvable)
    return [error.message for error in validator.iter_errors(instance)]
