"""A local REST gateway that behaves like API Gateway in front of the Lambda.

It reads the definition infra deploys (``api_gateway.definition``) and does what API Gateway
does with it, before the real ``lambda_handler`` sees a proxy event:
- routes and methods from the document (``x-amazon-apigateway-any-method`` included); anything
  else is the ``MISSING_AUTHENTICATION_TOKEN`` gateway response;
- API keys in ``x-api-key`` when the operation's security asks for one (``INVALID_API_KEY``);
- the request validators the operation names: required query parameters present and not blank
  (``BAD_REQUEST_PARAMETERS``), bodies against the method's JSON schema for the request's content
  type, skipped when no content type matches (``BAD_REQUEST_BODY``) [1];
- 10 MB payloads (``REQUEST_TOO_LARGE``) [2], a 29 s integration timeout (``INTEGRATION_TIMEOUT``)
  [2], and Lambda's 6 MB limits [3]: on the invocation payload, the whole proxy event, which Lambda
  refuses and API Gateway then answers ``REQUEST_TOO_LARGE`` [6], so the handler never sees it; and
  on the response, where a Lambda answer that is too large or not a valid proxy response is a 502
  "Internal server error" [4];
- every refusal is the definition's gateway response, rendered by simple variable substitution
  as API Gateway does [5], except ``REQUEST_TOO_LARGE``, which API Gateway does not let an API
  customize [7]; only JSON comes back.
HTTP framing is strict: conflicting or invalid ``Content-Length`` is a 400, ``Transfer-Encoding:
chunked`` is decoded (any other coding is a 400), a refused body is never read as a next request
(the connection closes), and a client that stalls is cut off.

It also answers ``GET /health`` and ``GET /openapi.yaml``, which exist only locally.

[1] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html
[2] https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
[3] https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
[4] https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
[5] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseTemplates.html
[6] Not documented; seen from a REST API with a Lambda proxy integration: 413 and
    ``{"message": "Request Too Long"}`` (https://github.com/koki-develop/lgtm-generator/issues/10),
    as AWS's own emulator answers (aws/aws-lambda-dotnet, Tools/LambdaTestTool-v2,
    ``InvokeResponseExtensions.ToHttpApiRequestTooLargeResponse``, pull request 1990). Default
    status 413: https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
[7] API Gateway's known issues for REST APIs: customizing the 413 REQUEST_TOO_LARGE gateway
    response is not supported, https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html
    (read as quoted in https://zenn.dev/august/articles/67c76de854cb6d; English text unverified)
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from api_gateway import definition
from devstack.background import BackgroundHTTPServer
from devstack.request_schema import validation_errors

OPENAPI_PATH = definition.OPENAPI_PATH
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # [2]
LAMBDA_MAX_REQUEST = 6 * 1024 * 1024  # [3] the invocation payload: the event's JSON
LAMBDA_MAX_RESPONSE = 6 * 1024 * 1024  # [3]
CLIENT_TIMEOUT_SECONDS = 10.0  # a client that sends nothing for this long is cut off
LOCAL_ONLY = {"/health", "/openapi.yaml"}
Handler = Callable[[dict, object], dict]


class LambdaContext:
    """The parts of the Lambda context object the handler uses."""

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "imagegen-local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class GatewayRefusal(Exception):
    """API Gateway answers itself with the gateway response of ``kind``."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def to_event(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    resource: str | None = None,
) -> dict:
    """Build the API Gateway REST proxy event for one HTTP request."""
    url = urlsplit(target)
    pairs = parse_qsl(url.query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": resource or url.path,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": None,
        "stageVariables": None,
        "body": text if body else None,
        "isBase64Encoded": is_b64,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "local",
            "httpMethod": method,
            "path": f"/local{url.path}",
            "identity": {"sourceIp": source_ip},
        },
    }


