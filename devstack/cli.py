"""``imagegen``: run the local stack, or generate and edit images locally or through a deployed
API."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

from api_client import (
    API_KEY_VARIABLE,
    API_URL_VARIABLE,
    ENDED,
    ApiError,
    UploadError,
    configured_api,
    download,
    get_image_url,
    get_job,
    get_models,
    is_url,
    poll_delays,
    post_edit,
    post_images,
    status_url_parts,
    submit_edit,
    submit_images,
    upload,
)
from devstack.backing import BackingFailed
from devstack.data_dir import DataDirError, ServeClaim, default_data_dir, running_serve
from devstack.edit_command import (
    OPERATIONS,
    HelpFormatter,
    add_edit_options,
    edit_body,
    input_references,
    operations_help,
    takes_seed,
)
from devstack.options import (
    EXIT_INTERRUPTED,
    MissingExtra,
    Parser,
    add_listen_options,
    finite_number,
    latency_seconds,
    local_stack,
    package_version,
    prepare_output_directory,
    service_env,
    timeout_seconds,
)
from service import config
from service.catalogue import Range, default_catalogue
from service.errors import ImageGenError
from service.validation import FIELDS

MODEL_OPTIONS = tuple(f for f in FIELDS if f != "prompt")
CATALOGUE = default_catalogue()
ASPECT_RATIOS = sorted({r for m in CATALOGUE.models for r in m.limits.size.aspect_ratios})
OUTPUT_FORMATS = sorted({f for m in CATALOGUE.models for f in m.limits.output_formats})
STYLE_PRESETS = sorted({p for m in CATALOGUE.models for p in m.limits.style_presets})
REGIONS = sorted({r for m in CATALOGUE.models for r in m.regions})
DEFAULT_REGION = "us-west-2"  # devstack.stack.LOCAL_REGION; importing that module loads moto


def _error_statuses(base: type[ImageGenError] = ImageGenError) -> dict[str, int]:
    """Each error code with the HTTP status the synchronous route answers it with."""
    statuses = {base.code: base.status_code}
    for subclass in base.__subclasses__():
        statuses |= _error_statuses(subclass)
    return statuses


# A failed job's error is the body the synchronous route would have answered, without its status.
ERROR_STATUS = _error_statuses()


def _serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT (exit 130, the shell's status for Ctrl-C) or SIGTERM (exit 0)."""
    stack_class = local_stack()
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    env = service_env(args.serve_retired)
    try:
        claim = ServeClaim(args.data_dir)
    except DataDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with claim:
        try:
            stack = stack_class(
                args.host,
                args.port,
                env=env,
                region=args.region,
                api_keys=tuple(args.api_key),
                serve_retired=args.serve_retired,
                latency_seconds=args.latency,
                separate_process=True,  # S3 and the emulator get their own core
                data_dir=claim.directory,
            ).start()
        except OSError as exc:  # port in use, address not on this machine, unknown host name
            reason = exc.strerror or exc
            print(f"error: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
            return 1
        except (config.ConfigError, BackingFailed) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            claim.publish(stack.url)
            settings = sorted(k for k in env if k in os.environ)
            origins = stack.generator.settings.allowed_origins
            _print_serving(stack.url, settings, bool(args.api_key), claim.directory, origins)
            stop.wait()
        finally:
            claim.withdraw()  # no new command is sent to a stack that is stopping
            stack.stop()
            print("stopped", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED if received[0] == signal.SIGINT else 0


def _print_serving(
    url: str, settings: list[str], keys: bool, data_dir: Path, origins: tuple[str, ...]
) -> None:
    """The URL first (scripts read that line), then how to try it."""
    key_header = " -H 'x-api-key: KEY'" if keys else ""
    print(f"imagegen local stack listening on {url}", flush=True)
    print(f"  open:    {url}/ in a browser (the playground and its gallery)", flush=True)
    print(f"  health:  curl {url}/health", flush=True)
    print(f"  models:  curl{key_header} {url}/models", flush=True)
    print(
        f"  try:     curl -s -X POST {url}/images{key_header}"
        " -H 'Content-Type: application/json' -d '{\"prompt\": \"a lighthouse at dusk\"}'",
        flush=True,
    )
    if keys:
        print("  API keys required: send one in x-api-key or Authorization: Bearer KEY", flush=True)
    if settings:
        print(f"  settings from the environment: {', '.join(settings)}", flush=True)
    if origins:
        print(f"  cors:    browser apps on {', '.join(origins)} may call this API", flush=True)
    print(f"  openai:  OpenAI SDKs and clients take the base URL {url}/v1", flush=True)
    print(
        f"  data:    {data_dir} keeps the images; imagegen commands without --api use this serve",
        flush=True,
    )
    print("Bedrock is emulated: images are labelled stand-ins. Ctrl-C stops.", flush=True)


class Progress:
    """A spinner with elapsed seconds on stderr while the request runs; ``update`` changes its
    label (a job's status), which is a line of its own when stderr is not a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tty = sys.stderr.isatty()
        self._started = time.monotonic()
        self._width = 0  # of the longest line shown: a shorter label must not leave a tail

    def _run(self) -> None:
        for frame in itertools.cycle("|/-\\"):
            if self._done.wait(0.1):
                break
            if self._tty:
                text = f"{frame} {self.label} {self.elapsed():4.1f}s"
                self._width = max(self._width, len(text))
                print(f"\r{text.ljust(self._width)}", end="", file=sys.stderr, flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def update(self, label: str) -> None:
        if label == self.label:
            return
        self.label = label
        if not self._tty:
            print(f"{label} ({self.elapsed():.0f}s)", file=sys.stderr, flush=True)

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        if not self._tty:
            print(f"{self.label}...", file=sys.stderr, flush=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if self._tty:
            print(f"\r{' ' * self._width}\r", end="", file=sys.stderr, flush=True)


class Target(NamedTuple):
    url: str
    api_key: str | None
    local: bool


def _remote(args: argparse.Namespace) -> Target | None:
    """``--api`` or ``$IMAGEGEN_API_URL`` (a typo fails here, before any progress output), else
    the ``imagegen serve`` holding ``--data-dir``, if one is running."""
    api = configured_api(args.api) or _running_serve(args)
    if api is None:
        return None
    return Target(api, args.api_key or os.environ.get(API_KEY_VARIABLE), local=False)


def _running_serve(args: argparse.Namespace) -> str | None:
    url = running_serve(args.data_dir)
    if url:
        print(f"no --api given: using the imagegen serve at {url}", file=sys.stderr)
    return url


def _target(args: argparse.Namespace) -> AbstractContextManager[Target]:
    """The API given, or a local stack started on entry and stopped on the way out (also on
    Ctrl-C). Resolved when called: a mistyped --api or a missing 'local' extra fails here, before
    the command creates anything."""
    remote = _remote(args)
    return nullcontext(remote) if remote else _local_target(local_stack(), args.data_dir)


@contextmanager
def _local_target(stack_class: type, data_dir: Path) -> Iterator[Target]:
    print(
        f"no --api given and no imagegen serve on {data_dir}: starting a local stack for this"
        " command (Bedrock emulated)",
        file=sys.stderr,
    )
    with stack_class(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}) as stack:
        yield Target(stack.url, None, local=True)


class SaveFailed(Exception):
    """An image could not be written to ``--out`` (it stays in S3: the answer's URL has it)."""


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C while following a job; the message says what became of the job and how to get
    its images later."""


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
        try:
            path.write_bytes(download(image["url"]))
        except OSError as exc:  # the directory or file could not be written
            raise SaveFailed(f"could not save the image: {exc}") from None
        paths.append(path)
    return paths


def _check_out(args: argparse.Namespace) -> None:
    """Before any image is paid for: an --out that cannot hold images is a usage error."""
    problem = prepare_output_directory(Path(args.out))
    if problem:
        args.parser.error(f"argument --out: {problem}")


def _fetch(
    args: argparse.Namespace,
    target: Target,
    label: str,
    call: Callable[[], dict[str, Any]],
    submit: Callable[[], dict[str, Any]],
) -> tuple[dict[str, Any], list[Path]]:
    """The API's answer and the images it names, saved in ``--out``: the answer to ``call``, or
    with ``--async`` the result of the job ``submit`` starts, polled to its end."""
    out = Path(args.out)
    if not args.run_async:
        with Progress(label):
            result = call()
            return result, _save(result, out)
    with Progress(label) as progress:
        job = submit()
        try:
            result = _result(_follow(args, target, job, progress, label))
            return result, _save(result, out)
        except KeyboardInterrupt:
            raise JobInterrupted(_resume_hint(args, target, job["job_id"])) from None


def _follow(
    args: argparse.Namespace,
    target: Target,
    job: dict[str, Any],
    progress: Progress,
    label: str,
) -> dict[str, Any]:
    """Poll ``job`` until it ends (soon at first, then every few seconds), its status on the
    progress line; the ended job."""
    delays = poll_delays()
    while job["status"] not in ENDED:
        progress.update(f"{label}: job {job['job_id']} {job['status']}")
        time.sleep(next(delays))  # the poll interval
        job = get_job(target.url, job["job_id"], target.api_key, timeout=args.timeout)
    return job


def _result(job: dict[str, Any]) -> dict[str, Any]:
    """An ended job's result (the synchronous answer), or its error as the synchronous route
    would have answered it."""
    if job["status"] == "succeeded":
        return job["result"]
    error = job["error"]
    status = ERROR_STATUS.get(error["code"], 0)
    raise ApiError(status, error["code"], error["message"], error.get("field"))


def _resume_hint(args: argparse.Namespace, target: Target, job_id: str) -> str:
    if target.local:
        return (
            f"job {job_id} ended with the local stack this command started (for jobs that"
            " outlive the command, run imagegen serve first)"
        )
    command = ["imagegen", "job", job_id, "--wait", "--out", args.out]
    if args.api or not os.environ.get(API_URL_VARIABLE):  # named, unless the environment has it
        command += ["--api", target.url]
    # The key itself is never printed: a terminal's scrollback is not a secret store.
    key = " with the same --api-key" if args.api_key else ""
    return f"job {job_id} keeps running; to save its images later: {shlex.join(command)}{key}"


def _report(
    args: argparse.Namespace, saved: tuple[dict[str, Any], list[Path]], target: Target
) -> int:
    """Where each image went, what made it (the model, and the operation of an edit) and at
    what cost, and the URL of a remote one."""
    result, paths = saved
    what = f"model {result['model']}"
    seeds = True
    if "operation" in result:
        what = f"operation {result['operation']} ({what})"
        known = any(op.operation == result["operation"] for op in OPERATIONS)
        seeds = not known or takes_seed(result["operation"])
    if args.json:
        images = [{**i, "path": str(p)} for i, p in zip(result["images"], paths, strict=True)]
        _print_json({**result, "images": images})
        return 0
    for note in result.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    for path, image in zip(paths, result["images"], strict=True):
        seed = f", seed {image['seed']}" if seeds else ""
        print(f"saved {path} ({image['width']}x{image['height']}{seed}; key {image['key']})")
    print(f"{what}, estimated cost ${result['cost']['estimated_usd']:.3f}")
    if not target.local:
        print(f"url (expires {result['expires_at']}): {result['image_url']}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    target_context = _target(args)  # before --out is created: the command can run
    _check_out(args)
    body = _request_body(args)
    label = f"generating with {body.get('model', 'the default model')}"
    with target_context as target:
        saved = _fetch(
            args,
            target,
            label,
            lambda: post_images(target.url, body, target.api_key, timeout=args.timeout),
            lambda: submit_images(target.url, body, target.api_key, timeout=args.timeout),
        )
    return _report(args, saved, target)


def _upload(target: Target, timeout: float, name: str, data: bytes) -> str:
    with Progress(f"uploading {name}"):
        return upload(target.url, data, target.api_key, timeout=timeout)["key"]


def _edit(args: argparse.Namespace) -> int:
    target_context = _target(args)  # before --out is created: the command can run
    _check_out(args)
    body = edit_body(args)
    with target_context as target:
        body |= input_references(args, lambda name, data: _upload(target, args.timeout, name, data))
        saved = _fetch(
            args,
            target,
            f"editing with {args.operation}",
            lambda: post_edit(target.url, body, target.api_key, timeout=args.timeout),
            lambda: submit_edit(target.url, body, target.api_key, timeout=args.timeout),
        )
    return _report(args, saved, target)


def _job_target(args: argparse.Namespace) -> tuple[Target, str]:
    """The API running the job (``--api``, else the status URL's, else ``$IMAGEGEN_API_URL``)
    and the job id."""
    stage, job_id = status_url_parts(args.job) if is_url(args.job) else (None, args.job)
    api = configured_api(args.api) if args.api else stage or configured_api(None)
    api = api or _running_serve(args)
    if api is None:  # a local stack started for this command would hold no jobs
        args.parser.error(
            "needs --api URL, IMAGEGEN_API_URL, the job's status URL or a running imagegen"
            " serve: a fresh local stack holds no jobs (a job of generate --async without --api"
            " or a serve ends with that command's stack)"
        )
    return Target(api, args.api_key or os.environ.get(API_KEY_VARIABLE), local=False), job_id


def _job(args: argparse.Namespace) -> int:
    """A job's status; once it succeeded, its images saved and reported as the command that
    started it reports them; a failed job's error as that command's."""
    target, job_id = _job_target(args)
    if args.out:
        _check_out(args)
    label = f"job {job_id}"
    with Progress(f"checking {label}") as progress:
        job = get_job(target.url, args.job, target.api_key, timeout=args.timeout)
        if args.wait:
            try:
                job = _follow(args, target, job, progress, "waiting")
            except KeyboardInterrupt:
                raise JobInterrupted(f"{label} keeps running") from None
    if job["status"] not in ENDED:
        if args.json:
            _print_json(job)
        else:
            print(f"{label}: {job['status']} (created {job['created_at']})")
            print(f"{label} has not ended: add --wait to wait for it", file=sys.stderr)
        return 0
    result = _result(job)
    args.out = args.out or ("edited" if "operation" in result else "generated")
    _check_out(args)
    with Progress(f"downloading the images of {label}"):
        paths = _save(result, Path(args.out))
    return _report(args, (result, paths), target)


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


def _names(rules: dict[str, Any], any_of: list[str] | tuple[()] = ()) -> str:
    """Field or input names, ``*`` marking required ones and ``(a|b)*`` "at least one of"."""
    group = [f"({'|'.join(any_of)})*"] if any_of else []
    return " ".join(
        group
        + [
            name + ("*" if isinstance(rule, dict) and rule.get("required") else "")
            for name, rule in rules.items()
            if name not in any_of
        ]
    )


def _operation_row(operation: dict[str, Any]) -> tuple[str, ...]:
    price = operation.get("price_usd_per_image_estimate")
    return (
        str(operation["operation"]),
        "yes" if operation["usable"] else "no",
        "-" if price is None else f"${price:.3f}",
        _names(operation["inputs"]) or "-",
        _names(operation["fields"], operation.get("require_any") or []) or "-",
    )


def _table(rows: list[tuple[str, ...]]) -> str:
    """Columns aligned; the widest column goes last."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def models_table(answer: dict[str, Any]) -> str:
    """One row a model, then (from an API that edits) one row an editing operation."""
    tables = [
        _table(
            [("MODEL", "STATUS", "USABLE", "MAX IMAGES", "PRICE/IMAGE", "SIZES")]
            + [_model_row(model) for model in answer["models"]]
        )
    ]
    if answer.get("operations"):
        tables.append(
            _table(
                [("OPERATION", "USABLE", "PRICE/IMAGE", "INPUTS", "FIELDS (* required)")]
                + [_operation_row(operation) for operation in answer["operations"]]
            )
        )
    return "\n\n".join(tables)


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
            "needs --api URL, IMAGEGEN_API_URL or a running imagegen serve: a fresh local stack"
            " has no earlier images"
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
    _add_data_dir_option(
        parser,
        "without --api, use the imagegen serve running on this data dir, if there is one"
        " (default: $IMAGEGEN_DATA_DIR, else %(default)s)",
    )


def _add_data_dir_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--data-dir", type=_folder, default=default_data_dir(), metavar="DIR", help=help_text
    )


def _folder(text: str) -> Path:
    """A ``--data-dir``: an empty one would be the current folder, among the user's files."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder (the default is .imagegen)")
    return Path(text)


def _add_async_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--async",
        dest="run_async",
        action="store_true",
        help="run it as an asynchronous job and poll the job to its end, for work that takes"
        " longer than an API answers (API Gateway's 29 s); --timeout then bounds each request."
        " Ctrl-C stops polling and names the job, which keeps running on a deployed API or"
        " imagegen serve: imagegen job ID --wait saves its images later. Without --api the job"
        " runs in this command's local stack and ends with it",
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
        help="require this key (x-api-key or Authorization: Bearer), like a stage with API keys;"
        " repeat for several "
        "(default: none; $IMAGEGEN_API_KEY is not read)",
    )
    _add_data_dir_option(
        serve,
        "folder that keeps S3's images across restarts; commands without --api use this serve"
        " through it (default: $IMAGEGEN_DATA_DIR, else %(default)s)",
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
    _add_async_option(gen)
    gen.set_defaults(func=_generate, parser=gen)


def _add_edit(sub: argparse._SubParsersAction) -> None:
    edit = sub.add_parser(
        "edit",
        help="edit an image (upscale, inpaint, outpaint, erase, ...) and download the result",
        description="Edit an image and save the result. Input images are local files (sent "
        "inline, or uploaded when large) or keys of earlier images and uploads. Without --api a "
        "local stack runs for the duration of the command. Prices: imagegen models.",
        epilog=operations_help(),
        formatter_class=HelpFormatter,
    )
    add_edit_options(edit)
    _add_api_options(edit, timeout=60.0, api_help=LOCAL_STACK_API_HELP)
    edit.add_argument(
        "--out",
        default="edited",
        metavar="DIR",
        help="directory for the images (default: %(default)s)",
    )
    _add_async_option(edit)
    edit.set_defaults(func=_edit, parser=edit)


def _add_job(sub: argparse._SubParsersAction) -> None:
    job = sub.add_parser(
        "job",
        help="check an asynchronous job (generate/edit --async) and save its images",
        description="A job that generate --async or edit --async started: while it runs, its "
        "status (--json: GET /jobs/{id}'s answer; --wait polls it to its end); once it has "
        "succeeded, its images saved in --out and printed as the command that started it prints "
        "them (--json too); once it has failed, that command's one-line error. Needs the API "
        "running the job: a job started without --api ran in that command's local stack and "
        "ended with it.",
    )
    job.add_argument(
        "job", metavar="ID|URL", help="the job id, or its status URL (<API URL>/jobs/ID)"
    )
    _add_api_options(
        job,
        timeout=30.0,
        api_help="stage URL of the API running the job, e.g. http://127.0.0.1:8080 for "
        "imagegen serve (default: the status URL's, else $IMAGEGEN_API_URL)",
    )
    job.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the images (default: generated, or edited for an edit's job)",
    )
    job.add_argument(
        "--wait",
        action="store_true",
        help="poll a queued or running job until it ends, with a progress line (Ctrl-C stops "
        "waiting, not the job)",
    )
    job.set_defaults(func=_job, parser=job)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="imagegen",
        description="Run the local stack, or generate and edit images locally or through a "
        "deployed API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(sub)
    _add_generate(sub)
    _add_edit(sub)
    models = sub.add_parser(
        "models",
        help="list the models and editing operations an API serves, with limits and prices",
        description="The models the API serves: status, whether usable, limits, price estimate; "
        "then its editing operations: whether usable, price estimate, inputs and fields.",
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
    _add_job(sub)
    # Listed for --help only: main() hands `imagegen mcp ...` to the MCP server's own parser.
    sub.add_parser(
        "mcp",
        help="run the MCP server, as imagegen-mcp does (its options: imagegen mcp --help)",
        add_help=False,
    )
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
    if exc.status in (401, 403) and not isinstance(exc, UploadError):
        return f"{exc} (check --api-key or {API_KEY_VARIABLE})"
    if exc.code == "model_timeout":
        return f"{exc} (--async runs it as a job, which is not cut off at 29 s)"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mcp"]:  # what MCP registry clients run: `uvx ... imagegen mcp`
        from mcp_server import main as mcp_main

        return mcp_main(argv[1:], prog="imagegen mcp")
    args = _parse(argv)
    try:
        return args.func(args)
    except ApiError as exc:
        print(f"error: {_explain(exc)}", file=sys.stderr)
        return 1
    except SaveFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except MissingExtra as exc:  # the local stack, in an install without the 'local' extra
        print(f"imagegen: {exc}", file=sys.stderr)
        return 1
    except JobInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
