"""``imagegen``: run the local stack, or generate an image locally or through a deployed API."""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from api_client import ApiError, download, post_images
from service.validation import FIELDS

MODEL_OPTIONS = tuple(f for f in FIELDS if f != "prompt")


def _serve(args: argparse.Namespace) -> int:
    from devstack.stack import LocalStack

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = LocalStack(
        args.host,
        args.port,
        serve_retired=args.serve_retired,
        latency_seconds=args.latency,
        separate_process=True,  # S3 and the emulator get their own core
    ).start()
    try:
        print(f"imagegen local stack listening on {stack.url}", flush=True)
        print(f"  health:  curl {stack.url}/health", flush=True)
        print(f"  models:  curl {stack.url}/models", flush=True)
        print(
            f"  try:     curl -s -X POST {stack.url}/images -H 'Content-Type: application/json'"
            ' -d \'{"prompt": "a lighthouse at dusk"}\'',
            flush=True,
        )
        print("Bedrock is emulated: images are labelled stand-ins. Ctrl-C stops.", flush=True)
        stop.wait()
    finally:
        stack.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0


class Progress:
    """A spinner with elapsed seconds on stderr while the request runs."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tty = sys.stderr.isatty()

    def _run(self) -> None:
        started = time.monotonic()
        for frame in itertools.cycle("|/-\\"):
            if self._done.wait(0.1):
                break
            if self._tty:
                elapsed = time.monotonic() - started
                print(
                    f"\r{frame} {self.label} {elapsed:4.1f}s", end="", file=sys.stderr, flush=True
                )

    def __enter__(self) -> Progress:
        if not self._tty:
            print(f"{self.label}...", file=sys.stderr, flush=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if self._tty:
            print("\r", end="", file=sys.stderr, flush=True)


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": args.prompt}
    body.update({k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None})
    return body


def _save(result: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for image in result["images"]:
        path = out_dir / Path(image["key"]).name  # the key already ends in the right extension
        path.write_bytes(download(image["url"]))
        paths.append(path)
    return paths


def _generate(args: argparse.Namespace) -> int:
    body = _request_body(args)
    stack = None
    api = args.api or os.environ.get("IMAGEGEN_API_URL")
    api_key = args.api_key or os.environ.get("IMAGEGEN_API_KEY")
    if not api:
        from devstack.stack import LocalStack

        print("no --api given: starting a local stack (Bedrock emulated)", file=sys.stderr)
        stack = LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}).start()
        api = stack.url
    try:
        with Progress(f"generating with {body.get('model', 'the default model')}"):
            result = post_images(api, body, api_key, timeout=args.timeout)
            paths = _save(result, Path(args.out))
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: could not download or save the image: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack:
            stack.stop()
    for note in result.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    for path, image in zip(paths, result["images"], strict=True):
        print(f"saved {path} ({image['width']}x{image['height']}, seed {image['seed']})")
    print(f"model {result['model']}, estimated cost ${result['cost']['estimated_usd']:.3f}")
    if stack is None:
        print(f"url (expires {result['expires_at']}): {result['image_url']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagegen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local stack in the foreground")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument(
        "--serve-retired",
        action="store_true",
        help="emulate an account that still has access to retired models",
    )
    serve.add_argument("--latency", type=float, default=0.0, help="emulated model latency (s)")
    serve.set_defaults(func=_serve)

    gen = sub.add_parser("generate", help="generate an image and download it")
    gen.add_argument("prompt")
    gen.add_argument("--api", help="deployed API URL (default: $IMAGEGEN_API_URL or a local stack)")
    gen.add_argument("--api-key", help="API key (default: $IMAGEGEN_API_KEY)")
    gen.add_argument("--out", default="generated", help="directory for the image files")
    gen.add_argument("--timeout", type=float, default=60.0)
    gen.add_argument("--model")
    gen.add_argument("--negative-prompt", dest="negative_prompt")
    gen.add_argument("--width", type=int)
    gen.add_argument("--height", type=int)
    gen.add_argument("--aspect-ratio", dest="aspect_ratio")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--cfg-scale", dest="cfg_scale", type=float)
    gen.add_argument("--steps", type=int)
    gen.add_argument("--style-preset", dest="style_preset")
    gen.add_argument("-n", "--number-of-images", dest="number_of_images", type=int)
    gen.add_argument("--output-format", dest="output_format")
    gen.set_defaults(func=_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
