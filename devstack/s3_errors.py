"""S3's REST error answers: a status, an XML ``<Error>`` body and S3's request-id headers.

The codes, statuses and messages are S3's own, from the S3 API Reference, "Error responses"
(https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList), so SDKs
parse a refusal from the local stack exactly as they parse one from AWS.
"""

from __future__ import annotations

import base64
import secrets
from http import HTTPStatus
from xml.sax.saxutils import escape


class S3Error(Exception):
    """A refusal: ``details`` become extra elements of ``<Error>``, in order, as S3 adds them."""

    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details = details

    def render(self, *, with_body: bool) -> tuple[str, list[tuple[str, str]], bytes]:
        """WSGI status, headers and body; HEAD answers carry no body, as in HTTP and S3."""
        request_id = secrets.token_hex(8).upper()
        host_id = base64.b64encode(secrets.token_bytes(48)).decode()
        elements = {
            "Code": self.code,
            "Message": self.message,
            **self.details,
            "RequestId": request_id,
            "HostId": host_id,
        }
        xml = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in elements.items())
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{xml}</Error>'.encode()
        body = body if with_body else b""
        headers = [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("x-amz-request-id", request_id),
            ("x-amz-id-2", host_id),
        ]
        return f"{self.status} {HTTPStatus(self.status).phrase}", headers, body


def missing_post_field(name: str) -> S3Error:
    """A browser-based POST upload without a required field before its file. Observed for ``key``
    (e.g. https://github.com/ryuzee/SlideHub/issues/213); the same wording for other fields is
    unverified."""
    return S3Error(
        400,
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  "
        "If it is specified, please check the order of the fields.",
        ArgumentName=name,
        ArgumentValue="",
    )
