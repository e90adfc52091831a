"""Fixtures the local S3's test modules share: the S3 server on a clock the tests can shift."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devstack.s3_server import S3Server


class Clock:
    """Real time plus a shift the tests set: expiry and skew without sleeping."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def real_time(clock: Clock) -> None:
    clock.shift = 0.0


@pytest.fixture(scope="module")
def server(clock: Clock) -> Iterator[S3Server]:
    running = S3Server(clock=clock).start()
    yield running
    running.stop()
