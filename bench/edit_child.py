"""One scenario of ``bench.edits`` in a fresh interpreter that imports only what the Lambda
does (the service and the standard library), so its peak RSS is the handler's.

Reads the scenario as JSON on stdin; prints one JSON line of timings and memory.
"""

from __future__ import annotations

import base64
import json
import logging
import resource
import statistics
import sys
import time
from typing import Any

import service.bedrock
from service.bootstrap import get_generator
from service.handler import handle

RUNS = 3


class Context:
    """The part of Lambda's context the handler reads: a 29 s function."""

    aws_request_id = "bench"

    def __init__(self) -> None:
        self._deadline = time.monotonic() + 29

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def peak_rss_kb() -> int:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec; ru_maxrss
    would carry the (large) benchmark parent's high-water mark over from the fork."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def child(scenario: dict[str, Any]) -> None:
    """Run the scenario's event ``RUNS`` times through the handler; print timings and memory."""
    logging.disable(logging.CRITICAL)
    input_bytes, passes = scenario["input_bytes"], []
    real_decode, real_encode, real_invoke = (
        base64.b64decode,
        base64.b64encode,
        service.bedrock.invoke,
    )

    def decode(data: Any, *args: Any, **kwargs: Any) -> bytes:
        result = real_decode(data, *args, **kwargs)
        if input_bytes and len(result) == input_bytes:
            passes.append("decode")
        return result

    def encode(data: Any, *args: Any, **kwargs: Any) -> bytes:
        if input_bytes and len(data) == input_bytes:
            passes.append("encode")
        return real_encode(data, *args, **kwargs)

    model_seconds: list[float] = []

    def timed_invoke(*args: Any, **kwargs: Any) -> dict:
        started = time.perf_counter()
        try:
            return real_invoke(*args, **kwargs)
        finally:
            model_seconds.append(time.perf_counter() - started)

    base64.b64decode, base64.b64encode = decode, encode
    service.bedrock.invoke = timed_invoke
    generator = get_generator()
    rss_before = peak_rss_kb()
    the_event = event(scenario["path"], scenario["body"])
    del scenario["body"]
    totals, status = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        status = handle(the_event, Context(), lambda: generator)["statusCode"]
        totals.append(time.perf_counter() - started)
    generator.close()
    print(
        json.dumps(
            {
                "status": status,
                "total": statistics.median(totals),
                "model": statistics.median(model_seconds) if model_seconds else 0.0,
                "rss_before_kb": rss_before,
                "rss_peak_kb": peak_rss_kb(),
                "passes_per_input": len(passes) / RUNS / scenario["inputs"],
            }
        )
    )


if __name__ == "__main__":
    child(json.loads(sys.stdin.read()))
