"""A stand-in for a hostile or broken imagegen API: canned answers over real HTTP on port 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def json_answer(payload: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(payload).encode())


def images_payload(url: str) -> dict[str, Any]:
    """A well-formed POST /images answer whose image lives at ``url``."""
    image = {
        "url": url,
        "key": "images/2026/11/25/stub.png",
        "width": 64,
        "height": 64,
        "seed": 1,
        "content_type": "image/png",
        "bytes": 10,
    }
    return {
        "image_url": url,
        "images": [image],
        "model": "stable-image-core",
        "model_id": "stability.stable-image-core-v1:1",
        "expires_at": "2026-11-25T18:30:00Z",
        "cost": {"estimated_usd": 0.04, "saved_usd": 0.0, "per_image_usd": 0.04},
    }


def images_answer(url: str) -> Answer:
    return json_answer(images_payload(url))


@dataclass
class StubApi:
    """Answers by path (query ignored), 404 elsewhere. With ``hold``, requests wait for
    ``release`` after setting ``received``, so a test can act while one is in flight."""

    answers: dict[str, Answer]
    hold: bool = False
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


def _handler(stub: StubApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stub.received.set()
            if stub.hold:
                stub.release.wait()
            answer = stub.answers.get(urlsplit(self.path).path, Answer(404, b"not found"))
            self.send_response(answer.status)
            for name, value in {**answer.headers, "Content-Length": len(answer.body)}.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = _answer

    return Handler


@contextmanager
def stub_api(answers: dict[str, Answer], *, hold: bool = False) -> Iterator[StubApi]:
    stub = StubApi(answers, hold)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    httpd.daemon_threads = False  # server_close() joins the request threads
    thread = threading.Thread(target=httpd.serve_forever, name="stub-api")
    thread.start()
    stub.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield stub
    finally:
        stub.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
