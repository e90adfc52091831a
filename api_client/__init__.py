"""A small HTTP client for the imagegen REST API (local stack or a deployed stage)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ApiError(Exception):
    """The API answered with an error body, or could not be reached."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


def stage_url(api: str) -> str:
    """Accept either the stage URL or the full ``.../images`` URL."""
    return api.rstrip("/").removesuffix("/images")


def _call(
    api: str, path: str, api_key: str | None, timeout: float, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(
        stage_url(api) + path, data=data, headers=headers, method="GET" if body is None else "POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            error = json.load(exc).get("error", {})
        except ValueError:
            error = {}
        raise ApiError(
            exc.code,
            error.get("code", "http_error"),
            error.get("message", exc.reason),
            error.get("field"),
        ) from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ApiError(0, "unreachable", f"cannot reach {api}: {exc}") from None


def post_images(
    api: str, body: dict[str, Any], api_key: str | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    return _call(api, "/images", api_key, timeout, body)


def get_models(api: str, api_key: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    return _call(api, "/models", api_key, timeout)


def get_image_url(
    api: str, key: str, api_key: str | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    return _call(api, "/images/url?" + urllib.parse.urlencode({"key": key}), api_key, timeout)


def download(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()
