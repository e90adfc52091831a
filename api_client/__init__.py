"""A small HTTP client for the imagegen REST API (local stack or a deployed stage).

Every failure, from a typo in the URL to an answer that is not the API's, is an ``ApiError`` with
a one-line message, so the CLI and the MCP server can report it without a traceback.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.client import HTTPException
from typing import Any
from xml.etree import ElementTree

WEB_SCHEMES = ("http", "https")
API_URL_VARIABLE = "IMAGEGEN_API_URL"
API_KEY_VARIABLE = "IMAGEGEN_API_KEY"
# The keys openapi.yaml promises and the CLI and MCP server read.
IMAGES_ANSWER = ("image_url", "images", "model", "model_id", "expires_at", "cost")
COST = ("estimated_usd", "per_image_usd")
IMAGE = ("url", "key", "width", "height", "seed", "content_type", "bytes")
IMAGE_TYPES = {"url": str, "key": str, "content_type": str, "width": int, "height": int}
URL_ANSWER = ("url", "key", "expires_at")
UPLOAD_ANSWER = ("url", "fields", "key", "max_bytes", "expires_at")
CONTENT_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8": "image/jpeg"}
MODELS_ANSWER = ("default_model", "models")
MODEL = ("alias", "id", "family", "status", "usable", "limits")
OPERATION = ("operation", "usable", "fields", "inputs")
# Asynchronous jobs: the 202 of POST /images and /images/edits, and GET /jobs/{id}.
JOB_ACCEPTED = ("job_id", "status", "status_url")
JOB = ("job_id", "status", "created_at", "updated_at")
JOB_ERROR = ("code", "message")
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
ENDED = ("succeeded", "failed")


class ApiError(Exception):
    """The API answered with an error body or something that is not its answer, a URL is not
    one we fetch, or the API could not be reached (``status`` 0 when there was no answer)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


class UploadError(ApiError):
    """S3 refused an upload or could not be reached: the API key never goes there, so it is not
    what to check."""


def require_web_url(url: str, what: str, code: str = "invalid_url") -> str:
    """Refuse anything but an absolute http(s) URL: urllib would also read ``file:`` URLs, and
    a bracket or port out of range would only fail later, as a ValueError or "unreachable"."""
    try:
        parts = urllib.parse.urlsplit(url if isinstance(url, str) else "")
        host, _ = parts.hostname, parts.port  # parsed on access: a bad port raises here
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        raise ApiError(0, code, f"the {what} {url!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        raise ApiError(0, code, f"the {what} {url!r} is not an http or https URL")
    return url


class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib follows redirects to ``ftp:`` too; only http(s) targets are followed here."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        require_web_url(newurl, "redirect target", "unsafe_url")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """API Gateway never redirects an API call; following one would hand the API key (and the
    prompt) to whatever host the redirect names."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        raise ApiError(
            code,
            "unexpected_answer",
            f"the API redirected to {newurl!r}; an imagegen API never"
            " redirects, so the request was not repeated there",
        )


_OPENER = urllib.request.build_opener(_WebOnlyRedirects)  # image downloads
_API_OPENER = urllib.request.build_opener(_NoRedirects)  # API calls: they carry the key


def stage_url(api: str, what: str = "API URL") -> str:
    """Accept either the stage URL or the full ``.../images`` URL."""
    return require_web_url(api, what).rstrip("/").removesuffix("/images")


def configured_api(option: str | None) -> str | None:
    """The stage URL from ``--api`` (``option``), else ``$IMAGEGEN_API_URL``, else None; checked
    here so a typo fails at start, and the error says where the URL came from."""
    if option:
        return stage_url(option)
    from_environment = os.environ.get(API_URL_VARIABLE)
    if not from_environment:
        return None
    return stage_url(from_environment, f"API URL from {API_URL_VARIABLE}")


def _error_of(exc: urllib.error.HTTPError) -> ApiError:
    """The API's ``{"error": {...}}`` body, or the HTTP reason when a proxy answered (HTML)."""
    try:
        body = json.load(exc)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    return ApiError(
        exc.code,
        error.get("code", "http_error"),
        error.get("message", exc.reason),
        error.get("field"),
    )


def _call(
    api: str, path: str, api_key: str | None, timeout: float, body: dict[str, Any] | None = None
) -> Any:
    return _request(api, path, api_key, timeout, body)[1]


