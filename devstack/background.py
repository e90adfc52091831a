"""Servers that run in a background thread: the base of every local server."""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class BackgroundServer:
    """A bound server (port 0 = a free port); ``start()`` serves in a thread, ``stop()`` joins."""

    thread_name = "server"

    def __init__(self, server: socketserver.BaseServer) -> None:
        self._httpd = server
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; safe on a server that never started."""
        if self._thread:  # shutdown() waits for serve_forever, so only call it once serving
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog; the default of 5 resets bursts of connections


class BackgroundHTTPServer(BackgroundServer):
    """A threaded ``http.server`` whose request handler class comes from ``_handler_class``."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(_Server((host, port), self._handler_class()))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError
