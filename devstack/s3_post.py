"""Browser-based POST uploads (S3's POST Object): refused as S3 refuses them, else stored in moto.

moto stores whatever form is POSTed to a bucket. S3 reads the form's fields up to the file and
refuses, in this order (inferred from what S3 must know before it stores the file), with codes
and messages as AWS documents them [errors] or as S3 was seen to answer [seen-*]; those marked
unverified are neither:

1. a body that is not multipart/form-data: 412 PreconditionFailed [seen-enctype]; no
   Content-Length: 411 MissingContentLength [errors]; a broken body: 400 MalformedPOSTRequest
   [errors];
2. over 20 KB of form before the file: 400 MaxPostPreDataLengthExceeded [forms][seen-20k]; no part
   named ``file``: 400 InvalidArgument [forms][seen-file]; no ``key``: 400 InvalidArgument
   [seen-key]. Fields after the file are ignored and ``${filename}`` in any field becomes the file's
   name [forms]; field names are matched without case (AWS's JavaScript SDK sends ``X-Amz-Date``,
   boto3 ``x-amz-date`` [seen-case]);
3. the signature (``SigV4Verifier.verify_post`` [sigv4-post]): a form without one is anonymous,
   which only a publicly writable bucket takes [forms], so 403 AccessDenied here;
4. the policy [policy]: base64 JSON with ``expiration`` and ``conditions``, else 400
   InvalidPolicyDocument [seen-json][seen-simple] (other wordings unverified); expired: 403
   AccessDenied "Invalid according to Policy: Policy expired." [seen-expired]; each condition holds,
   an exact match (``{"k": "v"}``, ``["eq", "$k", "v"]``), a prefix (``["starts-with", "$k", "p"]``,
   met by every comma-separated Content-Type) or the bucket of the URL, else 403 AccessDenied
   "Invalid according to Policy: Policy Condition failed: [...]" [seen-condition]; each field but
   x-amz-signature, file, policy and ``x-ignore-*`` is named by a condition, else 403 AccessDenied
   "Invalid according to Policy: Extra input fields: <name>" [seen-extra];
5. the file's size within every ``content-length-range``: else 400 EntityTooLarge or EntityTooSmall
   [seen-size]. S3 takes up to 5 GB; this front keeps at most ``MAX_FILE_BYTES`` and answers
   EntityTooLarge above it.

The file is stored by an internal PutObject to moto (moto's own POST handler would also read fields
after the file), with the form's object headers. The answer is S3's [forms]: 204, or 200 or 201
(with a PostResponse document) when ``success_action_status`` asks, with ETag and Location
headers (unverified); ``success_action_redirect`` is not followed. Only path-style bucket URLs are
recognised: local endpoints are IP addresses.

[policy] https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
[forms] https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTForms.html and
  https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html
[sigv4-post] https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html
[errors] https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
[seen-enctype] https://github.com/benjreinhart/react-native-aws3/issues/26
[seen-20k] https://github.com/benefitcloud/ember-uploader/issues/45 (20480 bytes)
[seen-file] https://github.com/itinance/react-native-fs/issues/992
[seen-key] https://github.com/transloadit/uppy-server/issues/57
[seen-case] https://github.com/aws/aws-sdk-js/issues/1514
[seen-json] https://github.com/benefitcloud/ember-uploader/issues/43
[seen-simple] https://www.bennadel.com/blog/2503-amazon-s3-form-post-invalid-policy-invalid-simple-condition-value-must-be-a-string.htm
[seen-expired] https://github.com/CulturalMe/meteor-slingshot/issues/80
[seen-condition] https://github.com/aws/aws-sdk-js/issues/1983
[seen-extra] https://github.com/aws/aws-sdk-php/issues/3292 (an AWS maintainer's reproduction)
[seen-size] https://github.com/infinitered/apisauce/issues/245,
  https://github.com/versity/versitygw/issues/2040
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, TypeGuard
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from moto.core.request import (
    PRESERVED_HEADER_NAMES_ENVIRON_KEY,
    environ_key_for_header,
    should_preserve_original_header_name,
)
from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    NEED_DATA,
    Data,
    Epilogue,
    Event,
    Field,
    File,
    MultipartDecoder,
)
from werkzeug.wsgi import get_content_length, get_current_url, get_input_stream

from devstack.s3_auth import POST_AUTH_FIELDS, SignedRequest, SigV4Verifier
from devstack.s3_errors import S3Error, missing_post_field

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

MAX_PRE_DATA_BYTES = 20 * 1024  # [forms]: "cannot exceed 20 KB"; [seen-20k]: 20480
MAX_FILE_BYTES = 64 * 1024 * 1024  # S3's limit is 5 GB; a local stack needs far less
_READ_SIZE = 64 * 1024
_IN_MEMORY_BYTES = 1024 * 1024  # larger files are spooled to a temporary file
_BUCKET_PATH = re.compile(r"/([^/]+)/?")
_NEVER_NAMED = frozenset({"x-amz-signature", "file", "policy"})  # need no condition [policy]
# Form fields that PutObject takes as headers [forms]; other x-amz-* fields do too, except those
# that sign the form.
_OBJECT_HEADERS = frozenset(
    {
        "cache-control",
        "content-type",
        "content-disposition",
        "content-encoding",
        "content-md5",
        "expires",
    }
)
_SIGNING_FIELDS = frozenset(POST_AUTH_FIELDS) | {"x-amz-security-token"}
_SUCCESS_STATUS = {"200": "200 OK", "201": "201 Created"}


def upload_bucket(request: SignedRequest) -> str | None:
    """The bucket a browser-based POST upload is sent to: an unsigned POST to a bucket's URL with
    no query. None for any other request, which SigV4 then covers."""
    if request.method != "POST" or request.query or "authorization" in request.headers:
        return None
    match = _BUCKET_PATH.fullmatch(request.path)
    return unquote(match.group(1)) if match else None


@dataclass(frozen=True)
class Condition:
    """An exact-match or starts-with condition; ``name`` as the policy spells it, without ``$``."""

    operator: str
    name: str
    value: str

    def holds(self, fields: Mapping[str, str], bucket: str) -> bool:
        field = self.name.lower()
        given = bucket if field == "bucket" else fields.get(field, "")
        if self.operator == "eq":
            return given == self.value
        values = given.split(",") if field == "content-type" else [given]
        return all(value.startswith(self.value) for value in values)

    def __str__(self) -> str:
        """As S3 quotes a failed condition: ``["eq", "$Content-Type", "image/png"]``."""
        return json.dumps([self.operator, f"${self.name}", self.value])


@dataclass(frozen=True)
class Policy:
    """A POST policy: when it expires, the conditions on fields, the allowed file sizes."""

    expiration: datetime
    conditions: tuple[Condition, ...]
    sizes: tuple[tuple[int, int], ...]  # content-length-range (min, max) pairs

    def check_fields(self, fields: Mapping[str, str], bucket: str, now: datetime) -> None:
        """Refuse as S3 does if expired, if a condition fails or if a field is named by none."""
        if now > self.expiration:
            raise _denied("Policy expired.")
        for condition in self.conditions:
            if not condition.holds(fields, bucket):
                raise _denied(f"Policy Condition failed: {condition}")
        named = {condition.name.lower() for condition in self.conditions} | _NEVER_NAMED
        for field in fields:
            if field not in named and not field.startswith("x-ignore-"):
                raise _denied(f"Extra input fields: {field}")

    def largest(self, cap: int) -> int:
        """The largest file allowed: every content-length-range's maximum, and ``cap``."""
        return min([cap, *(high for _, high in self.sizes)])

    def check_size(self, size: int, cap: int) -> None:
        """Refuse as S3 does a file outside a content-length-range, or over ``cap``."""
        largest = self.largest(cap)
        smallest = max((low for low, _ in self.sizes), default=0)
        if size > largest:
            raise S3Error(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=str(size),
                MaxSizeAllowed=str(largest),
            )
        if size < smallest:
            raise S3Error(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                ProposedSize=str(size),
                MinSizeAllowed=str(smallest),
            )


def parse_policy(encoded: str) -> Policy:
    """The policy form field, decoded; 400 InvalidPolicyDocument if it is not one."""
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except ValueError:  # bad base64, UTF-8 or JSON
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid_policy("Policy missing expiration.")
    if not isinstance(document.get("conditions"), list):
        raise _invalid_policy("Policy missing conditions.")
    conditions: list[Condition] = []
    sizes: list[tuple[int, int]] = []
    for item in document["conditions"]:
        if isinstance(item, list) and item[:1] == ["content-length-range"]:
            sizes.append(_size_range(item))
        else:
            conditions.extend(_conditions(item))
    return Policy(_expiration(document["expiration"]), tuple(conditions), tuple(sizes))


def _expiration(value: object) -> datetime:
    """ISO 8601 in UTC, as ``2026-11-26T12:00:00Z`` (boto3) or ``...00.000Z`` (AWS's examples)."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise _invalid_policy(f"Invalid 'expiration' value: '{value}'")
    return moment.astimezone(UTC)


def _conditions(item: object) -> list[Condition]:
    if isinstance(item, dict):
        if not all(isinstance(value, str) for value in item.values()):
            raise _invalid_policy("Invalid Simple-Condition: value must be a string.")
        return [Condition("eq", name, value) for name, value in item.items()]
    if isinstance(item, list) and len(item) == 3:
        operator, subject, value = item
        if (
            operator in ("eq", "starts-with")
            and isinstance(subject, str)
            and subject.startswith("$")
            and isinstance(value, str)
        ):
            return [Condition(operator, subject[1:], value)]
    raise _invalid_policy(f"Invalid Condition: {json.dumps(item)}")


def _size_range(item: list[object]) -> tuple[int, int]:
    """``["content-length-range", min, max]``, in whole bytes."""
    if len(item) == 3:
        low, high = item[1], item[2]
        if _is_size(low) and _is_size(high):
            return low, high
    raise _invalid_policy(f"Invalid Condition: {json.dumps(item)}")


def _is_size(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


class FormReader:
    """A multipart/form-data body read as S3 reads it: the fields up to the file, then the file.

    The body is streamed, never held whole: at most ``MAX_PRE_DATA_BYTES`` of fields, then the
    file a chunk at a time. Whatever follows the file is read only to be discarded.
    """

    def __init__(self, environ: WSGIEnvironment) -> None:
        mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        if mimetype.lower() != "multipart/form-data":
            raise S3Error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                Condition="Bucket POST must be of the enclosure-type multipart/form-data",
            )
        if get_content_length(environ) is None:
            raise S3Error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        boundary = options.get("boundary", "")
        if not boundary or not boundary.isascii():
            raise _malformed()
        self._stream = get_input_stream(environ)
        # Whoever reads the body next (the front discarding it) goes on from where this stops.
        environ["wsgi.input"], environ["wsgi.input_terminated"] = self._stream, True
        self._decoder = MultipartDecoder(boundary.encode())
        self._read = 0
        self._in_file = False

    def fields(self) -> tuple[dict[str, str], str]:
        """The fields before the part named ``file`` (lower-case names, repeated fields joined by
        commas [policy]) and the file's name."""
        values: dict[str, list[bytes]] = {}
        current: list[bytes] = []
        while True:
            event = self._event()
            if isinstance(event, Field | File):
                name = (event.name or "").lower()
                if not name:
                    raise _malformed()
                if name == "file":
                    self._in_file = True
                    if self._read - len(self._decoder.buffer) > MAX_PRE_DATA_BYTES:
                        raise _pre_data_too_large()
                    return _decoded(values), getattr(event, "filename", "")
                current = values.setdefault(name, [])
                current.append(b"")
            elif isinstance(event, Data):
                current[-1] += event.data
            elif isinstance(event, Epilogue):
                raise S3Error(
                    400,
                    "InvalidArgument",
                    "POST requires exactly one file upload per request.",
                    ArgumentName="file",
                    ArgumentValue="0",
                )

    def copy_file(self, into: IO[bytes], keep: int) -> int:
        """Write the file's first ``keep`` bytes to ``into``; return its whole size (the rest is
        read to measure it, never kept)."""
        size = 0
        while True:
            event = self._event()
            if isinstance(event, Data):
                if size < keep:
                    into.write(event.data[: keep - size])
                size += len(event.data)
                if not event.more_data:
                    return size

    def finish(self) -> None:
        """Read what follows the file: closing a socket with unread input resets the connection,
        and the client could lose the answer."""
        while self._stream.read(_READ_SIZE):
            pass

    def _event(self) -> Event:
        """The next multipart event, reading more of the body when the decoder needs it."""
        try:
            while (event := self._decoder.next_event()) is NEED_DATA:
                if not self._in_file and self._read > MAX_PRE_DATA_BYTES:
                    raise _pre_data_too_large()
                chunk = self._stream.read(_READ_SIZE)
                self._read += len(chunk)
                self._decoder.receive_data(chunk or None)
        except ValueError:  # werkzeug's decoder: bad framing or headers, a truncated body
            raise _malformed() from None
        return event


