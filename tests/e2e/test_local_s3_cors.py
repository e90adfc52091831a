"""CORS over real HTTP on a local stack with ``IMAGEGEN_ALLOWED_ORIGINS``: its bucket evaluates the
CORS rules infra would give it as S3 does (unsigned preflights, 403 AccessForbidden otherwise),
and its gateway grants the listed origins' preflights and lets them read its own refusals."""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
import requests

from devstack.stack import LocalStack
from service.cors import EXPOSED_HEADERS, MAX_AGE_SECONDS
from tests.conftest import http
from tests.e2e.test_local_s3 import SERVICE_CONFIG

APP = "https://app.example.com"
LOCAL_APP = "http://localhost:5173"
OTHER = "https://evil.example.net"
KEY = "k-cors-123"
PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10


@pytest.fixture(scope="module")
def cors_stack() -> Iterator[LocalStack]:
    """A stack with two allowed origins and an API key, as a deployed dev stack with both."""
    env = {"IMAGEGEN_LOG_LEVEL": "WARNING", "IMAGEGEN_ALLOWED_ORIGINS": f"{APP},{LOCAL_APP}"}
    with LocalStack(env=env, api_keys=(KEY,)) as running:
        yield running


@pytest.fixture(scope="module")
def image(cors_stack: LocalStack) -> str:
    key = f"images/{secrets.token_hex(4)}.png"
    cors_stack.s3_client(SERVICE_CONFIG).put_object(
        Bucket=cors_stack.bucket, Key=key, Body=PNG, ContentType="image/png"
    )
    return key


def bucket_preflight(stack: LocalStack, method: str, origin: str | None, path: str = "", **extra):
    """An unsigned preflight, as a browser sends it, to the bucket or one of its keys."""
    headers = {"Access-Control-Request-Method": method, **extra}
    if origin is not None:
        headers["Origin"] = origin
    return http("OPTIONS", f"{stack.s3_url}/{stack.bucket}{path}", headers=headers)


def s3_error(body: bytes) -> str | None:
    return ET.fromstring(body).findtext("Code")


def cors_names(headers) -> list[str]:
    return [name for name in headers if name.lower().startswith("access-control-")]


# -- Preflights to the bucket -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", ""), ("GET", "/images/x.png")])
@pytest.mark.parametrize("origin", [APP, LOCAL_APP])
def test_a_listed_origins_preflight_to_the_bucket_is_granted(cors_stack, method, path, origin):
    status, headers, body = bucket_preflight(cors_stack, method, origin, path)
    assert (status, body) == (200, b"")
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST"
    assert headers["Access-Control-Expose-Headers"] == "ETag, Location"
    assert headers["Access-Control-Max-Age"] == str(MAX_AGE_SECONDS)
    assert "Origin" in headers["Vary"]
    assert "Access-Control-Allow-Headers" not in headers  # none requested


@pytest.mark.parametrize(
    ("method", "origin", "extra"),
    [
        ("POST", OTHER, {}),
        ("GET", "https://app.example.com.evil.example.net", {}),
        ("PUT", APP, {}),
        ("DELETE", APP, {}),
        ("GET", APP, {"Access-Control-Request-Headers": "x-amz-meta-owner"}),
        ("POST", APP, {"Access-Control-Request-Headers": "content-type"}),
    ],
    ids=["other-origin", "suffixed-origin", "put", "delete", "meta-header", "content-type"],
)
def test_a_preflight_no_rule_matches_is_a_403_access_forbidden(cors_stack, method, origin, extra):
    status, headers, body = bucket_preflight(cors_stack, method, origin, "/images/x.png", **extra)
    assert (status, s3_error(body)) == (403, "AccessForbidden")
    assert "This CORS request is not allowed" in ET.fromstring(body).findtext("Message")
    assert cors_names(headers) == []