def _request(
    api: str,
    path: str,
    api_key: str | None,
    timeout: float,
    body: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The HTTP status and the parsed JSON answer of one API call."""
    headers = {"Accept": "application/json", **(extra_headers or {})}
    if api_key:
        headers["x-api-key"] = api_key
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    url = stage_url(api) + path
    request = urllib.request.Request(
        url, data=data, headers=headers, method="GET" if body is None else "POST"
    )
    try:
        with _API_OPENER.open(request, timeout=timeout) as response:
            raw, status = response.read(), response.status
            content_type = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        raise _error_of(exc) from None
    except (OSError, HTTPException) as exc:  # URLError, refused, reset, timeout
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):  # a slow API is up: "unreachable" would mislead
            raise ApiError(
                0, "timeout", f"no answer from {api} within {timeout:g} s (--timeout)"
            ) from None
        raise ApiError(0, "unreachable", f"cannot reach {api}: {reason}") from None
    try:
        return status, json.loads(raw)
    except ValueError:
        raise ApiError(
            status,
            "unexpected_answer",
            f"{url} answered {content_type}, not JSON: is {api} the imagegen API?",
        ) from None


def _expect(value: Any, keys: tuple[str, ...], what: str, api: str) -> Any:
    """``value`` if it is a JSON object with ``keys``; a proxy or another service answers
    something else, and a KeyError deep in the caller would be no help."""
    if not isinstance(value, dict) or any(key not in value for key in keys):
        shape = f"a JSON object with {', '.join(keys)}" if keys else "a JSON object"
        raise ApiError(0, "unexpected_answer", f"{what} from {api} is not {shape}")
    return value


def _expect_list(answer: dict[str, Any], name: str, keys: tuple[str, ...], api: str) -> None:
    items = answer[name]
    if not isinstance(items, list) or not items:
        raise ApiError(0, "unexpected_answer", f"'{name}' from {api} is not a non-empty list")
    for item in items:
        _expect(item, keys, f"an entry of '{name}'", api)


def _expect_images(answer: dict[str, Any], api: str) -> None:
    """Images are saved under their key's name and fetched by URL: both must be what they say."""
    _expect_list(answer, "images", IMAGE, api)
    for image in answer["images"]:
        wrong = [k for k, kind in IMAGE_TYPES.items() if not isinstance(image[k], kind)]
        if wrong or isinstance(image["width"], bool) or not image["key"].rsplit("/", 1)[-1]:
            raise ApiError(0, "unexpected_answer", f"an image from {api} has a malformed {wrong}")


def _images_answer(
    answer: Any, api: str, keys: tuple[str, ...] = IMAGES_ANSWER, what: str = "the answer"
) -> dict[str, Any]:
    """``answer`` if it is an images answer (``POST /images``, or with ``operation`` in
    ``keys`` ``POST /images/edits``) whose images can be saved and fetched."""
    _expect(answer, keys, what, api)
    _expect(answer["cost"], COST, "'cost'", api)
    _expect_images(answer, api)
    return answer


EDIT_ANSWER = (*IMAGES_ANSWER, "operation")
PATHS = {"/images": IMAGES_ANSWER, "/images/edits": EDIT_ANSWER}


def post_images(
    api: str, body: dict[str, Any], api_key: str | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    return _images_answer(_call(api, "/images", api_key, timeout, body), api)


def post_edit(
    api: str, body: dict[str, Any], api_key: str | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    return _images_answer(_call(api, "/images/edits", api_key, timeout, body), api, EDIT_ANSWER)


def _submit(
    api: str,
    path: str,
    body: dict[str, Any],
    api_key: str | None,
    timeout: float,
    sync_fallback: bool,
) -> dict[str, Any]:
    if sync_fallback:  # a preference (RFC 7240): an API without jobs answers synchronously
        status, answer = _request(api, path, api_key, timeout, body, {"Prefer": "respond-async"})
        if status != 202:
            return _images_answer(answer, api, PATHS[path])
    else:  # asked for: an API without jobs refuses it (400 naming 'async')
        _, answer = _request(api, path, api_key, timeout, {**body, "async": True})
    accepted = _expect(answer, JOB_ACCEPTED, "the answer", api)
    if not isinstance(accepted["job_id"], str) or not accepted["job_id"]:
        raise ApiError(0, "unexpected_answer", f"the job id from {api} is not a string")
    return accepted


def submit_images(
    api: str,
    body: dict[str, Any],
    api_key: str | None = None,
    timeout: float = 60.0,
    *,
    sync_fallback: bool = False,
) -> dict[str, Any]:
    """Start a generation as a job: the 202's ``{"job_id", "status", "status_url", ...}``
    (``"async": true``, so an API without jobs refuses with 400 naming ``async``). With
    ``sync_fallback`` the job is asked for with ``Prefer: respond-async`` instead, which an API
    without jobs answers synchronously: that answer (``post_images``'s) is returned then, so
    check for ``job_id``."""
    return _submit(api, "/images", body, api_key, timeout, sync_fallback)


def submit_edit(
    api: str,
    body: dict[str, Any],
    api_key: str | None = None,
    timeout: float = 60.0,
    *,
    sync_fallback: bool = False,
) -> dict[str, Any]:
    """``submit_images`` for ``POST /images/edits`` (the synchronous answer is
    ``post_edit``'s)."""
    return _submit(api, "/images/edits", body, api_key, timeout, sync_fallback)


def status_url_parts(url: str) -> tuple[str, str]:
    """A status URL (``<stage URL>/jobs/<id>``) as (stage URL, job id)."""
    require_web_url(url, "status URL")
    stage, sep, job_id = url.partition("?")[0].rstrip("/").rpartition("/jobs/")
    if not sep or not stage or not job_id or "/" in job_id:
        raise ApiError(0, "invalid_url", f"the status URL {url!r} is not <API URL>/jobs/<job id>")
    return stage_url(stage, "status URL"), urllib.parse.unquote(job_id)


def is_url(text: str) -> bool:
    return "://" in text


def get_job(
    api: str, job: str, api_key: str | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """``GET /jobs/{id}`` for a job id or its status URL, checked: a known status, a
    ``result`` that is an images answer when it succeeded, an ``error`` when it failed. A status
    URL must be ``api``'s (the API key goes with the request)."""
    job_id = job
    if is_url(job):
        stage, job_id = status_url_parts(job)
        if stage != stage_url(api):
            raise ApiError(
                0,
                "invalid_url",
                f"the status URL {job!r} is not of the API {api}; the API key goes only there",
            )
    path = "/jobs/" + urllib.parse.quote(job_id, safe="")
    answer = _expect(_call(api, path, api_key, timeout), JOB, "the answer", api)
    if answer["status"] not in JOB_STATUSES:
        raise ApiError(
            0,
            "unexpected_answer",
            f"the job's status {answer['status']!r} from {api} is not one of"
            f" {', '.join(JOB_STATUSES)}",
        )
    if answer["status"] == "succeeded":
        _images_answer(answer.get("result"), api, what="the job's 'result'")
    if answer["status"] == "failed":
        _expect(answer.get("error"), JOB_ERROR, "the job's 'error'", api)
    return answer


def poll_delays(first: float = 0.1, most: float = 5.0, factor: float = 1.5) -> Iterator[float]:
    """Seconds to wait before each poll of a job: soon at first (a fast job ends within a
    second), then less often, up to ``most``."""
    delay = first
    while True:
        yield delay
        delay = min(most, delay * factor)


def content_type_of(data: bytes) -> str | None:
    """The image type by its magic bytes (PNG, JPEG, WebP), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in CONTENT_TYPES.items() if data.startswith(magic)), None)


def _multipart(fields: dict[str, str], data: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body with the file last, as S3's POST upload requires."""
    boundary = "imagegen-" + secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    head = "".join(parts) + (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="image"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def _s3_error(exc: urllib.error.HTTPError) -> UploadError:
    """S3 answers errors as XML ``<Error><Code>..<Message>..``."""
    try:
        root = ElementTree.fromstring(exc.read())
        code, message = root.findtext("Code"), root.findtext("Message")
    except ElementTree.ParseError:
        code = message = None
    return UploadError(exc.code, code or "upload_failed", f"uploading: {message or exc.reason}")


def upload(
    api: str, data: bytes, api_key: str | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Upload an input image through a presigned POST (POST /uploads, then straight to S3; the
    API key never goes to S3) and return the form's answer, whose ``key`` names the upload."""
    content_type = content_type_of(data)
    if content_type is None:
        raise ApiError(0, "invalid_image", "the file is not a PNG, JPEG or WebP image")
    form = _expect(
        _call(api, "/uploads", api_key, timeout, {"content_type": content_type}),
        UPLOAD_ANSWER,
        "the answer",
        api,
    )
    if len(data) > form["max_bytes"]:
        raise ApiError(
            0,
            "payload_too_large",
            f"the image is {len(data)} bytes; uploads take at most {form['max_bytes']}",
        )
    body, boundary = _multipart(form["fields"], data, content_type)
    request = urllib.request.Request(
        require_web_url(form["url"], "upload URL", "unsafe_url"),
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with _API_OPENER.open(request, timeout=timeout):
            return form
    except urllib.error.HTTPError as exc:
        raise _s3_error(exc) from None
    except (OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise UploadError(0, "upload_failed", f"uploading: {reason}") from None


def get_models(api: str, api_key: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    answer = _expect(_call(api, "/models", api_key, timeout), MODELS_ANSWER, "the answer", api)
    _expect_list(answer, "models", MODEL, api)
    for model in answer["models"]:
        _expect(model["limits"], (), "'limits'", api)
    _expect_operations(answer, api)
    return answer


def _expect_operations(answer: dict[str, Any], api: str) -> None:
    """Editing operations, from an API that has them (an older one does not; a deployment may
    allow none)."""
    operations = answer.get("operations", [])
    if not isinstance(operations, list):
        raise ApiError(0, "unexpected_answer", f"'operations' from {api} is not a list")
    for operation in operations:
        _expect(operation, OPERATION, "an entry of 'operations'", api)
        _expect(operation["fields"], (), "'fields'", api)
        _expect(operation["inputs"], (), "'inputs'", api)


def get_image_url(
    api: str, key: str, api_key: str | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    path = "/images/url?" + urllib.parse.urlencode({"key": key})
    return _expect(_call(api, path, api_key, timeout), URL_ANSWER, "the answer", api)


def download(url: str, timeout: float = 60.0) -> bytes:
    """Fetch an image URL from an answer: http(s) only, so an API cannot make us copy a local
    file (``file:///etc/passwd``) into the output directory."""
    require_web_url(url, "image URL", "unsafe_url")
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise ApiError(
            exc.code, "download_failed", f"downloading the image: {exc.reason}"
        ) from None
    except (OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(0, "download_failed", f"downloading the image: {reason}") from None
