"""moto's S3 as an HTTP server on loopback, with no service-dispatch overhead.

``ThreadedMotoServer`` serves every AWS service and works out which one each request is for by
scanning moto's modules on disk per request; that was the local stack's bottleneck. The stack only
needs S3, so this serves moto's S3 application directly.
"""

from __future__ import annotations

import logging
import threading

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


class S3Server:
    """Bind on construction (port 0 = a free port); ``start()`` serves, ``stop()`` joins."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
        self._server = make_server(
            host, port, create_backend_app("s3"), threaded=True, request_handler=MotoRequestHandler
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> S3Server:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-s3", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join()
