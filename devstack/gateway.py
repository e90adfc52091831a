"""A local REST gateway: HTTP request -> API Gateway REST proxy event -> the real lambda_handler.

It also answers ``GET /health`` (which endpoints and bucket the stack uses) and serves
``GET /openapi.yaml``; everything else goes to the handler exactly as API Gateway would send it.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from devstack.background import BackgroundHTTPServer

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's own payload limit
Handler = Callable[[dict, object], dict]


class LambdaContext:
    """The parts of the Lambda context object the handler uses."""

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "imagegen-local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def to_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict:
    """Build the API Gateway REST proxy event for one HTTP request."""
    url = urlsplit(target)
    query = dict(parse_qsl(url.query, keep_blank_values=True)) or None
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return {
        "resource": url.path,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
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
    ) -> None:
        self.handler = handler
        self.api_keys = api_keys
        self.health = health
        self.timeout_seconds = timeout_seconds
        super().__init__(host, port)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, status: int, payload: dict) -> None:
                self._send(
                    status, json.dumps(payload).encode(), {"Content-Type": "application/json"}
                )

            def _dispatch(self) -> None:
                path = urlsplit(self.path).path
                if self.command == "GET" and path == "/health":
                    self._json(200, gateway.health())
                    return
                if self.command == "GET" and path == "/openapi.yaml":
                    self._send(200, OPENAPI_PATH.read_bytes(), {"Content-Type": "application/yaml"})
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > API_GATEWAY_MAX_BODY:
                    self.close_connection = True
                    self._json(413, {"message": "Request Too Long"})
                    return
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items()}
                event = to_event(self.command, self.path, headers, body, self.client_address[0])
                result = gateway.handler(event, LambdaContext(gateway.timeout_seconds))
                out = result.get("body") or ""
                payload = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
                self._send(result["statusCode"], payload, result.get("headers") or {})

            def __getattr__(self, name: str):
                """Every method, even unknown ones, reaches the handler (which answers 405)."""
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        return Handler
