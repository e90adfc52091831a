"""A small HTTP client for the imagegen REST API (local stack or a deployed stage)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ApiError(Exception):
    """The API answered with an error body, or could not be reached."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def images_url(api: str) -> str:
    """Accept either the stage URL or the full ``.../images`` URL."""
    api = api.rstrip("/")
    return api if api.endswith("/images") else f"{api}/images"


def post_images(
    api: str, body: dict[str, Any], api_key: str | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    request = urllib.request.Request(
        images_url(api), data=json.dumps(body).encode(), headers=headers, method="POST"
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
            exc.code, error.get("code", "http_error"), error.get("message", exc.reason)
        ) from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise ApiError(0, "unreachable", f"cannot reach {api}: {exc}") from None


def download(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()
