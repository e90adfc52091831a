"""The verifying front of the local S3: a WSGI middleware around moto's S3 application.

moto in its default mode accepts whatever it is sent. The front refuses first, with S3's status
and XML error, what S3 refuses: a missing, wrong, expired or misused signature (``s3_auth``), a
body whose SHA-256 differs from the signed ``x-amz-content-sha256`` (400 XAmzContentSHA256Mismatch,
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList), a conditional
write racing another (``s3_conditional_writes``) and a browser-based POST upload that its policy
does not allow (``s3_post``, which stores allowed ones itself). CORS is S3's, not moto's
(``s3_cors``): the front answers preflights, unsigned as browsers send them, and sets the CORS
headers of every other answer. Everything else reaches moto unchanged, in the same thread: there
is no extra network hop.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from moto.core.request import EnvironHeaders
from werkzeug.wsgi import get_input_stream

from devstack import s3_cors
from devstack.s3_auth import SignedRequest, SigV4Verifier, body_sha256
from devstack.s3_conditional_writes import ConditionalWrites
from devstack.s3_errors import S3Error
from devstack.s3_post import PostUploads, upload_bucket

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class VerifyingFront:
    """Passes a request to ``app`` only if S3 would act on it."""

    def __init__(
        self,
        app: WSGIApplication,
        verifier: SigV4Verifier,
        writes: ConditionalWrites,
        uploads: PostUploads,
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._writes = writes
        self._uploads = uploads

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        request = _signed_request(environ)
        bucket = _bucket(request.path)
        granted: dict[str, str] = {}
        try:
            if method == "OPTIONS":
                _discard_body(environ)
                start_response("200 OK", [*s3_cors.preflight(bucket, request.headers).items()])
                return [b""]
            granted = s3_cors.grant(bucket, request.headers.get("origin"), method)
            answer = _with_headers(start_response, granted)
            if upload_bucket(request) is not None:
                return self._uploads(environ, answer, bucket)
            self._verifier.verify(request)
            _check_body(environ, body_sha256(request.headers))
            key = request.headers.get("host", "") + unquote(request.path)
            with self._writes.hold(method, request.headers, key):
                return self._app(environ, answer)  # moto has answered when this returns
        except S3Error as error:
            _discard_body(environ)
            status, headers, body = error.render(with_body=method != "HEAD")
            start_response(status, headers + list(granted.items()))
            return [body]


def _bucket(path: str) -> str:
    """The bucket of a path-style URL (local endpoints are IP addresses, never virtual hosts)."""
    return unquote(path.lstrip("/").partition("/")[0])


def _with_headers(start_response: StartResponse, granted: dict[str, str]) -> StartResponse:
    """``start_response`` with S3's CORS headers in place of any moto set."""

    def answer(status: str, headers: list[tuple[str, str]], exc_info=None):
        kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        return start_response(status, kept + list(granted.items()), exc_info)

    return answer


def _signed_request(environ: WSGIEnvironment) -> SignedRequest:
    """The request as sent: the raw path and query (SigV4 signs the encoded path) and headers
    under their sent names (moto's ``EnvironHeaders`` keeps ``x-amz-meta-my_key`` underscores)."""
    path, _, query = environ["RAW_URI"].partition("?")
    pairs = (pair.partition("=") for pair in query.split("&") if pair)
    return SignedRequest(
        method=environ["REQUEST_METHOD"],
        path=path,
        query=tuple((unquote(name), unquote(value)) for name, _, value in pairs),
        headers={name.lower(): value for name, value in EnvironHeaders(environ)},
    )


def _check_body(environ: WSGIEnvironment, expected: str | None) -> None:
    """Buffer the body and compare its SHA-256 with the signed one, as S3 does on receipt."""
    if expected is None:
        return
    body = get_input_stream(environ).read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    actual = hashlib.sha256(body).hexdigest()
    if actual != expected:
        raise S3Error(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ClientComputedContentSHA256=expected,
            S3ComputedContentSHA256=actual,
        )


def _discard_body(environ: WSGIEnvironment) -> None:
    """Read what is left of a refused request's body: closing a socket with unread input resets
    the connection, and the client could lose the error answer."""
    stream = get_input_stream(environ)
    while stream.read(1 << 16):
        pass
