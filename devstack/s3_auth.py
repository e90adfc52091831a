"""AWS Signature Version 4 for S3, verified as S3 does, by recomputing it with botocore's signer.

moto's default mode accepts any signature; real S3 refuses tampered, expired, misused (a GET URL
sent as PUT) and unsigned requests. S3 takes a signature three ways, all checked here:

- the ``Authorization`` header, which SDK calls use:
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html
  (with ``x-amz-content-sha256`` either the payload's SHA-256 or a payload mode:
  https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html);
- query parameters, which presigned URLs use, at most a week long:
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
- form fields of a browser-based POST upload, whose string to sign is the base64 policy itself:
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html
  (the policy's own rules are ``s3_post``'s).

The canonical request, string to sign and signature come from botocore's ``S3SigV4Auth``,
``S3SigV4QueryAuth`` and ``S3SigV4PostAuth``, the code that signs boto3's requests: there is no
second SigV4 to drift. SigV2 is refused: S3 does not accept it for buckets created after 24 June
2020, and the local buckets are new
(https://docs.aws.amazon.com/AmazonS3/latest/API/specify-signature-version.html). Codes and
messages are S3's (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from botocore.auth import (
    SIGV4_TIMESTAMP,
    S3SigV4Auth,
    S3SigV4PostAuth,
    S3SigV4QueryAuth,
    SigV4Auth,
)
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from devstack.s3_errors import S3Error, missing_post_field

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
# What x-amz-content-sha256 may name instead of the payload's SHA-256. boto3 1.44 sends the
# SHA-256 over http, UNSIGNED-PAYLOAD when payload signing is off and, over https only,
# STREAMING-UNSIGNED-PAYLOAD-TRAILER with an aws-chunked body; moto decodes aws-chunked bodies.
# The per-chunk signatures of the STREAMING-AWS4-* modes are not re-verified: botocore has no
# chunk signer and boto3 never sends them; their seed signature is verified like any other.
PAYLOAD_MODES = frozenset(
    {
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    }
)
QUERY_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
# The form fields that carry a POST upload's signature, in the order S3's docs list them.
POST_AUTH_FIELDS = (
    "policy",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-signature",
)
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_CREDENTIAL_FORM = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that SigV4 covers."""

    method: str
    path: str  # as sent, still percent-encoded: S3 signs it so
    query: tuple[tuple[str, str], ...]  # decoded names and values, in order
    headers: Mapping[str, str]  # lower-case names


class Scope(NamedTuple):
    """The parts of a credential scope, ``AKID/YYYYMMDD/REGION/SERVICE/aws4_request``, in use."""

    access_key: str
    date: str
    region: str


def body_sha256(headers: Mapping[str, str]) -> str | None:
    """The SHA-256 (lower-case hex) the body must have, or None when it names a payload mode."""
    declared = headers.get("x-amz-content-sha256")
    return declared.lower() if declared and _SHA256_HEX.fullmatch(declared) else None


