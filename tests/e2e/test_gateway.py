"""The local gateway refuses what API Gateway refuses, over real HTTP and raw sockets."""

import base64
import copy
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from api_gateway import definition
from devstack.gateway import (
    API_GATEWAY_MAX_BODY,
    LAMBDA_MAX_REQUEST,
    ApiDefinition,
    GatewayRefusal,
    GatewayServer,
    invocation_payload,
)
from devstack.stack import LocalStack
from service import authorizer as key_authorizer
from tests.conftest import http


@pytest.fixture(scope="module")
def keyed_stack():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}, api_keys=("k-123",)) as running:
        yield running


def error(raw: bytes) -> dict:
    return json.loads(raw)["error"]


def raw_exchange(url: str, data: bytes, timeout: float = 10.0, *, done: bool = False) -> bytes:
    """Send raw bytes (then end the stream if ``done``), read until the server closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        if done:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_an_unknown_route_is_a_json_404_from_the_gateway(stack):
    status, headers, raw = http("GET", f"{stack.url}/nope")
    assert (status, error(raw)["code"]) == (404, "not_found")
    assert "GET /models" in error(raw)["message"]  # not "Missing Authentication Token"
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("DELETE", "/images", "GET, POST"), ("POST", "/models", "GET"), ("POST", "/", "GET")],
)
def test_a_wrong_method_is_405_with_allow(stack, method, path, allow):
    status, headers, raw = http(method, f"{stack.url}{path}", b"{}" if method == "POST" else None)
    assert (status, error(raw)["code"], headers["Allow"]) == (405, "method_not_allowed", allow)


@pytest.mark.parametrize("query", ["", "?key=", "?key=%20"])
def test_a_missing_or_blank_required_parameter_is_refused_by_the_gateway(stack, query):
    status, _, raw = http("GET", f"{stack.url}/images/url{query}")
    assert status == 400
    assert error(raw) == {
        "code": "invalid_field",
        "message": "Missing required request parameters: [key]",
        "type": "invalid_request_error",
        "param": None,
    }


UNAUTHORIZED = {
    "code": "unauthorized",
    "message": "no usable API key: send your API key as 'Authorization: Bearer <key>' or in"
    " the 'x-api-key' header, one key per request",
    "type": "authentication_error",
    "param": None,
}
INVALID_KEY = {
    "code": "invalid_api_key",
    "message": "the API key is not valid for this API",
    "type": "authentication_error",
    "param": None,
}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic k-123"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer k-123", "x-api-key": "k-999"},
    ],
    ids=["no-key", "other-scheme", "no-token", "two-different-keys"],
)
def test_a_request_without_one_usable_key_is_a_401_saying_how_to_send_it(keyed_stack, headers):
    """The authorizer's Exception("Unauthorized") is API Gateway's UNAUTHORIZED response."""
    status, answer_headers, raw = http("GET", f"{keyed_stack.url}/models", headers=headers)
    assert (status, error(raw)) == (401, UNAUTHORIZED)
    assert answer_headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": "wrong"}, {"X-Api-Key": "k-12"}, {"Authorization": "Bearer k-1234"}],
    ids=["x-api-key", "prefix-of-a-key", "bearer"],
)
def test_a_key_that_is_not_the_stages_is_a_401_naming_bearer(keyed_stack, headers):
    status, answer_headers, raw = http("GET", f"{keyed_stack.url}/models", headers=headers)
    assert (status, error(raw)) == (401, INVALID_KEY)
    assert answer_headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("name", ["x-api-key", "Authorization"])
def test_a_repeated_key_header_is_refused_as_api_gateway_sees_both(keyed_stack, name):
    """API Gateway hands the authorizer every value of a repeated header (multiValueHeaders)."""
    key = "Bearer k-123" if name == "Authorization" else "k-123"
    wrong = "Bearer bad" if name == "Authorization" else "bad"
    raw = (
        f"GET /models HTTP/1.1\r\nHost: x\r\n{name}: {wrong}\r\n{name}: {key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    answer = raw_exchange(keyed_stack.url, raw)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_bearer_token_on_an_unknown_route_is_a_404_that_does_not_echo_it(keyed_stack):
    status, _, raw = http(
        "POST", f"{keyed_stack.url}/v1/chat/completions", b"{}", {"Authorization": "Bearer k-123"}
    )
    assert (status, error(raw)["code"]) == (404, "not_found")
    assert "k-123" not in raw.decode() and "no such route" in error(raw)["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "k-123"},
        {"Authorization": "Bearer k-123"},
        {"authorization": "bearer k-123"},
        {"Authorization": "Bearer k-123", "X-API-Key": "k-123"},
    ],
    ids=["x-api-key", "bearer", "lowercase-bearer", "both-headers-same-key"],
)
def test_a_stage_with_api_keys_serves_the_right_key_in_either_header(keyed_stack, headers):
    status, _, _ = http("GET", f"{keyed_stack.url}/models", headers=headers)
    assert status == 200


def test_openai_sdks_read_the_gateways_refusals(keyed_stack):
    """The OpenAI SDK raises by status and reads ``error.type``/``code``/``param``."""
    openai = pytest.importorskip("openai")
    wrong = openai.OpenAI(api_key="k-999", base_url=keyed_stack.url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.models.list()
    assert (denied.value.type, denied.value.code, denied.value.param) == (
        "authentication_error",
        "invalid_api_key",
        None,
    )
    assert "not valid for this API" in denied.value.message
    two_keys = openai.OpenAI(
        api_key="k-123",
        base_url=keyed_stack.url,
        max_retries=0,
        default_headers={"x-api-key": "k-999"},
    )
    with pytest.raises(openai.AuthenticationError) as unauthorized:
        two_keys.models.list()
    assert (unauthorized.value.type, unauthorized.value.code) == (
        "authentication_error",
        "unauthorized",
    )


def recording_server(answers: list, **options) -> GatewayServer:
    """A gateway whose Lambda records each event it is given and answers 200."""

    def handler(event, context):
        answers.append(event)
        return {"statusCode": 200, "body": ""}

    return GatewayServer(handler, dict, **options).start()


def test_the_authorizer_gets_a_request_event_and_the_lambda_its_principal():
    seen: list[dict] = []
    asked: list[dict] = []

    def authorizer(event, context):
        asked.append(event)
        return key_authorizer.handler(event, context)

    server = recording_server(seen, api_keys=("k-123",), authorizer=authorizer)
    try:
        url = f"{server.url}/images/url?key=images/a.png"
        status, _, _ = http("GET", url, headers={"Authorization": "Bearer k-123"})
    finally:
        server.stop()
    assert status == 200
    (event,) = asked
    assert event["type"] == "REQUEST" and event["httpMethod"] == "GET"
    assert event["methodArn"].endswith("/local/GET/images/url")
    assert (event["resource"], event["path"]) == ("/images/url", "/images/url")
    assert event["queryStringParameters"] == {"key": "images/a.png"}
    assert "body" not in event  # a REQUEST authorizer never sees the body
    (proxy,) = seen
    principal = key_authorizer.principal_id("k-123")
    assert proxy["requestContext"]["authorizer"] == {
        "principalId": principal,
        "keySource": "authorization",
    }


def test_a_stage_key_checked_after_the_authorizer_is_the_one_it_returns():
    """Key source AUTHORIZER: ``usageIdentifierKey`` is what counts, not the headers."""

    def authorizer(event, context):
        return {**key_authorizer.handler(event, context), "usageIdentifierKey": "k-123"}

    seen: list[dict] = []
    server = recording_server(seen, api_keys=("k-123",), authorizer=authorizer)
    try:
        status, _, _ = http("GET", f"{server.url}/models", headers={"x-api-key": "not-a-key"})
    finally:
        server.stop()
    assert status == 200 and len(seen) == 1


def allow(event, effect="Allow", resource=None, **extra):
    return {
        "principalId": "p",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    "Resource": resource or event["methodArn"],
                }
            ],
        },
        "usageIdentifierKey": "k-123",
        **extra,
    }


@pytest.mark.parametrize(
    ("authorizer", "status", "code"),
    [
        (lambda e, c: 1 / 0, 500, "authorizer_error"),
        (lambda e, c: {"principalId": "p"}, 500, "authorizer_error"),
        (lambda e, c: allow(e, context={"nested": {"a": 1}}), 500, "authorizer_error"),
        (lambda e, c: allow(e, effect="Maybe"), 500, "authorizer_error"),
        (lambda e, c: allow(e, effect="Deny"), 403, "forbidden"),
        (lambda e, c: allow(e, resource=e["methodArn"] + "/other"), 403, "forbidden"),
        (lambda e, c: allow(e, resource="arn:aws:execute-api:local:*/GET/*"), 200, None),
        (lambda e, c: allow(e, usageIdentifierKey="k-999"), 401, "invalid_api_key"),
        (lambda e, c: allow(e, usageIdentifierKey=None), 401, "invalid_api_key"),
    ],
    ids=[
        "function-error",
        "no-policy",
        "context-not-flat",
        "unknown-effect",
        "explicit-deny",
        "no-allow-for-the-method",
        "wildcard-allow",
        "key-not-the-stages",
        "no-key",
    ],
)
def test_what_the_authorizer_answers_decides_like_api_gateway(authorizer, status, code):
    seen: list[dict] = []
    server = recording_server(seen, api_keys=("k-123",), authorizer=authorizer)
    try:
        answer, headers, raw = http("GET", f"{server.url}/models")
    finally:
        server.stop()
    assert answer == status
    if code is not None:
        assert error(raw)["code"] == code and seen == []
        assert headers["Content-Type"] == "application/json"


FORM = (
    b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
    b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\x00\xff\xfe\r\n--XyZ--\r\n"
)


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=XyZ", "Multipart/Form-Data;boundary=XyZ"]
)
def test_a_multipart_body_reaches_the_lambda_base64_encoded_and_byte_exact(content_type):
    seen: list[dict] = []
    server = recording_server(seen)
    try:
        status, _, _ = http(
            "POST", f"{server.url}/images/edits", FORM, {"Content-Type": content_type}
        )
    finally:
        server.stop()
    assert status == 200
    (event,) = seen
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == FORM


def test_a_text_multipart_body_is_still_base64_and_json_stays_text():
    """Binary media types go by Content-Type, not by whether the bytes happen to be UTF-8."""
    seen: list[dict] = []
    text_form = (
        b'--XyZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na fox\r\n--XyZ--\r\n'
    )
    server = recording_server(seen)
    try:
        multipart = {"Content-Type": "multipart/form-data; boundary=XyZ"}
        http("POST", f"{server.url}/images/edits", text_form, multipart)
        http(
            "POST",
            f"{server.url}/images",
            b'{"prompt": "a fox"}',
            {"Content-Type": "application/json"},
        )
    finally:
        server.stop()
    form, json_event = seen
    assert (form["isBase64Encoded"], base64.b64decode(form["body"])) == (True, text_form)
    assert (json_event["isBase64Encoded"], json_event["body"]) == (False, '{"prompt": "a fox"}')


def test_a_chunked_body_is_decoded(stack):
    body = json.dumps({"prompt": "a chunked heron"}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]) if part)
    request = (
        b"POST /images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked + b"0\r\n\r\n"
    )
    reply = raw_exchange(stack.url, request)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: abc\r\n",
        b"Content-Length: -1\r\n",
        "Content-Length: \u00b2\r\n".encode("latin-1"),
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
    ],
)
def test_bad_framing_is_a_json_400_and_the_body_is_never_a_second_request(stack, framing):
    smuggled = b"GET /models HTTP/1.1\r\nHost: x\r\n\r\n"
    request = b"POST /images HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + smuggled
    reply = raw_exchange(stack.url, request)
    assert reply.startswith(b"HTTP/1.1 400")
    assert reply.count(b"HTTP/1.1 ") == 1  # the connection closed; nothing else was answered
    assert b'"code": "client_error"' in reply


def test_a_stalled_client_is_cut_off():
    server = GatewayServer(lambda e, c: {}, dict, client_timeout_seconds=0.3).start()
    try:
        started = b"POST /images HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        assert raw_exchange(server.url, started, timeout=10) == b""
    finally:
        server.stop()


@pytest.mark.parametrize(
    "answer",
    [
        lambda e, c: {"body": "no status"},
        lambda e, c: {"statusCode": 200, "body": {"not": "a string"}},
        lambda e, c: 1 / 0,
        lambda e, c: {"statusCode": 200, "body": "x" * (6 * 1024 * 1024 + 1)},
    ],
    ids=["no-status", "body-not-string", "function-error", "over-6-mb"],
)
def test_a_failed_or_malformed_lambda_answer_is_a_502(answer):
    server = GatewayServer(answer, dict).start()
    try:
        status, _, raw = http("GET", f"{server.url}/models")
    finally:
        server.stop()
    assert (status, error(raw)) == (
        502,
        {
            "code": "gateway_error",
            "message": "Internal server error",
            "type": "server_error",
            "param": None,
        },
    )


@pytest.fixture
def recording_gateway():
    """A gateway whose Lambda records the size of each event it is given."""
    sizes: list[int] = []

    def handler(event, context):
        sizes.append(len(invocation_payload(event)))
        return {"statusCode": 200, "body": ""}

    server = GatewayServer(handler, dict).start()
    try:
        yield server, sizes
    finally:
        server.stop()


def body_for_event_of(size: int, server: GatewayServer, sizes: list[int]) -> bytes:
    """A body whose event is ``size`` bytes: only the body differs between events of bodies with
    7-digit lengths, so one probe measures the rest."""
    probe = b"x" * 1_000_000
    assert http("POST", f"{server.url}/images", probe)[0] == 200
    return b"x" * (size - (sizes.pop() - len(probe)))


def test_an_event_of_exactly_lambdas_request_limit_reaches_the_lambda(recording_gateway):
    server, sizes = recording_gateway
    body = body_for_event_of(LAMBDA_MAX_REQUEST, server, sizes)

    status, _, _ = http("POST", f"{server.url}/images", body)

    assert (status, sizes) == (200, [LAMBDA_MAX_REQUEST])


def test_an_event_a_byte_over_lambdas_request_limit_is_api_gateways_413(recording_gateway):
    server, sizes = recording_gateway
    body = body_for_event_of(LAMBDA_MAX_REQUEST + 1, server, sizes)

    status, headers, raw = http("POST", f"{server.url}/images", body)

    assert (status, raw) == (413, b'{"message": "Request Too Long"}')  # not customizable
    assert headers["Content-Type"] == "application/json"
    assert sizes == []  # the Lambda never saw it


def test_a_body_over_10_mb_is_the_same_uncustomizable_413(stack):
    request = b"POST /images HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (
        API_GATEWAY_MAX_BODY + 1
    )

    reply = raw_exchange(stack.url, request, done=True)

    assert reply.startswith(b"HTTP/1.1 413")
    assert reply.endswith(b'\r\n\r\n{"message": "Request Too Long"}')


def test_a_lambda_slower_than_the_integration_timeout_is_a_504(monkeypatch):
    monkeypatch.setattr(definition, "INTEGRATION_TIMEOUT_MS", 200)
    release = threading.Event()
    server = GatewayServer(lambda e, c: release.wait() and {}, dict).start()
    try:
        status, _, raw = http("GET", f"{server.url}/models")
    finally:
        release.set()
        server.stop()
    assert (status, error(raw)["code"]) == (504, "gateway_timeout")


def with_body_validation() -> tuple[ApiDefinition, dict]:
    """The definition as it would be with API Gateway's body validator switched on."""
    doc = copy.deepcopy(
        definition.api_gateway_definition(
            definition.load(), invoke_arn="local", api_key_required=False, title="t"
        )
    )
    doc["x-amazon-apigateway-request-validators"]["body"] = {
        "validateRequestBody": True,
        "validateRequestParameters": False,
    }
    operation = doc["paths"]["/images"]["post"]
    operation["x-amazon-apigateway-request-validator"] = "body"
    return ApiDefinition(doc, ()), operation


