"""API Gateway REST (proxy) handler: parse the event, call the flow, shape the answer.

This is the only module that knows about HTTP. Every failure becomes a JSON error with a
documented status; a genuine bug is a 500 without a trace in the body (the trace is logged).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from service import cors, job_api, logs, playground
from service.bootstrap import get_generator, prime_for_snapshot
from service.config import ConfigError
from service.errors import (
    ImageGenError,
    InvalidField,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    OriginNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.flow import Generator
from service.openai_images.error_types import openai_error

logger = logging.getLogger("imagegen")

MAX_BODY_BYTES = 64 * 1024
# Edits carry inline images. Lambda takes at most 6 MB (6,291,456 bytes) per synchronous
# invocation, for the whole API Gateway event (https://docs.aws.amazon.com/lambda/latest/dg/
# gettingstarted-limits.html); this leaves room for its headers and context. Larger images go
# through POST /uploads.
MAX_EDIT_BODY_BYTES = 6_000_000
# A multipart body arrives base64-encoded (a binary media type), so 3/4 of that.
MAX_FORM_BYTES = MAX_EDIT_BODY_BYTES * 3 // 4
OPENAI_PREFIX = "/v1/"
SAFETY_MARGIN_SECONDS = 1.0
BODY_EXAMPLES = {
    "/images": '{"prompt": "..."}',
    "/images/edits": '{"operation": "...", "image": {"key": "..."}}',
    "/uploads": '{"content_type": "image/png"}',
}
# Each path and the methods it takes; any other method is a 405 whose Allow lists them.
ROUTES: dict[str, tuple[str, ...]] = {
    "/": ("GET",),
    "/images": ("GET", "POST"),
    "/images/edits": ("POST",),
    "/images/url": ("GET",),
    "/models": ("GET",),
    "/uploads": ("POST",),
    "/v1/images/generations": ("POST",),
    "/v1/images/edits": ("POST",),
    "/v1/models": ("GET",),
    "/v1/models/{model}": ("GET",),
    "/jobs/{id}": ("GET",),
}


def _response(status: int, body: dict, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
        "body": json.dumps(body),
    }


def _error_response(
    status: int, body: dict, request_id: str, openai: bool, headers: dict[str, str] | None = None
) -> dict:
    """An error answer; on the OpenAI routes in OpenAI's shape, same status and code."""
    shaped = openai_error(body, status) if openai else body
    return _response(status, shaped, {**(headers or {}), "X-Request-Id": request_id})


