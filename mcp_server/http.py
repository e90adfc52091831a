"""Streamable HTTP transport with a bearer token, DNS-rebinding protection and a health route."""

from __future__ import annotations

import hmac
import ipaddress
import sys

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerTokenMiddleware:
    """401 unless ``Authorization: Bearer <token>`` matches (constant-time); /health is open."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.expected and scope["path"] != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"error": "missing or invalid bearer token"},
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(server: MCPServer, host: str, token: str | None) -> ASGIApp:
    if not is_loopback(host) and not token:
        raise SystemExit(f"refusing to serve MCP on {host} without --token (or IMAGEGEN_MCP_TOKEN)")
    hosts = [f"{host}:*"] + (["localhost:*", "127.0.0.1:*"] if is_loopback(host) else [])
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts],
    )

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "server": "imagegen-mcp"})

    app: Starlette = server.streamable_http_app(transport_security=security, host=host)
    return BearerTokenMiddleware(app, token)


def serve(server: MCPServer, host: str, port: int, token: str | None) -> None:
    app = build_app(server, host, token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    original_startup = uv.startup

    async def startup(sockets=None) -> None:
        await original_startup(sockets)
        for listener in uv.servers:
            for sock in listener.sockets:
                bound_host, bound_port = sock.getsockname()[:2]
                print(
                    f"imagegen MCP listening on http://{bound_host}:{bound_port}/mcp",
                    file=sys.stderr,
                    flush=True,
                )

    uv.startup = startup
    uv.run()