def test_a_bucket_without_cors_refuses_every_preflight(stack):
    """The default stack lists no origin, so its bucket has no CORS configuration."""
    status, headers, body = bucket_preflight(stack, "GET", APP, "/images/x.png")
    assert (status, s3_error(body)) == (403, "AccessForbidden")
    assert "CORS is not enabled for this bucket" in ET.fromstring(body).findtext("Message")
    assert cors_names(headers) == []


@pytest.mark.parametrize("missing", ["origin", "method"])
def test_a_preflight_without_origin_or_method_is_a_400(cors_stack, missing):
    headers = {"Origin": APP, "Access-Control-Request-Method": "GET"}
    del headers["Origin" if missing == "origin" else "Access-Control-Request-Method"]
    url = f"{cors_stack.s3_url}/{cors_stack.bucket}"
    status, answered, body = http("OPTIONS", url, None, headers)
    assert (status, s3_error(body)) == (400, "BadRequest")
    assert cors_names(answered) == []


# -- Answers to listed and other origins ------------------------------------------------------


def test_a_presigned_get_from_a_listed_origin_may_be_read(cors_stack, image):
    url = cors_stack.s3_client(SERVICE_CONFIG).generate_presigned_url(
        "get_object", Params={"Bucket": cors_stack.bucket, "Key": image}, ExpiresIn=300
    )
    status, headers, body = http("GET", url, headers={"Origin": APP})
    assert (status, body) == (200, PNG)
    assert headers["Access-Control-Allow-Origin"] == APP
    assert headers["Access-Control-Expose-Headers"] == "ETag, Location"
    assert headers.get_all("Access-Control-Allow-Origin") == [APP]  # moto's own, if any, replaced


@pytest.mark.parametrize("origin", [None, OTHER])
def test_a_presigned_get_without_a_listed_origin_carries_no_grant(cors_stack, image, origin):
    url = cors_stack.s3_client(SERVICE_CONFIG).generate_presigned_url(
        "get_object", Params={"Bucket": cors_stack.bucket, "Key": image}, ExpiresIn=300
    )
    status, headers, body = http("GET", url, headers={"Origin": origin} if origin else {})
    assert (status, body) == (200, PNG)
    assert cors_names(headers) == []


def test_a_refused_get_from_a_listed_origin_is_readable_too(cors_stack, image):
    """S3 adds the CORS headers to its refusals, so the app can tell why."""
    url = f"{cors_stack.s3_url}/{cors_stack.bucket}/{image}"  # unsigned: the bucket is private
    status, headers, body = http("GET", url, headers={"Origin": APP})
    assert status == 403 and s3_error(body) is not None
    assert headers["Access-Control-Allow-Origin"] == APP


def test_a_browser_upload_from_a_listed_origin_may_be_read(cors_stack):
    key = f"uploads/{secrets.token_hex(4)}.png"
    form = cors_stack.s3_client(SERVICE_CONFIG).generate_presigned_post(
        Bucket=cors_stack.bucket,
        Key=key,
        Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}, ["content-length-range", 1, 1024]],
    )
    answer = requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("x.png", PNG, "image/png")},
        headers={"Origin": APP},
        timeout=30,
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    stored = cors_stack.s3_client(SERVICE_CONFIG).get_object(Bucket=cors_stack.bucket, Key=key)
    assert stored["Body"].read() == PNG


