"""S3's 409 ConditionalRequestConflict for racing conditional writes, which moto never answers.

S3 documents that a conditional write (``If-None-Match: *`` or ``If-Match``) may answer 409
``ConditionalRequestConflict`` when a conflicting operation on the key is under way, and that the
client should retry (PutObject, IfNoneMatch/IfMatch:
https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html; conditional writes:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). Here a conditional
write answers 409 while another conditional write to the same key is in flight, so clients meet
the answer locally too. Existing keys keep moto's 412 PreconditionFailed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from devstack.s3_errors import S3Error

CONDITIONAL_HEADERS = ("if-none-match", "if-match")


class ConditionalWrites:
    """Keys with a conditional write in flight. ``on_hold(key)`` runs while a write holds its key:
    a test hook that makes a race deterministic (block in it, then send the rival write)."""

    def __init__(self, on_hold: Callable[[str], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._on_hold = on_hold

    @contextmanager
    def hold(self, method: str, headers: Mapping[str, str], key: str) -> Iterator[None]:
        """Hold ``key`` for a conditional PUT/POST (PutObject, CopyObject, CompleteMultipartUpload)
        for the duration of the block; raise 409 if another holds it. Other requests pass."""
        conditional = any(name in headers for name in CONDITIONAL_HEADERS)
        if method not in ("PUT", "POST") or not conditional:
            yield
            return
        with self._lock:
            if key in self._in_flight:
                raise S3Error(
                    409,
                    "ConditionalRequestConflict",
                    "A conflicting conditional action is currently in progress against this "
                    "resource. Try again.",
                )
            self._in_flight.add(key)
        try:
            if self._on_hold is not None:
                self._on_hold(key)
            yield
        finally:
            with self._lock:
                self._in_flight.discard(key)
