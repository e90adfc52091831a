"""The local gateway refuses what API Gateway refuses, over real HTTP and raw sockets."""

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
    ("method", "path", "allow"), [("DELETE", "/images", "POST"), ("POST", "/models", "GET")]
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
    }


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"X-Api-Key": "k-12"}])
def test_a_stage_with_api_keys_refuses_requests_without_the_key(keyed_stack, headers):
    status, _, raw = http("GET", f"{keyed_stack.url}/models", headers=headers)
    assert (status, error(raw)) == (403, {"code": "forbidden", "message": "Forbidden"})


def test_a_stage_with_api_keys_serves_the_right_key(keyed_stack):
    status, _, _ = http("GET", f"{keyed_stack.url}/models", headers={"x-api-key": "k-123"})
    assert status == 200


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
        {"code": "gateway_error", "message": "Internal server error"},
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