def invocation_payload(event: dict) -> bytes:
    """The event as Lambda receives it, what its 6 MB request limit measures. How API Gateway
    serializes the event is not documented: compact UTF-8 JSON is the smallest it can be, so no
    event AWS would take is refused here."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


class ApiDefinition:
    """The deployed API document, asked the questions API Gateway asks of it."""

    def __init__(self, doc: dict[str, Any], api_keys: tuple[str, ...]) -> None:
        self.doc = doc
        self.api_keys = api_keys
        self.responses = doc.get("x-amazon-apigateway-gateway-responses", {})
        self.validators = doc.get("x-amazon-apigateway-request-validators", {})

    def operation(self, path: str, method: str) -> tuple[str, dict]:
        """The resource and operation for ``method path``, or the 'no such route' refusal."""
        operations = self.doc["paths"].get(path)
        if operations is not None:
            found = operations.get(method.lower()) or operations.get(
                "x-amazon-apigateway-any-method"
            )
            if found is not None:
                return path, found
        raise GatewayRefusal("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")

    def check_api_key(self, operation: dict, headers: dict[str, str]) -> None:
        if not operation.get("security") or not self.api_keys:
            return
        given = _header(headers, definition.API_KEY_HEADER) or ""
        if not any(hmac.compare_digest(given.encode(), k.encode()) for k in self.api_keys):
            raise GatewayRefusal("INVALID_API_KEY", "Forbidden")

    def validate(self, operation: dict, query: list[tuple[str, str]], headers, body: bytes):
        validator = self.validators.get(operation.get("x-amazon-apigateway-request-validator"))
        if not validator:
            return
        if validator.get("validateRequestParameters"):
            given = {k for k, v in query if v.strip()}
            missing = [
                p["name"]
                for p in operation.get("parameters", [])
                if p.get("required") and p.get("in") == "query" and p["name"] not in given
            ]
            if missing:
                raise GatewayRefusal(
                    "BAD_REQUEST_PARAMETERS",
                    f"Missing required request parameters: [{', '.join(missing)}]",
                )
        if validator.get("validateRequestBody"):
            content_type = (_header(headers, "content-type") or "application/json").split(";")[0]
            content = operation.get("requestBody", {}).get("content", {})
            media = content.get(content_type.strip().lower()) or content.get("$default")
            if media is None:  # no model for this content type: no validation [1]
                return
            errors = validation_errors(media["schema"], self.doc, body)
            if errors:
                raise GatewayRefusal("BAD_REQUEST_BODY", "Invalid request body")

    def render(self, refusal: GatewayRefusal, request_id: str) -> tuple[int, bytes, dict]:
        """The gateway response for ``refusal``, as API Gateway renders it [5]."""
        response = self._response(refusal)
        status = refusal.status or int(response.get("statusCode", _DEFAULT_STATUS[refusal.kind]))
        template = response.get("responseTemplates", {}).get(
            "application/json", '{"message": $context.error.messageString}'
        )
        body = (
            template.replace("$context.error.messageString", json.dumps(refusal.message))
            .replace("$context.error.message", refusal.message)
            .replace("$context.error.responseType", refusal.kind)
            .replace("$context.requestId", request_id)
        )
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        for name, value in response.get("responseParameters", {}).items():
            headers[name.removeprefix("gatewayresponse.header.")] = value.strip("'")
        return status, body.encode(), headers

    def _response(self, refusal: GatewayRefusal) -> dict:
        """The definition's response for the refusal's type, else for its status family; none
        where API Gateway ignores the definition [7]."""
        if refusal.kind in _NOT_CUSTOMIZABLE:
            return {}
        family = "DEFAULT_5XX" if (refusal.status or 400) >= 500 else "DEFAULT_4XX"
        return self.responses.get(refusal.kind) or self.responses.get(family, {})


# API Gateway's own statuses for the response types the local gateway can raise.
_DEFAULT_STATUS = {
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "INVALID_API_KEY": 403,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "REQUEST_TOO_LARGE": 413,
    "INTEGRATION_TIMEOUT": 504,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 502,
}
# Response types API Gateway answers with its own default whatever the definition says [7].
_NOT_CUSTOMIZABLE = frozenset({"REQUEST_TOO_LARGE"})
_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²"
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})(;[^\r\n]*)?\r\n")


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _proxy_response(result: Any) -> tuple[int, bytes, dict[str, str]]:
    """Check the Lambda's answer the way a proxy integration does; 502 if it is malformed [4]."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502)
    headers = result.get("headers") or {}
    body = result.get("body") or ""
    if not isinstance(headers, dict) or not isinstance(body, str):
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502)
    if len(json.dumps(result)) > LAMBDA_MAX_RESPONSE:
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502)
    try:
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    except (binascii.Error, ValueError):
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502) from None
    return result["statusCode"], payload, {str(k): str(v) for k, v in headers.items()}


