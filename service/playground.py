"""``GET /``: the playground, one self-contained page (``playground.html``, inline CSS and JS).

The page's Content-Security-Policy allows only what it uses: its own inline script and style
(by their SHA-256, so no other inline code runs), requests to this API ('self'), and images
from 'self', ``data:`` and the S3 origin presigned URLs point at, which the handler learns by
signing a URL (no request is made). Everything else, frames and form posts included, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

PAGE_PATH = Path(__file__).with_name("playground.html")
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def page() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The page and the CSP hash sources of its inline scripts and styles."""
    text = PAGE_PATH.read_text(encoding="utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(text):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    return text, tuple(hashes["script"]), tuple(hashes["style"])


def content_security_policy(image_origin: str) -> str:
    _, scripts, styles = page()
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(scripts)}",
            f"style-src {' '.join(styles)}",
            f"img-src 'self' data: {image_origin}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def response(image_origin: str) -> dict:
    """The proxy response serving the page."""
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": content_security_policy(image_origin),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
        "body": page()[0],
    }
