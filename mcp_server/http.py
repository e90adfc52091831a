"""Streamable HTTP transport with a bearer token, DNS-rebinding protection and a health route."""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import socket
import sys
from collections.abc import Sequence

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

WILDCARD_HOSTS = ("0.0.0.0", "::", "")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as a URL or Host header spells it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def allowed_host(text: str) -> str:
    """``--allowed-host`` as ``HOST`` or ``HOST:PORT``, IPv6 in brackets (``[::1]:8765``); a
    bare IPv6 address (``::1``) is a host without a port. Returns the URL spelling."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"{text!r} is not [IPv6] or [IPv6]:PORT")
        port = rest[1:]
    elif text.count(":") > 1:
        host, port = text, ""
    else:
        host, _, port = text.partition(":")
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST or HOST:PORT")
    return url_host(host) + (f":{port}" if port else "")


def _has_port(entry: str) -> bool:
    return ":" in entry and not entry.endswith("]")


def _machine_names() -> set[str]:
    """What clients may call this machine: its host names and the addresses they resolve to."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:  # a host name that does not resolve: the names alone
        infos = []
    addresses = {info[4][0] for info in infos}
    return names | {a for a in addresses if "%" not in a}  # scoped link-local: not a Host


def bound_names(host: str) -> set[str]:
    """Names and addresses that reach a server bound to ``host``: for 0.0.0.0 or ::, the
    machine's own (loopback included)."""
    if host in WILDCARD_HOSTS:
        return {*LOOPBACK_NAMES, *_machine_names()}
    if is_loopback(host):
        return {host, *LOOPBACK_NAMES}
    return {host}


def host_patterns(host: str, extra: Sequence[str] = ()) -> list[str]:
    """Host header patterns for the SDK's check: each name with any port (``name:*``) or none,
    plus ``--allowed-host`` entries as given (a port, if any, must match)."""
    patterns = []
    for name in sorted(bound_names(host)):
        patterns += [url_host(name), f"{url_host(name)}:*"]
    for entry in extra:
        patterns += [entry] if _has_port(entry) else [entry, f"{entry}:*"]
    return patterns


class BearerTokenMiddleware:
    """401 unless ``Authorization: Bearer <token>`` matches; /health is open.

    The scheme is case-insensitive (RFC 7235, RFC 6750); the token is compared in constant time.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    def _authorized(self, scope: Scope) -> bool:
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credentials = given.partition(b" ")
        valid = hmac.compare_digest(credentials.strip(b" "), self.token)
        return valid and scheme.lower() == b"bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.token
            and scope["path"] != "/health"
            and not self._authorized(scope)
        ):
            response = JSONResponse(
                {"error": "missing or invalid bearer token"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_app(
    server: MCPServer, host: str, token: str | None, allowed_hosts: Sequence[str] = ()
) -> ASGIApp:
    if not is_loopback(host) and not token:
        raise SystemExit(f"refusing to serve MCP on {host} without --token (or IMAGEGEN_MCP_TOKEN)")
    hosts = host_patterns(host, allowed_hosts)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "server": "imagegen-mcp"})

    app: Starlette = server.streamable_http_app(transport_security=security, host=host)
    return BearerTokenMiddleware(app, token)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn starts so that a busy port or an address not on
    this machine is one OSError: uvicorn reports it among the log lines of its start and stop."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart binds at once
        listener.bind((host, port))
        listener.listen()
    except OSError:
        listener.close()
        raise
    return listener


def serve(
    server: MCPServer,
    listener: socket.socket,
    host: str,
    token: str | None,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve on ``listener`` (``listen(host, ...)``) until SIGINT (a KeyboardInterrupt once
    uvicorn has shut down) or SIGTERM."""
    app = build_app(server, host, token, allowed_hosts)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    original_startup = uv.startup

    async def startup(sockets=None) -> None:
        await original_startup(sockets)  # the app has started: requests are served from now on
        bound_host, bound_port = listener.getsockname()[:2]
        print(
            f"imagegen MCP listening on http://{url_host(bound_host)}:{bound_port}/mcp",
            file=sys.stderr,
            flush=True,
        )
        names = ", ".join(sorted(bound_names(host)) + list(allowed_hosts))
        print(f"  accepting Host: {names} (more with --allowed-host)", file=sys.stderr, flush=True)

    uv.startup = startup
    uv.run(sockets=[listener])
