"""moto's S3 as an HTTP server on loopback, behind a front that refuses what real S3 refuses.

``ThreadedMotoServer`` serves every AWS service and works out which one each request is for by
scanning moto's modules on disk per request; that was the local stack's bottleneck. The stack only
needs S3, so this serves moto's S3 application directly, wrapped in ``s3_front.VerifyingFront``:
moto alone accepts any signature, so code that works locally could still fail on AWS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack.background import BackgroundServer
from devstack.s3_auth import SigV4Verifier
from devstack.s3_conditional_writes import ConditionalWrites
from devstack.s3_front import VerifyingFront
from devstack.s3_persistence import PersistentBuckets
from devstack.s3_post import PostUploads

ACCESS_KEY_ID = "local"
SECRET_ACCESS_KEY = "local"
KNOWN_CREDENTIALS: Mapping[str, str] = MappingProxyType({ACCESS_KEY_ID: SECRET_ACCESS_KEY})


class S3Server(BackgroundServer):
    thread_name = "moto-s3"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: Mapping[str, str] = KNOWN_CREDENTIALS,
        clock: Callable[[], float] = time.time,
        on_conditional_write: Callable[[str], None] | None = None,
        data_dir: Path | None = None,
    ) -> None:
        """``credentials`` maps the access key ids S3 knows to their secrets; ``clock`` (epoch
        seconds) decides expiry (of URLs and POST policies) and skew, so tests move time instead
        of sleeping; ``on_conditional_write(key)`` runs while a conditional write holds its key.
        With ``data_dir`` the buckets are kept there, and those saved there before are served."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log
        app = create_backend_app("s3")
        if data_dir is not None:
            app = PersistentBuckets(app, data_dir)
            app.load()
        verifier = SigV4Verifier(credentials, clock)
        front = VerifyingFront(
            app,
            verifier,
            ConditionalWrites(on_conditional_write),
            PostUploads(app, verifier, clock),
        )
        super().__init__(
            make_server(host, port, front, threaded=True, request_handler=MotoRequestHandler)
        )
