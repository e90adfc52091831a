"""``make bench``: imagegen's overhead next to the classic recipe's, measured in the same run.

Ratios matter more than absolute numbers (machines are noisy). The Bedrock emulator runs with
zero latency and a constant (cached) image, so what is timed is our code and the AWS calls'
plumbing, not the model.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

from mcp import Client

from devstack.gateway import LambdaContext
from devstack.stack import LocalStack
from infra.package import ROOT, service_files
from service.handler import handle

RUNS_COLD = 15
RUNS_WARM = 200
THROUGHPUT_REQUESTS = 160


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def cold_start(env: dict[str, str]) -> None:
    """Fresh interpreters: import the handler module, then import + build the clients (S3 and
    one Bedrock client, as a first request does)."""
    snippets = {
        "import only": ("import service.handler", "import bench.baseline_handler"),
        "import + clients": (
            "import service.bootstrap as b; b.get_generator().bedrock(25)",
            "import bench.baseline_handler",
        ),
    }
    print("\n### 1. Cold start (fresh process, min / median of", RUNS_COLD, "runs)\n")
    row("phase", "imagegen", "baseline", "ratio (median)")
    row("---", "---", "---", "---")
    for phase, (ours, theirs) in snippets.items():
        times: dict[str, list[float]] = {"ours": [], "base": []}
        for _ in range(RUNS_COLD):  # interleaved, so drift hits both alike
            for name, code in (("ours", ours), ("base", theirs)):
                probe = (
                    "import time; t = time.perf_counter(); "
                    + code
                    + "; print(time.perf_counter() - t)"
                )
                out = subprocess.run(
                    [sys.executable, "-c", probe],
                    env={**os.environ, **env},
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                times[name].append(float(out.split()[-1]))
        o, b = times["ours"], times["base"]
        row(
            phase,
            f"{ms(min(o))} / {ms(statistics.median(o))}",
            f"{ms(min(b))} / {ms(statistics.median(b))}",
            f"{statistics.median(o) / statistics.median(b):.2f}x",
        )


def warm_overhead(stack: LocalStack) -> None:
    """The same SDXL request through both handlers, alternating, against the same endpoints."""
    os.environ.update(stack.env)
    from bench import baseline_handler

    event = {
        "resource": "/images",
        "path": "/images",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "isBase64Encoded": False,
        "body": json.dumps(
            {
                "prompt": "a lighthouse at dusk",
                "model": "sdxl",
                "cfg_scale": 10,
                "steps": 30,
                "seed": 0,
            }
        ),
    }
    ours_handler = lambda e: handle(e, LambdaContext(29), lambda: stack.generator)  # noqa: E731
    timings: dict[str, list[float]] = {"ours": [], "base": []}
    for i in range(RUNS_WARM + 10):
        for name, fn in (("ours", ours_handler), ("base", baseline_handler.lambda_handler)):
            started = time.perf_counter()
            response = fn(event, LambdaContext(29)) if name == "base" else fn(event)
            elapsed = time.perf_counter() - started
            assert response["statusCode"] == 200, response
            if i >= 10:  # warm-up
                timings[name].append(elapsed)
    o, b = timings["ours"], timings["base"]
    print(
        f"\n### 2. Warm request through the handler ({RUNS_WARM} each, SDXL, emulator latency 0)\n"
    )
    row("", "imagegen", "baseline", "ratio")
    row("---", "---", "---", "---")
    row("p50", ms(pct(o, 0.5)), ms(pct(b, 0.5)), f"{pct(o, 0.5) / pct(b, 0.5):.2f}x")
    row("p95", ms(pct(o, 0.95)), ms(pct(b, 0.95)), f"{pct(o, 0.95) / pct(b, 0.95):.2f}x")


def package_size() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in service_files():
            archive.write(ROOT / path, path.as_posix())
    size = len(buffer.getvalue())
    print("\n### 3. Deployed package\n")
    row("archive", "files", "size", "target")
    row("---", "---", "---", "---")
    row("service/ (what infra deploys)", len(service_files()), f"{size / 1024:.1f} KB", "< 100 KB")


def throughput(env: dict[str, str]) -> None:
    """Requests/s through the gateway, with S3 + emulator in the same or their own process."""
    import urllib.request

    body = json.dumps({"prompt": "a lighthouse", "seed": 3}).encode()

    print(f"\n### 4. Local stack over HTTP ({THROUGHPUT_REQUESTS} requests, emulator latency 0)\n")
    row("S3 + emulator", "concurrency", "requests/s", "p50", "p95", "peak RSS (this process)")
    row("---", "---", "---", "---", "---", "---")
    for label, separate in (("same process", False), ("own process", True)):
        with LocalStack(env=env, constant_images=True, separate_process=separate) as stack:

            def one(_: int, url: str = stack.url) -> float:
                request = urllib.request.Request(
                    f"{url}/images",
                    data=body,
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                return time.perf_counter() - started

            for concurrency in (1, 8, 32):
                started = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    latencies = list(pool.map(one, range(THROUGHPUT_REQUESTS)))
                elapsed = time.perf_counter() - started
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                row(
                    label,
                    concurrency,
                    f"{THROUGHPUT_REQUESTS / elapsed:.0f}",
                    ms(pct(latencies, 0.5)),
                    ms(pct(latencies, 0.95)),
                    f"{rss:.0f} MB",
                )


def mcp_overhead(stack: LocalStack) -> None:
    """The MCP server's direct backend (chosen when IMAGEGEN_BUCKET is set) vs the service."""
    from mcp_server import server as mcp_module
    from service.bootstrap import get_generator

    os.environ.update(stack.env)
    get_generator.cache_clear()
    body = {"prompt": "a lighthouse", "seed": 11}
    direct = []
    for _ in range(30):
        started = time.perf_counter()
        get_generator().generate(body, time.monotonic() + 20)
        direct.append(time.perf_counter() - started)

    async def via_mcp() -> tuple[list[float], int, int]:
        times = []
        async with Client(mcp_module.server) as client:
            for _ in range(30):
                started = time.perf_counter()
                result = await client.call_tool("generate_image", body)
                times.append(time.perf_counter() - started)
        preview = len(result.content[1].data) * 3 // 4
        return times, preview, result.structured_content["images"][0]["bytes"]

    mcp_times, preview, full = asyncio.run(via_mcp())
    print("\n### 5. MCP generate_image vs a direct service call (30 each)\n")
    row("", "direct service", "MCP tool (in memory)", "MCP overhead")
    row("---", "---", "---", "---")
    row(
        "p50",
        ms(pct(direct, 0.5)),
        ms(pct(mcp_times, 0.5)),
        ms(pct(mcp_times, 0.5) - pct(direct, 0.5)),
    )
    row(
        "inline preview vs full image",
        "",
        f"{preview / 1024:.0f} KB preview",
        f"{full / 1024:.0f} KB full",
    )