class SigV4Verifier:
    """Accepts what S3 accepts from the holders of ``credentials`` (access key id -> secret)."""

    def __init__(self, credentials: Mapping[str, str], clock: Callable[[], float]) -> None:
        self._secrets = dict(credentials)
        self._clock = clock

    def verify(self, request: SignedRequest) -> None:
        """Return if S3 would accept the request's signature; raise its ``S3Error`` otherwise."""
        params = dict(request.query)
        authorization = request.headers.get("authorization")
        in_query = any(name in params for name in QUERY_PARAMETERS)
        sigv2_query = "AWSAccessKeyId" in params or "Signature" in params
        if authorization is not None and (in_query or sigv2_query):
            raise S3Error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        if authorization is not None:
            self._verify_header(request, authorization)
        elif in_query:
            self._verify_query(request, params)
        elif sigv2_query:
            raise _unsupported_mechanism()
        else:
            raise S3Error(403, "AccessDenied", "Access Denied")

    def _verify_header(self, request: SignedRequest, authorization: str) -> None:
        algorithm, _, fields = authorization.partition(" ")
        if algorithm != ALGORITHM:
            raise _unsupported_mechanism()
        pairs = (field.strip().partition("=") for field in fields.split(","))
        parts = {name: value for name, _, value in pairs}
        if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
            raise _malformed_header(
                "the authorization header requires three components: "
                "Credential, SignedHeaders, and Signature."
            )
        scope = _scope(parts["Credential"])
        if scope is None:
            raise _malformed_header(_CREDENTIAL_FORM)
        secret = self._secret(scope.access_key)
        timestamp = _header_timestamp(request.headers)
        if timestamp is None:
            raise S3Error(
                403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
            )
        now = self._now()
        if abs(now - timestamp) > MAX_SKEW:
            raise S3Error(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                RequestTime=_iso(timestamp),
                ServerTime=_iso(now),
                MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
            )
        payload = request.headers.get("x-amz-content-sha256")
        if payload is None:
            raise S3Error(
                400,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
            )
        if payload not in PAYLOAD_MODES and body_sha256(request.headers) is None:
            raise S3Error(
                400,
                "InvalidArgument",
                f"x-amz-content-sha256 must be {', '.join(sorted(PAYLOAD_MODES))} "
                "or a valid sha256 value.",
            )
        signer = S3SigV4Auth(Credentials(scope.access_key, secret), "s3", scope.region)
        _check_signature(signer, request, request.query, timestamp, parts)

    def _verify_query(self, request: SignedRequest, params: dict[str, str]) -> None:
        if params.get("X-Amz-Algorithm", ALGORITHM) != ALGORITHM:
            raise _query_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
        if not all(name in params for name in QUERY_PARAMETERS):
            raise _query_error(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                "and X-Amz-Expires parameters."
            )
        expires = _expires(params["X-Amz-Expires"])
        timestamp = _amz_date(params["X-Amz-Date"])
        if timestamp is None:
            raise _query_error(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        scope = _scope(params["X-Amz-Credential"])
        if scope is None:
            raise _query_error(f"Error parsing the X-Amz-Credential parameter; {_CREDENTIAL_FORM}")
        secret = self._secret(scope.access_key)
        now = self._now()
        if timestamp - now > MAX_SKEW:
            raise S3Error(403, "AccessDenied", "Request is not valid yet")
        if now > timestamp + timedelta(seconds=expires):
            raise S3Error(
                403,
                "AccessDenied",
                "Request has expired",
                **{
                    "X-Amz-Expires": str(expires),
                    "Expires": _iso(timestamp + timedelta(seconds=expires)),
                    "ServerTime": _iso(now),
                },
            )
        signer = S3SigV4QueryAuth(
            Credentials(scope.access_key, secret), "s3", scope.region, expires
        )
        signed_query = tuple(pair for pair in request.query if pair[0] != "X-Amz-Signature")
        fields = {
            "SignedHeaders": params["X-Amz-SignedHeaders"],
            "Signature": params["X-Amz-Signature"],
        }
        _check_signature(signer, request, signed_query, timestamp, fields)

    def verify_post(self, fields: Mapping[str, str]) -> None:
        """Return if S3 would accept the signature of a browser-based POST upload whose form
        ``fields`` (lower-case names) are given; raise its ``S3Error`` otherwise.

        A form without any signing field is anonymous, which a private bucket refuses. The
        signature is the HMAC-SHA256 of the base64 policy as sent, under the signing key derived
        from x-amz-credential's scope. Codes for SigV2 fields, missing fields and a malformed
        credential follow the header and query forms; their POST wording is unverified.
        """
        if "awsaccesskeyid" in fields or "signature" in fields:
            raise _unsupported_mechanism()
        if not any(name in fields for name in POST_AUTH_FIELDS):
            raise S3Error(403, "AccessDenied", "Access Denied")
        for name in POST_AUTH_FIELDS:
            if name not in fields:
                raise missing_post_field(name)
        if fields["x-amz-algorithm"] != ALGORITHM:
            raise _unsupported_mechanism()
        credential = fields["x-amz-credential"]
        scope = _scope(credential)
        if scope is None:
            raise S3Error(
                400,
                "InvalidArgument",
                f"Error parsing the X-Amz-Credential parameter; {_CREDENTIAL_FORM}",
                ArgumentName="x-amz-credential",
                ArgumentValue=credential,
            )
        signer = S3SigV4PostAuth(
            Credentials(scope.access_key, self._secret(scope.access_key)), "s3", scope.region
        )
        request = AWSRequest()
        request.context["timestamp"] = f"{scope.date}T000000Z"  # the key uses only the date
        policy, provided = fields["policy"], fields["x-amz-signature"]
        expected = signer.signature(policy, request)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise _signature_mismatch(scope.access_key, policy, provided)

    def _secret(self, access_key: str) -> str:
        secret = self._secrets.get(access_key)
        if secret is None:
            raise S3Error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                AWSAccessKeyId=access_key,
            )
        return secret

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _check_signature(
    signer: SigV4Auth,
    request: SignedRequest,
    query: tuple[tuple[str, str], ...],
    timestamp: datetime,
    fields: Mapping[str, str],
) -> None:
    """Recompute the signature with botocore over exactly the signed headers; compare in
    constant time. A header listed but absent simply makes the signatures differ, as in S3."""
    names = fields["SignedHeaders"].split(";")
    aws_request = AWSRequest(
        method=request.method,
        url=f"http://{request.headers.get('host', '')}{request.path}",
        headers={name: request.headers[name] for name in names if name in request.headers},
        params=list(query),
    )
    aws_request.context["timestamp"] = timestamp.strftime(SIGV4_TIMESTAMP)
    canonical_request = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical_request)
    expected = signer.signature(string_to_sign, aws_request)
    provided = fields["Signature"]
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        raise _signature_mismatch(
            signer.credentials.access_key,
            string_to_sign,
            provided,
            CanonicalRequest=canonical_request,
            CanonicalRequestBytes=_hex_bytes(canonical_request),
        )


def _signature_mismatch(
    access_key: str, string_to_sign: str, provided: str, **canonical: str
) -> S3Error:
    return S3Error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        AWSAccessKeyId=access_key,
        StringToSign=string_to_sign,
        SignatureProvided=provided,
        StringToSignBytes=_hex_bytes(string_to_sign),
        **canonical,
    )


def _scope(credential: str) -> Scope | None:
    """The scope of ``AKID/YYYYMMDD/REGION/SERVICE/aws4_request``, or None if malformed."""
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0] or parts[4] != "aws4_request":
        return None
    return Scope(parts[0], parts[1], parts[2])


def _header_timestamp(headers: Mapping[str, str]) -> datetime | None:
    """X-Amz-Date, or the Date header, which botocore signs when a request carries one."""
    if "x-amz-date" in headers:
        return _amz_date(headers["x-amz-date"])
    try:
        return parsedate_to_datetime(headers["date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _amz_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def _expires(value: str) -> int:
    try:
        expires = int(value)
    except ValueError:
        raise _query_error("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise _query_error("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES_SECONDS:
        raise _query_error(
            f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_EXPIRES_SECONDS}"
        )
    return expires


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex_bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in text.encode())


def _unsupported_mechanism() -> S3Error:
    return S3Error(
        400,
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. "
        "Please use AWS4-HMAC-SHA256.",
    )


def _malformed_header(reason: str) -> S3Error:
    return S3Error(
        400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; {reason}"
    )


def _query_error(message: str) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError", message)