class PostUploads:
    """Takes browser-based POST uploads for moto's S3 ``app`` as S3 takes them."""

    def __init__(
        self,
        app: WSGIApplication,
        verifier: SigV4Verifier,
        clock: Callable[[], float],
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self._app = app
        self._verifier = verifier
        self._clock = clock
        self._max_file_bytes = max_file_bytes

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse, bucket: str
    ) -> Iterable[bytes]:
        """Store the upload and answer as S3 does, or raise the ``S3Error`` S3 would answer."""
        reader = FormReader(environ)
        fields, filename = reader.fields()
        fields = _with_filename(fields, filename)
        key = fields.get("key")
        if not key:
            raise missing_post_field("key")
        self._verifier.verify_post(fields)
        policy = parse_policy(fields["policy"])
        policy.check_fields(fields, bucket, datetime.fromtimestamp(self._clock(), UTC))
        with tempfile.SpooledTemporaryFile(_IN_MEMORY_BYTES) as file:
            size = reader.copy_file(file, keep=policy.largest(self._max_file_bytes))
            policy.check_size(size, self._max_file_bytes)
            reader.finish()
            file.seek(0)
            status, headers, body = _call(
                self._app, _put_environ(environ, bucket, key, fields, file, size)
            )
        if status.startswith("200"):
            location = f"{get_current_url(environ, root_only=True)}{bucket}/{quote(key, safe='')}"
            status, headers, body = _success(fields, bucket, key, location, Headers(headers))
        start_response(status, headers)
        return [body]


