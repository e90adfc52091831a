"""The API-key authorizer: one key from ``Authorization: Bearer`` or ``x-api-key``, handed to
API Gateway as ``usageIdentifierKey``; anything else is ``Exception("Unauthorized")`` (a 401).

The event is API Gateway's REQUEST authorizer input (tests/events/authorizer_request.json, after
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html).
"""

import copy
import logging
import subprocess
import sys

import pytest

from service import authorizer
from tests.conftest import load_event

KEY = "k-1234567890abcdefghij"
OTHER = "k-other-key-0987654321"


def event_with(**headers: str) -> dict:
    """The fixture event with exactly ``headers`` (names as given), single- and multi-value."""
    event = copy.deepcopy(load_event("authorizer_request.json"))
    event["headers"] = dict(headers)
    event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    return event


def refused(event: dict) -> str:
    with pytest.raises(Exception) as raised:  # API Gateway matches a bare Exception
        authorizer.handler(event, None)
    assert type(raised.value) is Exception
    return str(raised.value)


def test_a_bearer_key_is_allowed_and_handed_to_api_gateway():
    event = load_event("authorizer_request.json")

    answer = authorizer.handler(event, None)

    assert answer["usageIdentifierKey"] == KEY
    assert answer["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
        ],
    }
    assert answer["context"] == {"keySource": "authorization"}


def test_the_principal_is_a_short_digest_never_the_key():
    principal = authorizer.handler(event_with(Authorization=f"Bearer {KEY}"), None)["principalId"]
    other = authorizer.handler(event_with(Authorization=f"Bearer {OTHER}"), None)["principalId"]
    again = authorizer.handler(event_with(**{"x-api-key": KEY}), None)["principalId"]

    assert principal == again != other
    assert KEY not in principal and len(principal) <= 20


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": KEY},
        {"X-API-Key": KEY},
        {"authorization": f"bearer {KEY}"},
        {"AUTHORIZATION": f"BEARER {KEY}"},
        {"Authorization": f"Bearer   {KEY}  "},
        {"Authorization": f"Bearer {KEY}", "x-api-key": KEY},
        {"Authorization": "", "x-api-key": KEY},
    ],
    ids=[
        "x-api-key",
        "header-case",
        "lowercase-bearer",
        "uppercase",
        "extra-spaces",
        "both-same",
        "empty-authorization",
    ],
)
def test_the_key_is_read_whatever_the_case_and_from_either_header(headers):
    assert authorizer.handler(event_with(**headers), None)["usageIdentifierKey"] == KEY


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "application/json"},
        {"x-api-key": "  "},
        {"Authorization": f"Bearer {KEY}", "x-api-key": OTHER},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {KEY} {OTHER}"},
        {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/execute-api"},
        {"Authorization": f"Token {KEY}", "x-api-key": KEY},
    ],
    ids=[
        "none",
        "other-headers-only",
        "blank-key",
        "two-different-keys",
        "basic-scheme",
        "no-scheme",
        "scheme-without-key",
        "two-tokens",
        "sigv4",
        "malformed-authorization-with-a-good-x-api-key",
    ],
)
def test_no_key_a_malformed_authorization_or_two_keys_is_unauthorized(headers):
    assert refused(event_with(**headers)) == "Unauthorized"  # never the key


def test_a_repeated_header_with_two_keys_is_unauthorized():
    """API Gateway's ``headers`` keeps one value of a repeated header; all are in
    ``multiValueHeaders``."""
    event = event_with(**{"x-api-key": KEY})
    event["multiValueHeaders"] = {"x-api-key": [KEY, OTHER]}

    assert refused(event) == "Unauthorized"


def test_null_headers_are_no_key():
    event = event_with()
    event["headers"] = event["multiValueHeaders"] = None

    assert refused(event) == "Unauthorized"


def test_an_event_without_method_arn_is_a_configuration_error_not_a_401():
    event = event_with(**{"x-api-key": KEY})
    del event["methodArn"]

    with pytest.raises(ValueError, match="methodArn") as raised:
        authorizer.handler(event, None)
    assert KEY not in str(raised.value)


def test_the_authorizer_logs_nothing(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    authorizer.handler(event_with(Authorization=f"Bearer {KEY}"), None)
    refused(event_with(Authorization=f"Bearer {KEY}", **{"x-api-key": OTHER}))

    assert caplog.records == []
    assert capsys.readouterr() == ("", "")


def test_importing_the_authorizer_loads_neither_boto3_nor_the_service():
    """It runs before every request: a cold start must not pay for the SDK or the service."""
    probe = "import sys, service.authorizer; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(result.stdout.split())
    assert not {m for m in loaded if m.split(".")[0] in {"boto3", "botocore"}}
    assert {m for m in loaded if m.startswith("service.")} == {"service.authorizer"}
