"""``imagegen``: run the local stack, or generate an image locally or through a deployed API."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from api_client import (
    API_KEY_VARIABLE,
    ApiError,
    configured_api,
    download,
    get_image_url,
    get_models,
    post_images,
)
from devstack.options import (
    EXIT_INTERRUPTED,
    Parser,
    add_listen_options,
    finite_number,
    latency_seconds,
    package_version,
    prepare_output_directory,
    service_env,
    timeout_seconds,
)
from service import config
from service.catalogue import Range, default_catalogue
from service.validation import FIELDS

MODEL_OPTIONS = tuple(f for f in FIELDS if f != "prompt")
CATALOGUE = default_catalogue()
ASPECT_RATIOS = sorted({r for m in CATALOGUE.models for r in m.limits.size.aspect_ratios})
OUTPUT_FORMATS = sorted({f for m in CATALOGUE.models for f in m.limits.output_formats})
STYLE_PRESETS = sorted({p for m in CATALOGUE.models for p in m.limits.style_presets})
REGIONS = sorted({r for m in CATALOGUE.models for r in m.regions})
DEFAULT_REGION = "us-west-2"  # devstack.stack.LOCAL_REGION; importing that module loads moto


def _serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT (exit 130, the shell's status for Ctrl-C) or SIGTERM (exit 0)."""
    from devstack.stack import LocalStack

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    env = service_env(args.serve_retired)
    try:
        stack = LocalStack(
            args.host,
            args.port,
            env=env,
            region=args.region,
            api_keys=tuple(args.api_key),
            serve_retired=args.serve_retired,
            latency_seconds=args.latency,
            separate_process=True,  # S3 and the emulator get their own core
        ).start()
    except OSError as exc:  # port in use, address not on this machine, unknown host name
        reason = exc.strerror or exc
        print(f"error: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        _print_serving(stack.url, sorted(k for k in env if k in os.environ), bool(args.api_key))
        stop.wait()
    finally:
        stack.stop()
        print("stopped", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED if received[0] == signal.SIGINT else 0


def _print_serving(url: str, settings: list[str], keys: bool) -> None:
    """The URL first (scripts read that line), then how to try it."""
    key_header = " -H 'x-api-key: KEY'" if keys else ""
    print(f"imagegen local stack listening on {url}", flush=True)
    print(f"  health:  curl {url}/health", flush=True)
    print(f"  models:  curl{key_header} {url}/models", flush=True)
    print(
        f"  try:     curl -s -X POST {url}/images{key_header}"
        " -H 'Content-Type: application/json' -d '{\"prompt\": \"a lighthouse at dusk\"}'",
        flush=True,
    )
    if keys:
        print("  API keys required: send one in the x-api-key header", flush=True)
    if settings:
        print(f"  settings from the environment: {', '.join(settings)}", flush=True)
    print("Bedrock is emulated: images are labelled stand-ins. Ctrl-C stops.", flush=True)


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


class Target(NamedTuple):
    url: str
    api_key: str | None
    local: bool


def _remote(args: argparse.Namespace) -> Target | None:
    """``--api`` or ``$IMAGEGEN_API_URL`` (a typo fails here, before any progress output)."""
    api = configured_api(args.api)
    if api is None:
        return None
    return Target(api, args.api_key or os.environ.get(API_KEY_VARIABLE), local=False)


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[Target]:
    """The API given, or a local stack started here and stopped on the way out (also on
    Ctrl-C)."""
    remote = _remote(args)
    if remote:
        yield remote
        return
    from devstack.stack import LocalStack

    print("no --api given: starting a local stack (Bedrock emulated)", file=sys.stderr)
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}) as stack:
        yield Target(stack.url, None, local=True)


def _print_json(answer: dict[str, Any]) -> None:
    print(json.dumps(answer, indent=2))


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": args.prompt}
    body.update({k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None})
    return body


def _save(result: dict[str, Any], out_dir: Path) -> list[Path]:
    paths = []
    for image in result["images"]:
        path = out_dir / Path(image["key"]).name  # the key already ends in the right extension
        path.write_bytes(download(image["url"]))
        paths.append(path)
    return paths