def _header(event: dict, name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJson(f"duplicate key {key!r} in the JSON body", field=key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), though Python's decoder accepts them."""
    raise InvalidJson(f"{name} is not a JSON value", field="body")


def _too_large(limit: int, hint: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body must be at most {limit} bytes{hint}", field="body")


def _content_type(event: dict, default: str) -> str:
    return (_header(event, "content-type") or default).split(";")[0].strip()


def body_bytes(
    event: dict, limit: int, hint: str, invalid: type[ImageGenError] = InvalidField
) -> bytes | None:
    """The event's body as bytes, base64-decoded when API Gateway encoded it (binary media
    types), or None if empty; a 413 beyond ``limit``, checked before decoding; ``invalid`` for
    a body that is not what the event says it is."""
    raw = event.get("body")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise invalid("the request body must be text", field="body")
    if len(raw) > limit * 4 // 3 + 4:
        raise _too_large(limit, hint)
    try:
        data = (
            base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
        )
    except (binascii.Error, ValueError):
        raise invalid("the body is marked base64 but is not valid base64", field="body") from None
    except UnicodeEncodeError:
        raise invalid("the body is not valid UTF-8", field="body") from None
    if len(data) > limit:
        raise _too_large(limit, hint)
    return data


def parse_json_body(event: dict, limit: int = MAX_BODY_BYTES) -> Any:
    """Decode the event body: base64 or not, size-limited, declared as JSON, a JSON value."""
    example = BODY_EXAMPLES.get(event.get("resource") or event.get("path") or "", "{...}")
    content_type = _content_type(event, "application/json")
    uploads = " (files go through POST /uploads)" if limit != MAX_BODY_BYTES else ""
    if content_type.lower() != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {content_type[:100]!r}{uploads}",
            field="Content-Type",
        )
    hint = "; send larger images with POST /uploads" if uploads else ""
    data = body_bytes(event, limit, hint, InvalidJson)
    if data is None:
        raise InvalidJson(f"the request body is empty; send {example}", field="body")
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError:
        raise InvalidJson("the body is not valid UTF-8", field="body") from None
    except RecursionError:
        raise InvalidJson("the JSON body is nested too deeply", field="body") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(
            f"the body is not valid JSON ({exc.msg} at position {exc.pos})", field="body"
        ) from None
    except ValueError:  # an integer longer than Python's int-string limit (4300 digits)
        raise InvalidJson(
            f"a number in the body has more than {sys.get_int_max_str_digits()} digits",
            field="body",
        ) from None


def parse_form_body(event: dict) -> tuple[bytes, str | None]:
    """A form body (OpenAI's edits) and its Content-Type, which ``multipart.parse`` checks,
    within Lambda's request limit: base64 in the event, so about 4.5 MB of form."""
    hint = (
        " as base64 in the event (Lambda's 6 MB limit); send larger images through the"
        " service's own POST /uploads and POST /images/edits"
    )
    data = body_bytes(event, MAX_FORM_BYTES, hint)
    if data is None:
        raise InvalidField(
            "the request body is empty; send a multipart form with 'image' and 'prompt'",
            field="body",
        )
    return data, _header(event, "content-type")


def _base_url(event: dict) -> str:
    """The API's base URL as the client called it: scheme and host from the request, and what
    comes before the resource in ``requestContext.path``: the stage on an execute-api URL, a
    base path on a custom domain, nothing locally."""
    scheme = _header(event, "x-forwarded-proto") or "https"
    host = _header(event, "host") or ""
    called = (event.get("requestContext") or {}).get("path") or ""
    resource = event.get("resource") or ""
    for name, value in (event.get("pathParameters") or {}).items():
        resource = resource.replace("{" + name + "}", value)
    prefix = called[: -len(resource)] if resource and called.endswith(resource) else ""
    return f"{scheme}://{host}{prefix}"


def _deadline(generator: Generator, context: Any) -> float:
    budget = generator.settings.time_budget_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        budget = min(budget, remaining() / 1000 - SAFETY_MARGIN_SECONDS)
    return time.monotonic() + budget


def _route(event: dict, context: Any, generator: Callable[[], Generator]) -> dict:
    path = event.get("resource") or event.get("path") or ""
    method = (event.get("httpMethod") or "").upper()
    if path not in ROUTES:
        routes = ", ".join(f"{m} {route}" for route, methods in ROUTES.items() for m in methods)
        raise NotFound(f"no route {path!r}; see {routes}")
    if method == "OPTIONS" and (origins := generator().settings.allowed_origins):
        return _preflight(event, path, origins)
    if method not in ROUTES[path]:
        allowed = " or ".join(ROUTES[path])
        raise MethodNotAllowed(f"{path} accepts {allowed} only", allow=", ".join(ROUTES[path]))
    service = generator()
    if path.startswith(OPENAI_PREFIX):
        return _openai_route(path, event, context, service)
    if path == "/":
        return playground.response(service.store.origin())
    if path == "/images" and method == "GET":
        return _response(200, service.gallery(event.get("queryStringParameters")))
    if path == "/models":
        return _response(200, service.models(datetime.now(UTC).date()))
    if path == "/images/url":
        query = event.get("queryStringParameters") or {}
        return _response(200, service.fresh_url(query.get("key")))
    if path == "/uploads":
        return _response(200, service.upload(parse_json_body(event)))
    if path == "/jobs/{id}":
        job_id = (event.get("pathParameters") or {}).get("id")
        return _response(200, job_api.status(service, job_id))
    editing = path == "/images/edits"
    body = parse_json_body(event, MAX_EDIT_BODY_BYTES if editing else MAX_BODY_BYTES)
    prefer = _header(event, "prefer")
    if job_api.wants_async(service, body, prefer):
        job = job_api.submit(service, "edit" if editing else "generate", body, _base_url(event))
        headers = {"Location": job["status_url"]}
        if prefer is not None:  # RFC 7240: say which preference was honoured, when one was
            headers["Preference-Applied"] = "respond-async"
        return _response(202, job, headers)
    run = service.edit if editing else service.generate
    return _response(200, run(body, _deadline(service, context)))


def _preflight(event: dict, path: str, allowed: tuple[str, ...]) -> dict:
    """A browser's CORS preflight: granted for a listed origin (the browser then checks the
    method and headers it wants against the answer), else 403. Without an ``Origin`` it is a
    plain OPTIONS (RFC 9110 section 9.3.7): the route's methods."""
    origin = _header(event, "origin")
    methods = ROUTES[path]
    headers = {"Allow": ", ".join(methods)}
    if origin is not None:
        if origin not in allowed:
            raise OriginNotAllowed(
                f"the origin {origin!r} may not call this API from a browser: only its allowed"
                " origins may (the stack's allowedOrigins; IMAGEGEN_ALLOWED_ORIGINS locally)",
                field="Origin",
            )
        requested = _header(event, "access-control-request-headers")
        headers |= cors.preflight_headers(methods, requested)
    return {"statusCode": 204, "headers": headers, "body": ""}


def _with_cors(response: dict, event: Any, generator: Callable[[], Generator]) -> dict:
    """The answer, with what a browser on a listed origin needs to read it. Only a request
    with an ``Origin`` (a browser's) reads the settings; the others' answers are not cached
    (``no-store``), so they need no ``Vary``."""
    origin = _header(event, "origin") if isinstance(event, dict) else None
    if origin is None:
        return response
    try:
        allowed = generator().settings.allowed_origins
    except Exception:  # no settings: the answer is already the 500 that says why
        allowed = ()
    response["headers"].update(cors.response_headers(origin, allowed))
    return response


def _openai_route(path: str, event: dict, context: Any, service: Generator) -> dict:
    """The OpenAI-compatible routes. Imported here, not at the top: most requests are not for
    them, and a cold start should not load the mask decoder and the form parser."""
    from service.openai_images import answers
    from service.openai_images.edits import parse_edit_form
    from service.openai_images.generations import parse_generation

    started = time.monotonic()
    today = datetime.now(UTC).date()
    if path == "/v1/models":
        return _response(200, answers.models_answer(service, today))
    if path == "/v1/models/{model}":
        name = (event.get("pathParameters") or {}).get("model")
        return _response(200, answers.model_answer(service, today, name))
    deadline = _deadline(service, context)
    if path == "/v1/images/edits":
        request, shaped = parse_edit_form(*parse_form_body(event), service)
    else:
        request, shaped = parse_generation(parse_json_body(event), service)
    outcome = service.run(request, deadline, started)
    return _response(200, answers.images_answer(outcome, shaped, service))


def lambda_handler(event: dict, context: Any) -> dict:
    """Entry point for API Gateway REST proxy events."""
    return handle(event, context, get_generator)


def handle(event: Any, context: Any, generator: Callable[[], Generator]) -> dict:
    """Answer one proxy event with the generator ``generator()`` returns (built lazily); every
    answer, errors included, carries what a browser on an allowed origin needs to read it."""
    request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    token = logs.request_id.set(request_id)
    try:
        return _with_cors(_answer(event, context, generator, request_id), event, generator)
    finally:
        logs.request_id.reset(token)


def _answer(event: Any, context: Any, generator: Callable[[], Generator], request_id: str) -> dict:
    path = (event.get("resource") or event.get("path") or "") if isinstance(event, dict) else ""
    openai = path.startswith(OPENAI_PREFIX)
    try:
        if not isinstance(event, dict):
            raise InvalidField("the event is not an API Gateway proxy event", field="event")
        response = _route(event, context, generator)
        response["headers"]["X-Request-Id"] = request_id
        return response
    except ImageGenError as error:
        level = logging.ERROR if error.status_code >= 500 else logging.INFO
        logger.log(
            level,
            "request failed",
            extra={
                "fields": {
                    "status": error.status_code,
                    "code": error.code,
                    "field": error.field,
                    "cause": type(error.__cause__).__name__ if error.__cause__ else None,
                }
            },
        )
        return _error_response(
            error.status_code, error.to_body(), request_id, openai, error.headers()
        )
    except ConfigError as error:
        logger.error("configuration error", extra={"fields": {"detail": str(error)}})
        message = "the service is misconfigured; see its logs"
        body = {"error": {"code": "configuration_error", "message": message}}
        return _error_response(500, body, request_id, openai)
    except Exception:
        logger.exception("unhandled error")
        message = "internal error; quote the request id"
        return _error_response(
            500, {"error": {"code": "internal_error", "message": message}}, request_id, openai
        )


prime_for_snapshot(os.environ)
