"""moto's S3 as an HTTP server on loopback, with no service-dispatch overhead.

``ThreadedMotoServer`` serves every AWS service and works out which one each request is for by
scanning moto's modules on disk per request; that was the local stack's bottleneck. The stack only
needs S3, so this serves moto's S3 application directly.
"""

from __future__ import annotations

import logging

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack.background import BackgroundServer


class S3Server(BackgroundServer):
    thread_name = "moto-s3"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
        super().__init__(
            make_server(
                host,
                port,
                create_backend_app("s3"),
                threaded=True,
                request_handler=MotoRequestHandler,
            )
        )