def test_the_first_matching_rule_decides_with_wildcards_and_headers_without_case(cors_stack):
    """A bucket of its own on the same S3, with rules infra never writes, to show S3's
    evaluation: the first rule matching origin and method, then its AllowedHeader entries."""
    s3 = cors_stack.s3_client(SERVICE_CONFIG)
    bucket = f"cors-rules-{secrets.token_hex(4)}"
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": cors_stack.region}
    )
    rules = [
        {
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["PUT"],
            "AllowedHeaders": ["Content-*"],
            "MaxAgeSeconds": 60,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["PUT", "GET"], "AllowedHeaders": ["*"]},
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    url = f"{cors_stack.s3_url}/{bucket}/k"

    def ask(origin: str, method: str, requested: str) -> tuple[int, object]:
        headers = {"Origin": origin, "Access-Control-Request-Method": method}
        if requested:
            headers["Access-Control-Request-Headers"] = requested
        status, answered, _ = http("OPTIONS", url, None, headers)
        return status, answered

    status, headers = ask("https://a.example.com", "PUT", "CONTENT-TYPE, content-md5")
    assert status == 200
    assert headers["Access-Control-Allow-Methods"] == "PUT"  # the first rule
    assert headers["Access-Control-Allow-Headers"] == "CONTENT-TYPE, content-md5"
    assert headers["Access-Control-Max-Age"] == "60"
    # The first rule matches origin and method but not the header: the next rule may grant.
    status, headers = ask("https://a.example.com", "PUT", "x-amz-meta-owner")
    assert (status, headers["Access-Control-Allow-Methods"]) == (200, "PUT, GET")
    assert "Access-Control-Max-Age" not in headers
    status, headers = ask(OTHER, "GET", "")
    assert (status, headers["Access-Control-Allow-Origin"]) == (200, OTHER)
    status, headers = ask(OTHER, "DELETE", "")
    assert status == 403 and cors_names(headers) == []


# -- The local gateway ------------------------------------------------------------------------


def test_the_gateway_grants_a_listed_origins_preflight_without_a_key(cors_stack):
    headers = {
        "Origin": LOCAL_APP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    status, answered, body = http("OPTIONS", f"{cors_stack.url}/images", None, headers)
    assert (status, body) == (204, b"")
    assert answered["Access-Control-Allow-Origin"] == LOCAL_APP
    assert answered["Access-Control-Allow-Methods"] == "GET, POST"
    allowed = {h.strip() for h in answered["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert answered["Access-Control-Max-Age"] == str(MAX_AGE_SECONDS)
    assert answered["Vary"] == "Origin"


def test_the_gateway_passes_on_the_lambdas_refusal_of_another_origin(cors_stack):
    headers = {"Origin": OTHER, "Access-Control-Request-Method": "GET"}
    status, answered, body = http("OPTIONS", f"{cors_stack.url}/models", None, headers)
    assert (status, json.loads(body)["error"]["code"]) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in answered


def test_a_listed_origin_may_read_the_gateways_401(cors_stack):
    status, headers, body = http("GET", f"{cors_stack.url}/models", headers={"Origin": APP})
    assert (status, json.loads(body)["error"]["code"]) == (401, "unauthorized")
    assert headers["WWW-Authenticate"] == "Bearer"
    # Several origins: the gateway response echoes the request's Origin.
    assert headers["Access-Control-Allow-Origin"] == APP
    assert headers["Access-Control-Expose-Headers"] == ", ".join(EXPOSED_HEADERS)
    assert headers["Vary"] == "Origin"


def test_a_401_without_an_origin_carries_no_allow_origin(cors_stack):
    status, headers, _ = http("GET", f"{cors_stack.url}/models")
    assert status == 401
    assert "Access-Control-Allow-Origin" not in headers
    assert headers["Vary"] == "Origin"


def test_a_keyed_request_from_a_listed_origin_is_answered_with_the_grant(cors_stack):
    headers = {"Origin": APP, "Authorization": f"Bearer {KEY}"}
    status, answered, _ = http("GET", f"{cors_stack.url}/models", headers=headers)
    assert status == 200
    assert answered.get_all("Access-Control-Allow-Origin") == [APP]


def test_a_stack_without_origins_keeps_options_a_405_and_its_refusals_closed(stack):
    headers = {"Origin": APP, "Access-Control-Request-Method": "GET"}
    status, answered, body = http("OPTIONS", f"{stack.url}/models", None, headers)
    assert (status, json.loads(body)["error"]["code"]) == (405, "method_not_allowed")
    assert cors_names(answered) == []
    status, answered, _ = http("GET", f"{stack.url}/nope", headers={"Origin": APP})
    assert status == 404 and cors_names(answered) == []