class GatewayServer(BackgroundHTTPServer):
    """Threaded HTTP server that invokes ``handler`` per request; start(), then stop()."""

    thread_name = "gateway"

    def __init__(
        self,
        handler: Handler,
        health: Callable[[], dict],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timeout_seconds: float = 29.0,
        api_keys: tuple[str, ...] = (),
        client_timeout_seconds: float = CLIENT_TIMEOUT_SECONDS,
    ) -> None:
        """``timeout_seconds`` is the Lambda's own timeout; the integration's comes from the
        definition."""
        self.handler = handler
        self.health = health
        self.timeout_seconds = timeout_seconds
        self.client_timeout_seconds = client_timeout_seconds
        self.api = ApiDefinition(
            definition.api_gateway_definition(
                definition.load(),
                invoke_arn="local",
                api_key_required=bool(api_keys),
                title="imagegen-local",
            ),
            tuple(api_keys),
        )
        self._lambdas = ThreadPoolExecutor(64, thread_name_prefix="lambda")
        super().__init__(host, port)

    def stop(self) -> None:
        super().stop()
        self._lambdas.shutdown(wait=True, cancel_futures=True)

    def invoke(self, operation: dict, event: dict) -> tuple[int, bytes, dict[str, str]]:
        """Run the Lambda with the operation's integration timeout; an event over Lambda's request
        limit is refused before it reaches the Lambda, as Lambda refuses it [3][6]."""
        if len(invocation_payload(event)) > LAMBDA_MAX_REQUEST:
            raise GatewayRefusal("REQUEST_TOO_LARGE", "Request Too Long")
        integration = operation["x-amazon-apigateway-integration"]
        future = self._lambdas.submit(self.handler, event, LambdaContext(self.timeout_seconds))
        try:
            result = future.result(timeout=integration["timeoutInMillis"] / 1000)
        except FutureTimeout:
            raise GatewayRefusal("INTEGRATION_TIMEOUT", "Endpoint request timed out") from None
        except Exception:  # the function failed: API Gateway answers 502 [4]
            raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502) from None
        return _proxy_response(result)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = gateway.client_timeout_seconds  # socket timeout for every read

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def send_error(self, code: int, message: str | None = None, explain=None) -> None:
                """http.server's own refusals (a bad request line, headers over 64 KiB, another
                HTTP version) as JSON gateway responses, never its HTML page."""
                self.close_connection = True
                self.request_version = self.protocol_version  # unparsed: answer with headers
                kind = "DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX"
                text = message or HTTPStatus(code).phrase
                refusal = GatewayRefusal(kind, text, code)
                self._send(*gateway.api.render(refusal, str(uuid.uuid4())))

            def _json(self, status: int, payload: dict) -> None:
                self._send(
                    status, json.dumps(payload).encode(), {"Content-Type": "application/json"}
                )

            def _read_chunked(self) -> bytes:
                body = bytearray()
                while True:
                    match = _CHUNK_SIZE.fullmatch(self.rfile.readline(1024))
                    if not match:
                        raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                    size = int(match.group(1), 16)
                    if len(body) + size > API_GATEWAY_MAX_BODY:
                        raise GatewayRefusal("REQUEST_TOO_LARGE", "Request Too Long")
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass  # trailers are not passed on
                        return bytes(body)
                    body += self.rfile.read(size)
                    if self.rfile.read(2) != b"\r\n":
                        raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)

            def _read_body(self) -> bytes:
                """The request body per RFC 9112 section 6; refusals close the connection."""
                lengths = self.headers.get_all("Content-Length") or []
                coding = self.headers.get_all("Transfer-Encoding") or []
                if coding:
                    if lengths or [c.strip().lower() for c in coding] != ["chunked"]:
                        raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                    return self._read_chunked()
                if not lengths:
                    return b""
                values = {v.strip() for v in ",".join(lengths).split(",")}
                if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                    raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                length = int(values.pop())
                if length > API_GATEWAY_MAX_BODY:
                    raise GatewayRefusal("REQUEST_TOO_LARGE", "Request Too Long")
                body = self.rfile.read(length)
                if len(body) < length:  # the client went away mid-body
                    raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                return body

            def _local(self, path: str) -> bool:
                if self.command == "GET" and path == "/health":
                    self._json(200, gateway.health())
                elif self.command == "GET" and path == "/openapi.yaml":
                    self._send(200, OPENAPI_PATH.read_bytes(), {"Content-Type": "application/yaml"})
                else:
                    return False
                return True

            def _dispatch(self) -> None:
                request_id = str(uuid.uuid4())
                url = urlsplit(self.path)
                body_read = False
                try:
                    if url.path in LOCAL_ONLY and self.command == "GET":
                        self._read_body()  # a GET body is never parsed as a next request
                        body_read = True
                        if self._local(url.path):
                            return
                    resource, operation = gateway.api.operation(url.path, self.command)
                    headers = dict(self.headers.items())
                    gateway.api.check_api_key(operation, headers)
                    body = self._read_body()
                    body_read = True
                    query = parse_qsl(url.query, keep_blank_values=True)
                    gateway.api.validate(operation, query, headers, body)
                    event = to_event(
                        self.command, self.path, headers, body, self.client_address[0], resource
                    )
                    event["requestContext"]["requestId"] = request_id
                    self._send(*gateway.invoke(operation, event))
                except GatewayRefusal as refusal:
                    if not body_read:  # an unread body must not be parsed as a next request
                        self.close_connection = True
                    self._send(*gateway.api.render(refusal, request_id))
                except TimeoutError:  # the client stalled mid-request
                    self.close_connection = True

            def __getattr__(self, name: str):
                """Every method, even unknown ones, is routed like API Gateway routes it."""
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        return Handler
