"""moto's SQS as an HTTP server on loopback: the queue that hands jobs to their worker.

Like ``s3_server``, it serves moto's application for the one service directly. moto keeps SQS's
semantics the local stack relies on: visibility timeouts, receive counts and a redrive policy
that moves a message to the dead-letter queue after ``maxReceiveCount`` receives
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
Unlike the local S3, it does not check signatures: the service only sends job ids to it.
"""

from __future__ import annotations

import logging

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack.background import BackgroundServer


class SqsServer(BackgroundServer):
    thread_name = "moto-sqs"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = create_backend_app("sqs")
        super().__init__(
            make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        )