@pytest.mark.parametrize(
    "body",
    [
        b'{"prompt": 5}',
        b'{"prompt": "a", "seed": ' + b"9" * 5000 + b"}",
        b'{"prompt": "a", "aspect_ratio": "1:0"}',
        b'{"prompt": "a", "unknown": 1}',
        b"{",
    ],
)
def test_the_body_validator_refuses_what_the_schema_refuses(body):
    api, operation = with_body_validation()
    with pytest.raises(GatewayRefusal) as caught:
        api.validate(operation, [], {"Content-Type": "application/json"}, body)
    assert (caught.value.kind, caught.value.message) == ("BAD_REQUEST_BODY", "Invalid request body")


def test_the_body_validator_skips_content_types_without_a_model():
    api, operation = with_body_validation()
    api.validate(operation, [], {"Content-Type": "text/plain"}, b"{")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /models HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"NONSENSE\r\n\r\n", 400),
    ],
    ids=["header-over-64k", "http2-preface", "bad-request-line"],
)
def test_http_level_refusals_are_json_too(stack, request_bytes, status):
    reply = raw_exchange(stack.url, request_bytes)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status)
    assert b"Content-Type: application/json" in head
    assert "code" in json.loads(body)["error"]


def test_a_body_sent_to_a_local_route_is_never_a_second_request(stack):
    before = stack.bedrock.calls["total"]
    smuggled = (
        b"POST /images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 15\r\n\r\n{"prompt": "a"}'
    )
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    request += b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled
    reply = raw_exchange(stack.url, request, done=True)
    assert reply.count(b"HTTP/1.1 ") == 1 and b'"status": "ok"' in reply
    assert stack.bedrock.calls["total"] == before
