"""Where generation and editing happen: in-process (``service``), a deployed REST API, or a
local stack.

Both backends take the REST request body and return the REST answer, so the MCP layer has one
code path and the service's validation stays the single source of truth. Only a local file
given as an edit input travels differently: uploaded to a deployed API (whose Lambda takes at
most 6 MB per request), inline in-process (no such limit, and no upload left behind in S3).

Only the in-process backend needs boto3 (the 'service' extra): it is imported when that backend
is built, so the server runs against a deployed API with the 'mcp' extra alone.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import api_client as client
from devstack.options import extra_needed
from service.errors import ImageGenError
from service.inputs import MAX_INPUT_BYTES

if TYPE_CHECKING:
    from service.flow import Generator

SERVICE_INSTALL = 'pip install "imagegen[mcp,service]"'


class BackendError(Exception):
    """A refusal or failure, with a message an assistant can act on."""


class Backend(Protocol):
    def generate(self, body: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    def edit(self, body: dict[str, Any], timeout: float) -> dict[str, Any]: ...

    def file_input(self, path: Path, timeout: float) -> dict[str, str]: ...

    def models(self) -> dict[str, Any]: ...

    def image_url(self, key: str) -> str: ...


def _explain(code: str, message: str, field: str | None) -> BackendError:
    where = f" (field '{field}')" if field else ""
    return BackendError(f"{code}: {message}{where}")


def read_image_file(path: Path) -> bytes:
    """A local input image's bytes, refused in plain words when it is missing, not a regular
    file (a FIFO would block the read), unreadable or larger than Bedrock takes."""
    try:
        if not path.is_file():
            raise BackendError(f"{path} is not a file" if path.exists() else f"no file at {path}")
        with path.open("rb") as file:
            data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise BackendError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise BackendError(f"{path} is over {MAX_INPUT_BYTES} bytes, the most an input may have")
    return data


def environment_generator() -> Callable[[], Generator]:
    """The service's generator built from the process environment (AWS credentials, region,
    bucket), as the Lambda builds it. Raises ``MissingExtra`` naming the 'service' extra when
    boto3 is not installed."""
    with extra_needed("the in-process service (IMAGEGEN_BUCKET)", "service", SERVICE_INSTALL):
        from service.bootstrap import get_generator
    return get_generator


class DirectBackend:
    """Calls ``service`` in-process: by default the generator built from the process environment
    (``environment_generator``), or a local stack's."""

    def __init__(self, generator: Callable[[], Generator] | None = None) -> None:
        self._generator = generator or environment_generator()

    def generate(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return self._generator().generate(body, time.monotonic() + timeout)
        except ImageGenError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def edit(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return self._generator().edit(body, time.monotonic() + timeout)
        except ImageGenError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def file_input(self, path: Path, timeout: float) -> dict[str, str]:
        """Inline: in-process there is no request size limit to avoid (``timeout``: nothing
        to wait for)."""
        return {"data": base64.b64encode(read_image_file(path)).decode("ascii")}

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

    def edit(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return client.post_edit(self.api_url, body, self.api_key, timeout=timeout)
        except client.ApiError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def file_input(self, path: Path, timeout: float) -> dict[str, str]:
        """Uploaded through a presigned POST and named by its key: a request to the API may
        carry at most 6 MB, an upload up to what Bedrock takes."""
        data = read_image_file(path)
        try:
            return {"key": client.upload(self.api_url, data, self.api_key, timeout)["key"]}
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
