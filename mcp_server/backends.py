"""Where generation happens: in-process (``service``), a deployed REST API, or a local stack.

Both backends take the REST request body and return the REST answer, so the MCP layer has one
code path and the service's validation stays the single source of truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import api_client as client
from service.bootstrap import get_generator
from service.errors import ImageGenError
from service.flow import Generator


class BackendError(Exception):
    """A refusal or failure, with a message an assistant can act on."""


class Backend(Protocol):
    def generate(self, body: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    def models(self) -> dict[str, Any]: ...

    def image_url(self, key: str) -> str: ...


def _explain(code: str, message: str, field: str | None) -> BackendError:
    where = f" (field '{field}')" if field else ""
    return BackendError(f"{code}: {message}{where}")


class DirectBackend:
    """Calls ``service`` in-process: by default the generator built from the process environment
    (AWS credentials, region, bucket), or a local stack's."""

    def __init__(self, generator: Callable[[], Generator] = get_generator) -> None:
        self._generator = generator

    def generate(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return self._generator().generate(body, time.monotonic() + timeout)
        except ImageGenError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def models(self) -> dict[str, Any]:
        return self._generator().models(datetime.now(UTC).date())

    def image_url(self, key: str) -> str:
        try:
            return self._generator().fresh_url(key)["url"]
        except ImageGenError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc


class RemoteBackend:
    """Calls a deployed REST API, so an assistant needs no AWS credentials. ``timeout`` (the
    server's ``--timeout``) bounds the calls that take none."""

    def __init__(self, api_url: str, api_key: str | None, timeout: float) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.timeout = timeout

    def generate(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return client.post_images(self.api_url, body, self.api_key, timeout=timeout)
        except client.ApiError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def models(self) -> dict[str, Any]:
        try:
            return client.get_models(self.api_url, self.api_key, self.timeout)
        except client.ApiError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def image_url(self, key: str) -> str:
        try:
            return client.get_image_url(self.api_url, key, self.api_key, self.timeout)["url"]
        except client.ApiError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc
