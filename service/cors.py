"""CORS for browser apps on other origins: closed unless the stack lists them (``allowedOrigins``).

The playground is served by the API itself (same origin) and needs none of this. An app on
another origin gets, when its origin is listed: an answer to its preflight ``OPTIONS`` (the
methods of the route, the request headers it asked for, cached for ``MAX_AGE_SECONDS``) and
``Access-Control-Allow-Origin`` on every answer, with the headers it may read. Anything else is
refused by the browser, as the Fetch standard's CORS protocol says
(https://fetch.spec.whatwg.org/#http-cors-protocol): an unlisted origin's preflight is a 403 here
and its other answers carry no CORS header. No credentials mode: keys travel in headers, never
cookies. Standard library only: infra and the local stack validate origins with ``parse_origins``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A header name (RFC 9110 section 5.6.2's token), as Access-Control-Request-Headers lists them.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# What a browser app may read besides the CORS-safelisted response headers.
EXPOSED_HEADERS = ("Location", "Preference-Applied", "Retry-After", "X-Request-Id")
# Browsers cap a preflight's cache (Chromium at 7200 s); longer would only be ignored.
MAX_AGE_SECONDS = 7200
# scheme://host[:port], as a browser serializes an origin: lower case, no path, no default port.
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(:(?P<port>[1-9][0-9]{0,4}))?"
)
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def parse_origins(items: Iterable[str], setting: str) -> tuple[str, ...]:
    """The origins of ``setting`` (its name, for the message), each checked: https (http only
    for this machine), exactly as a browser sends it, never ``*``. Raises ValueError."""
    origins = []
    for item in items:
        origin = item.strip()
        if not origin:
            continue
        match = _ORIGIN.fullmatch(origin)
        if origin == "*":
            raise ValueError(f"{setting}: '*' would let every website call the API; list origins")
        if match is None:
            raise ValueError(
                f"{setting}: {origin!r} is not an origin: scheme://host[:port] in lower case,"
                " without a path or a trailing slash (e.g. https://app.example.com)"
            )
        if match["host"].startswith("[") and not _browser_ipv6(match["host"]):
            raise ValueError(
                f"{setting}: {origin!r} is not an IPv6 origin as a browser sends it (compressed,"
                " e.g. http://[::1]:3000)"
            )
        if match["scheme"] == "http" and match["host"] not in _LOOPBACK:
            raise ValueError(f"{setting}: {origin!r} must use https (http only for localhost)")
        if match["port"] == _DEFAULT_PORTS[match["scheme"]] or int(match["port"] or 1) > 65535:
            raise ValueError(
                f"{setting}: {origin!r} has a port browsers never send (a default port, or over"
                " 65535)"
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def _browser_ipv6(host: str) -> bool:
    """``[address]`` in the compressed form browsers serialize. ``ipaddress`` is imported here:
    only such origins need it, and the Lambda's cold start should not pay for it."""
    import ipaddress

    try:
        return ipaddress.IPv6Address(host[1:-1]).compressed == host[1:-1]
    except ValueError:
        return False


def response_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """What an answer to ``origin`` carries: the grant for a listed origin; ``Vary`` whenever
    the API has origins at all, since the answer then depends on the request's Origin."""
    if not allowed:
        return {}
    headers = {"Vary": "Origin"}
    if origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
    return headers


def preflight_headers(methods: Iterable[str], requested: str | None) -> dict[str, str]:
    """A granted preflight's answer headers: the route's methods, and the request headers the
    browser asked for (``Access-Control-Request-Headers``). Those are granted whatever they are:
    no credentials ride on them (keys travel in headers the app sets itself), the API ignores
    the ones it does not read, and clients add their own (the OpenAI SDK's ``x-stainless-*``,
    the AWS SDK's ``amz-sdk-*``)."""
    headers = {
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
    }
    names = [name.strip().lower() for name in (requested or "").split(",") if name.strip()]
    if names and all(_HEADER_NAME.fullmatch(name) for name in names):
        headers["Access-Control-Allow-Headers"] = ", ".join(names)
    return headers


def bucket_rules(allowed: tuple[str, ...]) -> list[dict]:
    """The image bucket's CORS rules (S3's PutBucketCors shape) for the listed origins: reading
    images (GET, HEAD) and browser uploads (the POST form of POST /uploads), neither of which
    sends a header a rule must allow. Empty when no origin is listed: S3 then refuses every
    cross-origin request."""
    if not allowed:
        return []
    return [
        {
            "AllowedMethods": ["GET", "HEAD", "POST"],
            "AllowedOrigins": list(allowed),
            "ExposeHeaders": ["ETag", "Location"],
            "MaxAgeSeconds": MAX_AGE_SECONDS,
        }
    ]
