"""``make bench`` (jobs): what the asynchronous path costs next to the synchronous one, in the
same run on the same local stack.

1. Added latency for a fast model: one request at a time, synchronous ``POST /images`` against
   ``"async": true`` then ``GET /jobs/{id}`` until it ends (polled every 10 ms, so the poll
   interval adds at most that). The job pays an S3 write of its request and state, an SQS send,
   the worker's receive (long polling), its claim and its end (conditional writes).
2. Jobs per second the local worker sustains: a burst submitted at once, until every job ended,
   next to the same burst as synchronous requests from as many client threads.

The emulator runs with zero latency and a constant image, so what is timed is the plumbing.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from devstack.stack import JOB_WORKERS, LocalStack
from tests.conftest import http

RUNS = 40
BURST = 80
POLL_SECONDS = 0.01
BODY = {"prompt": "a lighthouse at dusk"}


def post(url: str, body: dict) -> dict:
    status, _, raw = http(
        "POST", f"{url}/images", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    answer = json.loads(raw)
    if status not in (200, 202):
        raise RuntimeError(f"{status}: {answer}")
    return answer


def wait(status_url: str) -> dict:
    while True:
        job = json.loads(http("GET", status_url)[2])
        if job["status"] in ("succeeded", "failed"):
            if job["status"] == "failed":
                raise RuntimeError(job["error"])
            return job
        time.sleep(POLL_SECONDS)  # the client's poll interval


def one_sync(url: str) -> float:
    started = time.perf_counter()
    post(url, BODY)
    return time.perf_counter() - started


def one_async(url: str) -> float:
    started = time.perf_counter()
    wait(post(url, {**BODY, "async": True})["status_url"])
    return time.perf_counter() - started


def latency(url: str) -> None:
    print(f"\n### 1. One request at a time ({RUNS} each; median / p90)\n")
    print("| path | median | p90 |")
    print("| --- | --- | --- |")
    for name, call in (("synchronous", one_sync), ("job, polled every 10 ms", one_async)):
        call(url)  # warm
        times = sorted(call(url) for _ in range(RUNS))
        p90 = times[int(0.9 * (len(times) - 1))]
        print(f"| {name} | {statistics.median(times) * 1000:.1f} ms | {p90 * 1000:.1f} ms |")


def burst(url: str) -> None:
    print(f"\n### 2. A burst of {BURST} requests ({JOB_WORKERS} local job workers)\n")
    print("| path | wall time | per second |")
    print("| --- | --- | --- |")
    with ThreadPoolExecutor(JOB_WORKERS) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: post(url, BODY), range(BURST)))
        sync = time.perf_counter() - started
    print(f"| synchronous, {JOB_WORKERS} client threads | {sync:.2f} s | {BURST / sync:.1f} |")
    started = time.perf_counter()
    accepted = [post(url, {**BODY, "async": True}) for _ in range(BURST)]
    submitted = time.perf_counter() - started
    for job in accepted:
        wait(job["status_url"])
    jobs = time.perf_counter() - started
    print(f"| jobs: all accepted (202) | {submitted:.2f} s | {BURST / submitted:.1f} |")
    print(f"| jobs: all succeeded | {jobs:.2f} s | {BURST / jobs:.1f} |")


def main() -> None:
    print("## Asynchronous jobs next to synchronous requests (local stack, emulator latency 0)")
    env = {"IMAGEGEN_LOG_LEVEL": "ERROR"}
    with LocalStack(env=env, constant_images=True, separate_process=True) as stack:
        latency(stack.url)
        burst(stack.url)


if __name__ == "__main__":
    main()