def hot_path_bytes() -> None:
    probe = (
        "import sys, service.handler, service.flow; "
        "print(sorted(m for m in ('PIL', 'pydantic', 'yaml') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    print("\n### 6. Bytes on the hot path\n")
    print(
        "The service never decodes or re-encodes images: it reads format and size from the"
        f" header (`service/imageinfo.py`). Image/validation libraries loaded by the handler:"
        f" {loaded} (none expected)."
    )


def cache(stack: LocalStack) -> None:
    body = {"prompt": "a kingfisher", "seed": 2024, "number_of_images": 2}
    calls_before = stack.bedrock.calls["total"]
    started = time.perf_counter()
    first = stack.generator.generate(body, time.monotonic() + 20)
    first_time = time.perf_counter() - started
    repeats, saved = [], 0.0
    for _ in range(20):
        started = time.perf_counter()
        answer = stack.generator.generate(body, time.monotonic() + 20)
        repeats.append(time.perf_counter() - started)
        saved += answer["cost"]["saved_usd"]
    calls = stack.bedrock.calls["total"] - calls_before
    print("\n### Cache of seeded requests (1 first call + 20 repeats, 2 images each)\n")
    row("first call", "repeat p50", "Bedrock calls", "calls saved", "money saved (estimate)")
    row("---", "---", "---", "---", "---")
    row(ms(first_time), ms(pct(repeats, 0.5)), calls, 42 - calls, f"${saved:.2f}")
    assert first["cost"]["saved_usd"] == 0


def main() -> None:
    print(
        "# imagegen benchmarks",
        time.strftime("%Y-%m-%d"),
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)",
    )
    env = {"IMAGEGEN_LOG_LEVEL": "ERROR", "IMAGEGEN_ENABLED_RETIRED_MODELS": "sdxl"}
    with LocalStack(env=env, serve_retired=True, constant_images=True) as stack:
        cold_start({**stack.env})
        warm_overhead(stack)
        package_size()
    throughput(env)
    with LocalStack(env=env, constant_images=True) as stack:
        mcp_overhead(stack)
        hot_path_bytes()
    with LocalStack(env={**env, "IMAGEGEN_CACHE_SEEDED": "true"}, constant_images=True) as stack:
        cache(stack)


if __name__ == "__main__":
    main()
