"""Fixtures the end-to-end modules share: the S3 server on a clock the tests can shift, and a
real browser (Debian's headless chromium, driven by Playwright)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

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


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless chromium; the test is skipped where Playwright or chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run does)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root with a sandbox
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()
