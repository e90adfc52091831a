"""API Gateway REQUEST authorizer: find the caller's API key; API Gateway checks it.

Clients send the key as ``Authorization: Bearer <key>`` (what OpenAI SDKs send) or in
``x-api-key`` (what API Gateway reads by itself). With the API's key source set to AUTHORIZER,
API Gateway takes the key from this function's ``usageIdentifierKey`` and checks it against the
stage's usage plans, answering 403 for a key that is not one of them
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html).
So this function knows no keys and reads no store: it only finds the one key the request names.

No key, a malformed ``Authorization`` header, or two different keys raise
``Exception("Unauthorized")``, which API Gateway answers with 401 (its UNAUTHORIZED gateway
response; https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
and call-api-with-api-gateway-lambda-authorization.html). Any other exception is a 500.

Standard library only and nothing at import time: this runs before every request, so its cold
start is part of every first request's latency. It never logs, and no exception names the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

AUTHORIZATION = "authorization"
API_KEY_HEADER = "x-api-key"
BEARER = "bearer"  # auth-schemes are case-insensitive (RFC 9110, section 11.1)
UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway turns into a 401


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """Allow the request and hand API Gateway the key to check; refuse one without a key."""
    method_arn = event.get("methodArn")
    if not isinstance(method_arn, str) or not method_arn:
        # Not an API Gateway REQUEST authorizer event: a configuration error (500), not a 401.
        raise ValueError("the event has no methodArn: not an API Gateway authorizer event")
    key, source = request_key(event)
    return {
        "principalId": principal_id(key),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}
            ],
        },
        # Caching is off (TTL 0), so the policy is for this one method call.
        "usageIdentifierKey": key,
        "context": {"keySource": source},
    }


def request_key(event: Mapping[str, Any]) -> tuple[str, str]:
    """The one key the request carries and the header it came in; ``Exception("Unauthorized")``
    if there is none, the ``Authorization`` header is not ``Bearer <key>``, or the request names
    two different keys (a mistake worth reporting rather than guessing which one was meant)."""
    found: dict[str, str] = {}
    for value in _values(event, AUTHORIZATION):
        found.setdefault(_bearer_token(value), AUTHORIZATION)
    for value in _values(event, API_KEY_HEADER):
        found.setdefault(value, API_KEY_HEADER)
    if len(found) != 1:
        raise Exception(UNAUTHORIZED)  # API Gateway matches this exact message: a 401
    ((key, source),) = found.items()
    return key, source


def principal_id(key: str) -> str:
    """A stable, non-reversible name for the key: access logs can tell callers apart
    ($context.authorizer.principalId) without ever holding the key."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _values(event: Mapping[str, Any], name: str) -> list[str]:
    """Every non-empty value of header ``name`` (any case), from ``headers`` and
    ``multiValueHeaders``: a repeated header is seen whole, not only its last value."""
    values: list[str] = []
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if not isinstance(headers, Mapping):
            continue
        for header, given in headers.items():
            if not isinstance(header, str) or header.lower() != name:
                continue
            for value in _as_list(given):
                if isinstance(value, str) and value.strip():
                    values.append(value.strip())
    return values


def _as_list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else [value]


def _bearer_token(value: str) -> str:
    """The token of ``Bearer <token>``; anything else (another scheme, no token, spaces inside
    the token) is Unauthorized."""
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() != BEARER:
        raise Exception(UNAUTHORIZED)
    return parts[1]