def _with_filename(fields: dict[str, str], filename: str) -> dict[str, str]:
    """Every field with ``${filename}`` replaced by the file's name, without its path [forms].
    (werkzeug reads a backslash in a quoted filename as an escape, so ``C:\\dir\\a.png`` arrives
    as ``C:dira.png``.)"""
    name = re.split(r"[/\\]", filename)[-1]
    return {field: value.replace("${filename}", name) for field, value in fields.items()}


def _put_environ(
    environ: WSGIEnvironment,
    bucket: str,
    key: str,
    fields: Mapping[str, str],
    file: IO[bytes],
    size: int,
) -> dict[str, object]:
    """A PutObject of ``file`` to ``bucket/key`` carrying the form's object headers, for moto."""
    headers = {
        name: value
        for name, value in fields.items()
        if name in _OBJECT_HEADERS or (name.startswith("x-amz-") and name not in _SIGNING_FIELDS)
    }
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    path = f"/{bucket}/{key}"
    put: dict[str, object] = {
        name: value
        for name, value in environ.items()
        if name.startswith("wsgi.") or name in ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL")
    }
    put.update(
        {
            "REQUEST_METHOD": "PUT",
            "SCRIPT_NAME": "",
            "PATH_INFO": path.encode().decode("latin-1"),  # WSGI's "bytes as latin-1" string
            "RAW_URI": quote(path),
            "QUERY_STRING": "",
            "HTTP_HOST": environ.get("HTTP_HOST", ""),
            "CONTENT_LENGTH": str(size),
            # moto checks an unsigned write to an existing key against the object's (private)
            # ACL and refuses it; the form was verified as its signer's, so say who that is.
            "HTTP_AUTHORIZATION": (
                f"AWS4-HMAC-SHA256 Credential={fields['x-amz-credential']},"
                " SignedHeaders=host, Signature=verified-by-the-front"
            ),
            "wsgi.input": file,
            PRESERVED_HEADER_NAMES_ENVIRON_KEY: {
                environ_key_for_header(name): name
                for name in headers
                if should_preserve_original_header_name(name)
            },
        }
    )
    put.update({environ_key_for_header(name): value for name, value in headers.items()})
    return put


def _call(
    app: WSGIApplication, environ: dict[str, object]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI app in this thread; its status, headers and body."""
    answer: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        answer.append((status, headers))
        return lambda data: None

    result = app(environ, start_response)  # type: ignore[arg-type]
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    status, headers = answer[-1]
    return status, list(headers), body


def _success(
    fields: Mapping[str, str], bucket: str, key: str, location: str, stored: Headers
) -> tuple[str, list[tuple[str, str]], bytes]:
    """S3's answer to a stored upload: 201 with a PostResponse document, 200 or 204, empty."""
    etag = stored.get("ETag", "")
    status = fields.get("success_action_status")
    body = b""
    if status == "201":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
            f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
        ).encode()
    headers = [("ETag", etag), ("Location", location), ("Content-Length", str(len(body)))]
    if body:
        headers.append(("Content-Type", "application/xml"))
    # Any other value, or none, is a 204 [forms].
    return _SUCCESS_STATUS.get(status or "", "204 No Content"), headers, body


def _decoded(values: Mapping[str, list[bytes]]) -> dict[str, str]:
    try:
        return {name: b",".join(parts).decode() for name, parts in values.items()}
    except UnicodeDecodeError:  # the form must be UTF-8 [forms]
        raise _malformed() from None


def _denied(reason: str) -> S3Error:
    return S3Error(403, "AccessDenied", f"Invalid according to Policy: {reason}")


def _invalid_policy(reason: str) -> S3Error:
    return S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {reason}")


def _malformed() -> S3Error:
    return S3Error(
        400,
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )


def _pre_data_too_large() -> S3Error:
    return S3Error(
        400,
        "MaxPostPreDataLengthExceeded",
        "Your POST request fields preceeding the upload file was too large.",
        MaxPostPreDataLengthBytes=str(MAX_PRE_DATA_BYTES),
    )
