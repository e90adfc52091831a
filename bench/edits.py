"""``make bench-edits``: the edit path next to the generation path, per operation and per way of
sending the input (inline, by key, uploaded), with 1 MP and 9.4 MP inputs.

Each scenario runs the real handler in a fresh interpreter against the local stack (S3 and the
Bedrock emulator in a backing process), so its peak RSS is the handler's own, as a Lambda would
see it. The child counts base64 passes over the input image (the only decode/encode the service
does: it never decodes pixels) and times the Bedrock call apart, so "own" is the handler's work
without the (emulated) model.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
from typing import Any

from PIL import Image

import api_client
from bench.edit_child import RUNS
from devstack.stack import LocalStack
from infra.package import ROOT
from service.catalogue import default_catalogue

RSS_GOAL_MB = 300


def photo(side: int, image_format: str) -> bytes:
    """A noisy gradient: compresses like a photo, not like a flat test card."""
    noise = Image.effect_noise((side, side), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    out = io.BytesIO()
    options = {"quality": 90} if image_format == "JPEG" else {"compress_level": 1}
    Image.blend(gradient, noise, 0.35).save(out, image_format, **options)
    return out.getvalue()


# ---- the parent: scenarios, tables ---------------------------------------------------------------


def run_child(env: dict[str, str], scenario: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.edit_child"],
        input=json.dumps(scenario),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def report(name: str, result: dict[str, Any], extra: str = "") -> None:
    total, model = result["total"] * 1000, result["model"] * 1000
    peak = result["rss_peak_kb"] / 1024
    row(
        name,
        result["status"],
        f"{total:.0f} ms",
        f"{total - model:.0f} ms",
        f"{peak:.0f} MB",
        f"+{peak - result['rss_before_kb'] / 1024:.0f} MB",
        f"{result['passes_per_input']:g}",
        extra,
    )


def header(first: str) -> None:
    row(
        first,
        "status",
        "handler",
        "own (no model)",
        "peak RSS",
        "request adds",
        "b64 passes per input",
        "",
    )
    row(*["---"] * 8)


def minimal(operation: Any, image: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"operation": operation.operation}
    for rule in operation.fields:
        if rule.required:
            body[rule.name] = 0.5 if rule.type == "number" else "a harbour at dawn"
    for rule in operation.inputs:
        if rule.required:
            body[rule.name] = image
    for name in operation.require_any[:1]:
        body[name] = 64
    return body


def ways_to_send(
    stack: LocalStack,
    env: dict[str, str],
    number: int,
    operation: Any,
    images: dict[str, bytes],
    keys: dict[str, str],
) -> None:
    """Inline, by key and uploaded, for each input: the same edit three ways."""
    print(f"\n### {number}. Ways to send the input ({operation.operation})\n")
    header("input")
    for name, data in images.items():
        encoded = base64.b64encode(data).decode()
        started = time.perf_counter()
        form = api_client.upload(stack.url, data)
        upload_ms = (time.perf_counter() - started) * 1000
        ways = (
            ("inline", {"data": encoded}, ""),
            ("by key", {"key": keys[name]}, ""),
            ("uploaded", {"key": form["key"]}, f"upload (form + POST to S3): {upload_ms:.0f} ms"),
        )
        for way, image, note in ways:
            scenario = {
                "path": "/images/edits",
                "body": minimal(operation, image),
                "input_bytes": len(data),
                "inputs": 1,
            }
            report(f"{name} {way}", run_child(env, scenario), note)


def main() -> None:
    print("# imagegen edit-path benchmark", time.strftime("%Y-%m-%d"))
    print(f"\nMedian of {RUNS} handler calls per scenario, each scenario in a fresh interpreter.")
    images = {
        "1 MP JPEG": photo(1024, "JPEG"),
        "9.4 MP JPEG": photo(3072, "JPEG"),
        "9.4 MP PNG": photo(3072, "PNG"),
    }
    env_extra = {"IMAGEGEN_LOG_LEVEL": "ERROR"}
    with LocalStack(env=env_extra, separate_process=True) as stack:
        env = {**stack.env, "PATH": "/usr/bin:/bin"}
        s3 = stack.s3_client()
        keys = {}
        for name, data in images.items():
            keys[name] = f"uploads/bench/{name.replace(' ', '-').replace('.', '_')}"
            s3.put_object(Bucket=stack.bucket, Key=keys[name], Body=data)
        print("\nInputs:", ", ".join(f"{n} {len(d) / 1e6:.1f} MB" for n, d in images.items()))

        print("\n### 1. Per operation (1 MP input by key) next to generation\n")
        header("request")
        report(
            "generate (stable-image-core)",
            run_child(
                env,
                {
                    "path": "/images",
                    "body": {"prompt": "a harbour", "seed": 1},
                    "input_bytes": 0,
                    "inputs": 1,
                },
            ),
        )
        one_mp = len(images["1 MP JPEG"])
        for operation in default_catalogue().operations:
            body = minimal(operation, {"key": keys["1 MP JPEG"]})
            inputs = sum(1 for rule in operation.inputs if rule.required)
            scenario = {
                "path": "/images/edits",
                "body": body,
                "input_bytes": one_mp,
                "inputs": inputs,
            }
            report(operation.operation, run_child(env, scenario))

        for number, name in ((2, "upscale-conservative"), (3, "remove-background")):
            ways_to_send(stack, env, number, default_catalogue().operation(name), images, keys)
    print(
        f"\nGoal: peak RSS under {RSS_GOAL_MB} MB with a 9.4 MP input, and at most one base64"
        " pass over each input (inline: the decode that checks it; by key or upload: the encode"
        " for Bedrock). A 413 row is an inline body over the 6,000,000-byte limit."
    )


if __name__ == "__main__":
    main()
