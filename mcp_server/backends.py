"""Where generation and editing happen: in-process (``service``), a deployed REST API, or a
local stack.

Both backends take the REST request body and return the REST answer, so the MCP layer has one
code path and the service's validation stays the single source of truth. Where the backend runs
asynchronous jobs (an API with them, or a service with a jobs queue: the local stack's, or a
deployment's) the work starts as a job, which the caller polls to the same answer. Only a local file
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


GENERATE, EDIT = "generate", "edit"  # the kinds of work (service.jobs.KINDS)


class Backend(Protocol):
    def start(self, kind: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Start generating (``kind`` GENERATE, the body of ``POST /images``) or editing (EDIT,
        ``POST /images/edits``): a job (``{"job_id", "status", ...}`` as the 202 has it) where
        the backend runs jobs, else the finished answer."""
        ...

    def job(self, job_id: str, timeout: float) -> dict[str, Any]:
        """The job as ``GET /jobs/{id}`` answers it."""
        ...

    def file_input(self, path: Path, timeout: float) -> dict[str, str]: ...

    def models(self) -> dict[str, Any]: ...

    def image_url(self, key: str) -> str: ...


# The API's answers to a missing or wrong key (API Gateway's, through the key authorizer).
KEY_REFUSALS = frozenset({"unauthorized", "invalid_api_key"})


def _explain(code: str, message: str, field: str | None) -> BackendError:
    where = f" (field '{field}')" if field else ""
    hint = ""
    if code in KEY_REFUSALS:  # the assistant cannot fix it; its user sets the server's key
        hint = f"; start the MCP server with --api-key or {client.API_KEY_VARIABLE}"
    return BackendError(f"{code}: {message}{where}{hint}")


def _job_error(code: str, message: str, field: str | None) -> BackendError:
    """A refused job id, named as the tool's argument (``job_id``), not the route's ``{id}``."""
    if field == "id":
        return _explain(code, message.replace("'id'", "'job_id'"), "job_id")
    return _explain(code, message, field)


def job_failure(error: dict[str, Any]) -> BackendError:
    """A failed job's ``error`` (the body the synchronous route would have answered), worded as
    that route's refusal."""
    return _explain(error["code"], error["message"], error.get("field"))


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

    def start(self, kind: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A job when the service has a jobs queue (its worker runs the job: the local stack's
        thread, or a deployment's function), else the work done within ``timeout``."""
        from service import job_api  # the service's AWS SDK, as the generator itself

        service = self._generator()
        try:
            if service.queue is not None:
                return job_api.submit(service, kind, body, base_url="")
            run = service.edit if kind == EDIT else service.generate
            return run(body, time.monotonic() + timeout)
        except ImageGenError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def job(self, job_id: str, timeout: float) -> dict[str, Any]:
        from service import job_api

        try:
            return job_api.status(self._generator(), job_id)
        except ImageGenError as exc:
            raise _job_error(exc.code, exc.message, exc.field) from exc

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

    def start(self, kind: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Asks for a job with ``Prefer: respond-async``: an API without jobs (jobs off, or
        older) answers synchronously instead."""
        submit = client.submit_edit if kind == EDIT else client.submit_images
        try:
            return submit(self.api_url, body, self.api_key, timeout, sync_fallback=True)
        except client.ApiError as exc:
            raise _explain(exc.code, exc.message, exc.field) from exc

    def job(self, job_id: str, timeout: float) -> dict[str, Any]:
        try:
            return client.get_job(self.api_url, job_id, self.api_key, timeout)
        except client.ApiError as exc:
            raise _job_error(exc.code, exc.message, exc.field) from exc

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