def _generate(args: argparse.Namespace) -> int:
    problem = prepare_output_directory(Path(args.out))
    if problem:
        args.parser.error(f"argument --out: {problem}")
    body = _request_body(args)
    label = f"generating with {body.get('model', 'the default model')}"
    with _target(args) as target:
        try:
            with Progress(label):
                result = post_images(target.url, body, target.api_key, timeout=args.timeout)
                paths = _save(result, Path(args.out))
        except OSError as exc:  # the directory or file could not be written
            print(f"error: could not save the image: {exc}", file=sys.stderr)
            return 1
    if args.json:
        images = [{**i, "path": str(p)} for i, p in zip(result["images"], paths, strict=True)]
        _print_json({**result, "images": images})
        return 0
    for note in result.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    for path, image in zip(paths, result["images"], strict=True):
        print(f"saved {path} ({image['width']}x{image['height']}, seed {image['seed']})")
    print(f"model {result['model']}, estimated cost ${result['cost']['estimated_usd']:.3f}")
    if not target.local:
        print(f"url (expires {result['expires_at']}): {result['image_url']}")
    return 0


def _sizes(size: dict[str, Any]) -> str:
    if size.get("mode") == "aspect_ratio":
        return "ratios " + " ".join(size.get("aspect_ratios", []))
    if size.get("mode") == "fixed":
        sizes = size.get("sizes", [])
        return f"{len(sizes)} sizes: {' '.join(sizes[:3])}" + (" ..." if len(sizes) > 3 else "")
    if size.get("mode") == "range":
        return (
            f"{size.get('min_side')}-{size.get('max_side')} px a side,"
            f" multiple of {size.get('multiple_of')}"
        )
    return "-"


def _model_row(model: dict[str, Any]) -> tuple[str, ...]:
    limits = model["limits"]
    price = model.get("price_usd_per_image_estimate")
    eol = model.get("end_of_life")
    return (
        model["alias"] + (" (default)" if model.get("default") else ""),
        model["status"] + (f" {eol}" if eol and model["status"] == "retired" else ""),
        "yes" if model["usable"] else "no",
        str(limits.get("max_images", "-")),
        "-" if price is None else f"${price:.3f}",
        _sizes(limits.get("size") or {}),
    )


