"""``make bench`` (data dir): what keeping the bucket on disk (``imagegen serve --data-dir``)
costs, next to the same stack without it, in the same run; and how long a restart takes with
the images it keeps.

1. Latency of ``POST /images``, one request at a time: every write is followed by saving what
   changed (one pickle per changed key, written beside and renamed) after scanning the bucket's
   keys, so it grows with the image and, a little, with the number of keys.
2. Start of a stack on a data dir holding those images (load every pickle into moto) against an
   empty one.
3. Sealing and writing one object of a real model's size (a 1.5 MB PNG), next to writing its
   bytes alone: the part of 1 that grows with the image.

The emulator runs with zero latency and a constant image (about 50 KB), so 1 and 2 time the
plumbing.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from moto.s3.models import FakeKey

from devstack.s3_persistence import Seal
from devstack.stack import LocalStack
from tests.conftest import http

RUNS = 60
BODY = json.dumps({"prompt": "a lighthouse at dusk"}).encode()


def latencies(stack: LocalStack) -> list[float]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        status, _, raw = http(
            "POST", f"{stack.url}/images", BODY, {"Content-Type": "application/json"}
        )
        times.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{status}: {raw[:200]!r}")
    return times


def start_seconds(data_dir: Path | None) -> float:
    started = time.perf_counter()
    with LocalStack(data_dir=data_dir, separate_process=True, constant_images=True):
        return time.perf_counter() - started


def seal_and_write_ms(folder: Path, size: int = 1_500_000) -> tuple[float, float]:
    """Median ms to seal and write one ``size``-byte object, and to write its bytes alone."""
    data = os.urandom(size)
    key = FakeKey("images/x.png", data, account_id="123456789012", region_name="us-west-2")
    seal = Seal(os.urandom(32))
    sealed, raw = [], []
    for _ in range(20):
        started = time.perf_counter()
        (folder / "sealed").write_bytes(seal.dump([key]))
        sealed.append(time.perf_counter() - started)
        started = time.perf_counter()
        (folder / "raw").write_bytes(data)
        raw.append(time.perf_counter() - started)
    return statistics.median(sealed) * 1000, statistics.median(raw) * 1000


def main() -> None:
    options = {"separate_process": True, "constant_images": True}
    with tempfile.TemporaryDirectory(prefix="imagegen-bench-") as folder:
        data = Path(folder)
        with LocalStack(**options) as stack:
            memory = latencies(stack)
        with LocalStack(data_dir=data, **options) as stack:
            kept = latencies(stack)
        size = sum(p.stat().st_size for p in data.rglob("*.pickle"))
        empty = start_seconds(Path(folder, "empty"))
        loaded = start_seconds(data)
        sealed_ms, raw_ms = seal_and_write_ms(Path(folder))
    print(f"data dir: POST /images, {RUNS} one at a time (ms)")
    print(f"{'':24}{'median':>9}{'p90':>9}")
    for label, times in (("in memory (baseline)", memory), ("kept in a data dir", kept)):
        ordered = sorted(times)
        p90 = ordered[int(len(ordered) * 0.9)]
        print(f"{label:24}{statistics.median(times) * 1000:9.1f}{p90 * 1000:9.1f}")
    print(f"stack start, empty data dir (baseline): {empty:.2f} s")
    print(f"stack start, {RUNS} images ({size / 1e6:.1f} MB) kept: {loaded:.2f} s")
    print(f"one 1.5 MB object: sealed and written {sealed_ms:.1f} ms, bytes alone {raw_ms:.1f} ms")


if __name__ == "__main__":
    main()
