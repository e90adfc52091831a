"""OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``, where ``type``
follows the HTTP status (its SDKs pick the exception class by status and show the type). One
table for the Lambda's answers and API Gateway's own (``api_gateway``), so the two cannot
disagree; standard library only, as both import it."""

from __future__ import annotations

from typing import Any

TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return TYPES.get(status, "invalid_request_error")


def openai_error(body: dict[str, Any], status: int) -> dict[str, Any]:
    """The service's ``{"error": {"code", "message", "field"?}}`` in OpenAI's shape; ``param``
    is the field, and members an error adds (``images``) stay."""
    error = dict(body["error"])
    param = error.pop("field", None)
    return {
        "error": {
            "message": error.pop("message"),
            "type": error_type(status),
            "param": param,
            "code": error.pop("code"),
            **error,
        }
    }