def models_table(answer: dict[str, Any]) -> str:
    """One row a model, columns aligned; the size column last because it is the widest."""
    rows = [("MODEL", "STATUS", "USABLE", "MAX IMAGES", "PRICE/IMAGE", "SIZES")]
    rows += [_model_row(model) for model in answer["models"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _models(args: argparse.Namespace) -> int:
    with _target(args) as target:
        answer = get_models(target.url, target.api_key, timeout=args.timeout)
    if args.json:
        _print_json(answer)
    else:
        print(models_table(answer))
    return 0


def _url(args: argparse.Namespace) -> int:
    target = _remote(args)
    if target is None:  # a local stack started for this command would hold no images yet
        args.parser.error(
            "needs --api URL or IMAGEGEN_API_URL: a fresh local stack has no earlier images"
            " (run `imagegen serve` and pass --api http://127.0.0.1:8080)"
        )
    answer = get_image_url(target.url, args.key, target.api_key, timeout=args.timeout)
    if args.json:
        _print_json(answer)
    else:
        print(answer["url"])
        print(f"expires {answer['expires_at']}", file=sys.stderr)
    return 0


def _support(limit: str) -> str:
    """Which models take a numeric option, with their ranges (from the catalogue)."""
    ranges: list[tuple[str, Range]] = [
        (m.alias, getattr(m.limits, limit)) for m in CATALOGUE.models if getattr(m.limits, limit)
    ]
    return ", ".join(f"{a} {r.min:g}-{r.max:g} (default {r.default:g})" for a, r in ranges)


LOCAL_STACK_API_HELP = (
    "stage URL of a deployed API (default: $IMAGEGEN_API_URL, else a local stack for this command)"
)


def _add_api_options(parser: argparse.ArgumentParser, timeout: float, api_help: str) -> None:
    parser.add_argument("--api", metavar="URL", help=api_help)
    parser.add_argument("--api-key", metavar="KEY", help="its API key (default: $IMAGEGEN_API_KEY)")
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=timeout,
        metavar="SECONDS",
        help="how long to wait for the API, in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the API's JSON answer instead of text"
    )


def _add_serve(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the local stack in the foreground",
        description="Run moto S3, the Bedrock emulator and the REST gateway until Ctrl-C. "
        "IMAGEGEN_* settings are read from the environment, as the Lambda reads them.",
    )
    add_listen_options(serve, 8080)
    serve.add_argument(
        "--region",
        choices=REGIONS,
        default=DEFAULT_REGION,
        help="the AWS region to emulate: models answer only where Bedrock offers them "
        "(default: %(default)s)",
    )
    serve.add_argument(
        "--serve-retired",
        action="store_true",
        help="emulate an account that still reaches retired models, and enable them "
        "(IMAGEGEN_ENABLED_RETIRED_MODELS, unless set)",
    )
    serve.add_argument(
        "--latency",
        type=latency_seconds,
        default=0.0,
        metavar="SECONDS",
        help="emulated model latency in seconds (default: %(default)s)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="require this x-api-key, like a stage with API keys; repeat for several "
        "(default: none; $IMAGEGEN_API_KEY is not read)",
    )
    serve.set_defaults(func=_serve, parser=serve)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser(
        "generate",
        help="generate images and download them",
        description="Generate images and save them. Without --api a local stack runs for the "
        "duration of the command. Which options a model takes: imagegen models.",
    )
    gen.add_argument("prompt", help="what to draw")
    _add_api_options(gen, timeout=60.0, api_help=LOCAL_STACK_API_HELP)
    gen.add_argument(
        "--out",
        default="generated",
        metavar="DIR",
        help="directory for the images (default: %(default)s)",
    )
    gen.add_argument(
        "--model",
        help="alias or Bedrock model id (default: the deployment's default model); active: "
        + ", ".join(m.alias for m in CATALOGUE.models if m.status == "active"),
    )
    gen.add_argument(
        "--negative-prompt", dest="negative_prompt", metavar="TEXT", help="what to avoid"
    )
    gen.add_argument(
        "--width",
        type=int,
        metavar="PX",
        help="width in pixels, with --height; Stability models map the size to the nearest ratio",
    )
    gen.add_argument("--height", type=int, metavar="PX", help="height in pixels, with --width")
    gen.add_argument(
        "--aspect-ratio", dest="aspect_ratio", choices=ASPECT_RATIOS, help="instead of a size"
    )
    gen.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="same seed, prompt and model give the same image (default: the service picks one "
        "and reports it)",
    )
    gen.add_argument(
        "--cfg-scale",
        dest="cfg_scale",
        type=finite_number,
        metavar="SCALE",
        help="how closely to follow the prompt; only " + _support("cfg_scale"),
    )
    gen.add_argument(
        "--steps", type=int, metavar="N", help="diffusion steps; only " + _support("steps")
    )
    gen.add_argument(
        "--style-preset",
        dest="style_preset",
        choices=STYLE_PRESETS,
        metavar="PRESET",
        help="only "
        + "; ".join(
            f"{m.alias}: {', '.join(m.limits.style_presets)}"
            for m in CATALOGUE.models
            if m.limits.style_presets
        ),
    )
    gen.add_argument(
        "-n",
        "--number-of-images",
        dest="number_of_images",
        type=int,
        metavar="N",
        help="how many images (default: 1; at most the model's limit and the deployment's "
        f"IMAGEGEN_MAX_IMAGES, {config.DEFAULT_MAX_IMAGES} unless set)",
    )
    gen.add_argument(
        "--output-format",
        dest="output_format",
        choices=OUTPUT_FORMATS,
        help="image format (default: the model's first, png); not every model takes every one",
    )
    gen.set_defaults(func=_generate, parser=gen)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="imagegen",
        description="Run the local stack, or generate images locally or through a deployed API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_generate(sub)
    models = sub.add_parser(
        "models",
        help="list the models an API serves, with limits and prices",
        description="The models the API serves: status, whether usable, limits, price estimate.",
    )
    _add_api_options(models, timeout=30.0, api_help=LOCAL_STACK_API_HELP)
    models.set_defaults(func=_models, parser=models)
    url = sub.add_parser(
        "url",
        help="print a fresh URL for an image generated earlier",
        description="A fresh presigned URL for an image's key (URLs expire, images stay), from "
        "the API that generated the image.",
    )
    url.add_argument("key", help="the image's key, e.g. images/2026/11/25/3f9c....png")
    _add_api_options(
        url,
        timeout=30.0,
        api_help="stage URL of the API that generated the image, e.g. http://127.0.0.1:8080 "
        "for imagegen serve (default: $IMAGEGEN_API_URL; required)",
    )
    url.set_defaults(func=_url, parser=url)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Like ``parse_args``, but an unknown option after a command points to that command's
    ``--help``, where the option it was meant to be is listed."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _explain(exc: ApiError) -> str:
    """The API's error, with a hint where the fix is on our side of the call."""
    if exc.status == 403:
        return f"{exc} (check --api-key or {API_KEY_VARIABLE})"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        return args.func(args)
    except ApiError as exc:
        print(f"error: {_explain(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
