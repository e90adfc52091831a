"""imagegen MCP server: ``generate_image``, the editing tools (``edit_image``, ``upscale_image``,
``remove_background``), ``list_models``, ``get_image_url`` and ``get_job`` for assistants.

The tool schemas are built from ``service``'s catalogue of models and operations, and every
request is validated by the service itself (in-process or behind the REST API), so limits live
in one place.

Generating and editing run as asynchronous jobs where the backend has them: the tool polls the
job, sending progress notifications that name it, and answers as the synchronous call would.
The installed SDK (mcp 2.x) carries the wire types of the 2025-11-25 tasks draft but routes none
of its methods (``mcp_types.methods``: "tasks/* deliberately absent") and implements no tasks
extension, so a job outlives a call that timed out through ``get_job`` instead of an MCP task.
"""

import base64
import inspect
import json
import os
import sys
import time
from argparse import Namespace
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent, ToolAnnotations
from pydantic import Field

import api_client as client
from devstack.data_dir import default_data_dir, running_serve
from devstack.options import (
    EXIT_INTERRUPTED,
    MissingExtra,
    Parser,
    add_listen_options,
    local_stack,
    package_version,
    prepare_output_directory,
    service_env,
    timeout_seconds,
)
from mcp_server.arguments import image_input, strict_tool
from mcp_server.backends import (
    EDIT,
    GENERATE,
    Backend,
    BackendError,
    DirectBackend,
    RemoteBackend,
    environment_generator,
    job_failure,
)
from mcp_server.operations import JOBS_NOTE, EditTool, description, edit_tools, parameters
from mcp_server.preview import make_preview
from service.catalogue import ModelSpec, Range, default_catalogue
from service.config import BUCKET, DEFAULT_MAX_IMAGES, MAX_IMAGES, REGION, ConfigError, Settings

CATALOGUE = default_catalogue()
_TODAY = datetime.now(UTC).date()
_ACTIVE = [m for m in CATALOGUE.models if not m.is_retired(_TODAY)]
MAX_PROMPT = max(m.limits.prompt_max_length for m in CATALOGUE.models)
MAX_SEED = max(m.limits.seed_max for m in CATALOGUE.models)
AspectRatio = Literal[
    tuple(sorted({r for m in CATALOGUE.models for r in m.limits.size.aspect_ratios}))
]
OutputFormat = Literal[
    tuple(sorted({f for m in CATALOGUE.models for f in m.limits.output_formats}))
]
StylePreset = Literal[tuple(sorted({p for m in CATALOGUE.models for p in m.limits.style_presets}))]
MODEL_HELP = "; ".join(
    f"{m.alias} ({m.id}): prompt <= {m.limits.prompt_max_length} chars, "
    + (
        f"aspect ratios {', '.join(m.limits.size.aspect_ratios)}"
        if m.limits.size.aspect_ratios
        else "pixel sizes"
    )
    + f", formats {'/'.join(m.limits.output_formats)}, up to {m.limits.max_images} images"
    for m in _ACTIVE
)


def _deployment_max_images() -> int:
    """``IMAGEGEN_MAX_IMAGES`` by ``service.config``'s rules; a bad value raises ConfigError
    naming it. The probe's other settings are valid placeholders, so only this one can fail."""
    probe = {BUCKET: "imagegen-mcp", REGION: "us-west-2"}
    if MAX_IMAGES in os.environ:
        probe[MAX_IMAGES] = os.environ[MAX_IMAGES]
    return Settings.from_env(probe, CATALOGUE).max_images


def _schema_max_images() -> int:
    """The limit a request meets: the largest model's, capped by the deployment (the default
    cap while the setting is bad: ``main`` refuses to start then)."""
    try:
        deployment = _deployment_max_images()
    except ConfigError:
        deployment = DEFAULT_MAX_IMAGES
    return min(max(m.limits.max_images for m in CATALOGUE.models), deployment)


MAX_IMAGES_PER_REQUEST = _schema_max_images()


def _label(model: ModelSpec) -> str:
    return f"{model.alias} (retired)" if model.is_retired(_TODAY) else model.alias


def _ranges(limit: str) -> list[tuple[ModelSpec, Range]]:
    """The models that take a numeric option (``cfg_scale``, ``steps``) and their ranges."""
    return [(m, getattr(m.limits, limit)) for m in CATALOGUE.models if getattr(m.limits, limit)]


def _range_help(limit: str) -> str:
    return "Only " + ", ".join(
        f"{_label(m)} {r.min:g}-{r.max:g} (default {r.default:g})" for m, r in _ranges(limit)
    )


def _low(limit: str) -> float:
    return min(r.min for _, r in _ranges(limit))


def _high(limit: str) -> float:
    return max(r.max for _, r in _ranges(limit))


STYLE_HELP = "Only " + "; ".join(
    f"{_label(m)}: {', '.join(m.limits.style_presets)}"
    for m in CATALOGUE.models
    if m.limits.style_presets
)


@dataclass
class Options:
    """Process-wide settings from flags or environment."""

    output_dir: Path | None = None
    structured: bool = True
    timeout_seconds: float = 60.0
    api_url: str | None = None
    api_key: str | None = None
    # Edit inputs may be local file paths only when the caller runs on this machine (stdio):
    # over HTTP a remote assistant must not read the server's files. Off unless main() serves
    # stdio, so any other way of serving ``server`` refuses paths.
    local_files: bool = False


@dataclass
class AppContext:
    backend: Backend
    options: Options


OPTIONS = Options(structured=os.environ.get("IMAGEGEN_MCP_STRUCTURED_OUTPUT", "1") != "0")


@asynccontextmanager
async def lifespan(_: MCPServer) -> AsyncIterator[AppContext]:
    """Remote API if configured (or a running ``imagegen serve``), else the service in-process;
    a local stack if neither is set."""
    api_url = client.configured_api(OPTIONS.api_url)
    if api_url:
        api_key = OPTIONS.api_key or os.environ.get(client.API_KEY_VARIABLE)
        yield AppContext(RemoteBackend(api_url, api_key, OPTIONS.timeout_seconds), OPTIONS)
        return
    if os.environ.get(BUCKET):
        yield AppContext(DirectBackend(), OPTIONS)
        return
    from devstack.stack import LocalStack

    # The service's settings from the environment, as `imagegen serve` and the Lambda read them.
    stack = LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING", **service_env()}).start()
    try:
        yield AppContext(DirectBackend(lambda: stack.generator), OPTIONS)
    finally:
        stack.stop()


TOOLS: list[Tool] = []


def tool(
    annotations: ToolAnnotations, jobs: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a tool whose arguments are checked strictly (``mcp_server.arguments``); the
    description of one whose work may run as a job (``jobs``) says so."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        options = {"description": f"{inspect.getdoc(fn)}\n{JOBS_NOTE}"} if jobs else {}
        TOOLS.append(strict_tool(fn, annotations=annotations, **options))
        return fn

    return register


IMAGE_TOOL = {"read_only_hint": False, "destructive_hint": False, "idempotent_hint": False}


def _context(ctx: Context) -> AppContext:
    return ctx.request_context.lifespan_context


async def _call(ctx: Context, label: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking backend call with progress notifications and a timeout that answers.

    Backend refusals become ``ToolError`` so the assistant gets ``is_error`` and the message.
    """
    timeout = _context(ctx).options.timeout_seconds
    done = anyio.Event()
    outcome: dict[str, Any] = {}

    async def run() -> None:
        try:
            outcome["value"] = await anyio.to_thread.run_sync(
                partial(fn, *args), abandon_on_cancel=True
            )
        except (BackendError, ConfigError, OSError) as exc:
            outcome["error"] = exc
        finally:
            done.set()

    with anyio.move_on_after(timeout + 5) as scope:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run)
            elapsed = 0
            while not done.is_set():
                await ctx.report_progress(elapsed, None, f"{label} ({elapsed}s)")
                with anyio.move_on_after(1.0):
                    await done.wait()
                elapsed += 1
    if scope.cancelled_caught:
        raise ToolError(f"timed out after {timeout:.0f}s waiting for the model; try again")
    if "error" in outcome:
        raise ToolError(str(outcome["error"]))
    return outcome["value"]


async def _produce(ctx: Context, label: str, start: Callable[..., Any], *args: Any) -> Any:
    """The REST answer of a generation or edit: ``start(*args)`` (blocking) returns it, or a job
    where the backend runs them, which is then followed to its end (``_follow``), within the
    server's timeout in all."""
    timeout = _context(ctx).options.timeout_seconds
    began = time.monotonic()
    started = await _call(ctx, label, start, *args)
    if "job_id" not in started:
        return started
    return _outcome(await _follow(ctx, label, started, began, began + timeout), timeout)


def _get_job_hint(job_id: str) -> str:
    return f"call get_job with job_id '{job_id}' for its images"


async def _follow(
    ctx: Context, label: str, job: dict[str, Any], began: float, give_up: float
) -> dict[str, Any]:
    """Poll ``job`` (soon at first, then every few seconds) until it ends or the monotonic
    time ``give_up`` passes, with a progress notification every second naming the job, its
    status and the seconds since ``began`` (when the call started): the job as last seen."""
    app = _context(ctx)
    job_id = job["job_id"]
    delays = client.poll_delays()
    next_poll = time.monotonic() + next(delays)
    while job["status"] not in client.ENDED:
        now = time.monotonic()
        elapsed = now - began
        await ctx.report_progress(
            elapsed, None, f"{label}: job {job_id} {job['status']} ({elapsed:.0f}s)"
        )
        if now >= give_up:
            break
        await anyio.sleep(min(next_poll, now + 1.0, give_up) - now)
        if time.monotonic() < next_poll:
            continue
        with anyio.move_on_after(max(give_up - time.monotonic(), 0) + 5):
            try:
                job = await anyio.to_thread.run_sync(
                    partial(app.backend.job, job_id, app.options.timeout_seconds),
                    abandon_on_cancel=True,
                )
            except BackendError as exc:
                raise ToolError(
                    f"{exc}; job {job_id} may still be running: {_get_job_hint(job_id)}"
                ) from exc
        next_poll = time.monotonic() + next(delays)
    return job


def _outcome(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """A followed job's result (the synchronous answer), or a ``ToolError``: its error, worded
    as the synchronous call's, or that it is still running."""
    job_id = job["job_id"]
    if job["status"] == "succeeded":
        return job["result"]
    if job["status"] == "failed":
        raise ToolError(f"{job_failure(job['error'])} (job {job_id} failed)")
    raise ToolError(
        f"timeout: job {job_id} is still {job['status']} after {timeout:g} s (the server's"
        f" --timeout); it keeps running: {_get_job_hint(job_id)}"
    )


def _lead(answer: dict[str, Any]) -> str:
    """The first words of an image answer: what made it."""
    if "operation" in answer:
        return f"Edited with {answer['operation']} ({answer['model']})"
    return f"Generated {len(answer['images'])} image(s) with {answer['model']}"


@tool(ToolAnnotations(title="Generate image", open_world_hint=True, **IMAGE_TOOL), jobs=True)
async def generate_image(
    ctx: Context,
    prompt: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PROMPT,
            description="What to draw. Per-model limits: " + MODEL_HELP,
        ),
    ],
    negative_prompt: Annotated[
        str | None, Field(max_length=MAX_PROMPT, description="What to avoid.")
    ] = None,
    model: Annotated[
        str | None,
        Field(
            description="Model alias or Bedrock id; default is the "
            "deployment's. Active: " + ", ".join(m.alias for m in _ACTIVE)
        ),
    ] = None,
    width: Annotated[
        int | None,
        Field(
            ge=1,
            le=8192,
            description=(
                "Pixel width, with height. Stability models map width/height to the nearest aspect "
                "ratio."
            ),
        ),
    ] = None,
    height: Annotated[int | None, Field(ge=1, le=8192, description="Pixel height.")] = None,
    aspect_ratio: Annotated[
        AspectRatio | None, Field(description=("Instead of width/height, e.g. 16:9."))
    ] = None,
    seed: Annotated[
        int | None,
        Field(
            ge=0,
            le=MAX_SEED,
            description=(
                "Same seed + prompt + model gives the same image. Omit for a new one; the seed "
                "used is returned."
            ),
        ),
    ] = None,
    cfg_scale: Annotated[
        float | None,
        Field(
            ge=_low("cfg_scale"),
            le=_high("cfg_scale"),
            description="How closely to follow the prompt. " + _range_help("cfg_scale") + ".",
        ),
    ] = None,
    steps: Annotated[
        int | None,
        Field(
            ge=int(_low("steps")),
            le=int(_high("steps")),
            description="Diffusion steps. " + _range_help("steps") + ".",
        ),
    ] = None,
    style_preset: Annotated[StylePreset | None, Field(description=STYLE_HELP + ".")] = None,
    number_of_images: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_IMAGES_PER_REQUEST,
            description="How many images; each model's own limit applies too.",
        ),
    ] = 1,
    output_format: Annotated[OutputFormat | None, Field(description="Image format.")] = None,
) -> CallToolResult:
    """Generate images from a text prompt and return a preview, a full-size link and the seed."""
    app = _context(ctx)
    arguments = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "model": model,
        "width": width,
        "height": height,
        "aspect_ratio": aspect_ratio,
        "seed": seed,
        "cfg_scale": cfg_scale,
        "steps": steps,
        "style_preset": style_preset,
        "number_of_images": number_of_images,
        "output_format": output_format,
    }
    body = {k: v for k, v in arguments.items() if v is not None}
    timeout = app.options.timeout_seconds
    answer = await _produce(ctx, "generating", app.backend.start, GENERATE, body, timeout)
    return await _answer(app, answer, _lead(answer))


async def _edit(ctx: Context, spec: EditTool, arguments: dict[str, Any]) -> CallToolResult:
    """What every edit tool runs: the REST body of ``POST /images/edits``, the same in-process
    or over REST, except local files (``Backend.file_input``)."""
    app = _context(ctx)
    operation = spec.operation(arguments)
    body: dict[str, Any] = {"operation": operation}
    files: dict[str, Path] = {}
    inputs = spec.input_names()
    for name, value in arguments.items():
        if value is None:
            continue
        source = image_input(name, value, app.options.local_files) if name in inputs else value
        if isinstance(source, Path):
            files[name] = source
        else:
            body[name] = source
    timeout = app.options.timeout_seconds
    answer = await _produce(
        ctx, f"editing ({operation})", _send_edit, app.backend, body, files, timeout
    )
    return await _answer(app, answer, _lead(answer))


def _send_edit(
    backend: Backend, body: dict[str, Any], files: dict[str, Path], timeout: float
) -> dict[str, Any]:
    """Send the local files, then start the edit, all within ``timeout`` (blocking: run in a
    thread)."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BackendError(f"timeout: sending the input files took all of {timeout:g} s")
        return remaining

    for name, path in files.items():
        try:
            body[name] = backend.file_input(path, left())
        except BackendError as exc:
            raise BackendError(f"'{name}' ({path}): {exc}") from exc
    return backend.start(EDIT, body, left())


async def _answer(app: AppContext, answer: dict[str, Any], lead: str) -> CallToolResult:
    """The answer of every image tool: per image an inline preview and a link (saved too with
    ``--output-dir``), a summary an assistant can read, and the REST answer as structured
    content."""
    content: list = []
    images = []
    for image in answer["images"]:
        blob = await _download(image["url"])
        content += _image_content(image, blob)
        entry = dict(image)
        if app.options.output_dir:
            entry.update(_save(app.options.output_dir, image, blob))
        images.append(entry)
    structured = None
    if app.options.structured:
        edited = {"operation": answer["operation"]} if "operation" in answer else {}
        structured = {
            **edited,
            "model": answer["model"],
            "model_id": answer["model_id"],
            "expires_at": answer["expires_at"],
            "images": images,
            "notes": answer.get("notes", []),
            "cost": answer.get("cost"),
        }
    return CallToolResult(
        content=[TextContent(text=_summary(lead, answer, images)), *content],
        structured_content=structured,
    )


async def _download(url: str) -> bytes:
    """The full image, through the REST client's http(s)-only download."""
    try:
        return await anyio.to_thread.run_sync(client.download, url)
    except client.ApiError as exc:
        raise ToolError(str(exc)) from exc


def _image_content(image: dict[str, Any], blob: bytes) -> list:
    """A small inline preview and a link to the full image."""
    preview, mime = make_preview(blob)
    return [
        ImageContent(data=base64.b64encode(preview).decode(), mime_type=mime),
        ResourceLink(
            name=Path(image["key"]).name,
            uri=image["url"],
            mime_type=image["content_type"],
            size=image["bytes"],
            description="full-size image",
        ),
    ]


def _save(directory: Path, image: dict[str, Any], blob: bytes) -> dict[str, str]:
    """``{"path": ...}``, or ``{"not_saved": why}``: the image was made (and paid for), so a
    full disk or a removed directory costs the copy, not the preview and link."""
    path = directory / Path(image["key"]).name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    except OSError as exc:
        return {"not_saved": f"not saved to {directory}: {exc.strerror}"}
    return {"path": str(path)}


def _summary(lead: str, answer: dict[str, Any], images: list[dict[str, Any]]) -> str:
    """Every image's key too: clients that hide structured content still let the assistant
    edit it further. No seed for an operation that takes none (it reports 0)."""
    operation = CATALOGUE.operation(answer["operation"]) if "operation" in answer else None
    seeded = operation is None or operation.seed_max is not None
    return "\n".join(
        [f"{lead}; links expire {answer['expires_at']}."]
        + [
            f"- {i['width']}x{i['height']}"
            + (f" seed {i['seed']}" if seeded else "")
            + f" key {i['key']}: {i['url']}"
            + (f" (saved to {i['path']})" if "path" in i else "")
            + (f" ({i['not_saved']})" if "not_saved" in i else "")
            for i in images
        ]
        + [f"Note: {n}" for n in answer.get("notes", [])]
    )


def _register_edit_tool(spec: EditTool) -> None:
    """An edit tool with the arguments ``mcp_server.operations`` builds from the catalogue (as
    the function's signature, which MCPServer reads); each one is a thin wrapper of ``_edit``."""

    async def edit_tool(ctx: Context, **arguments: Any) -> CallToolResult:
        return await _edit(ctx, spec, arguments)

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)
    edit_tool.__name__ = spec.name
    edit_tool.__signature__ = inspect.signature(edit_tool).replace(
        parameters=[context, *parameters(spec)]
    )
    annotations = ToolAnnotations(title=spec.title, open_world_hint=True, **IMAGE_TOOL)
    TOOLS.append(
        strict_tool(
            edit_tool,
            description=description(spec, CATALOGUE, _TODAY),
            annotations=annotations,
        )
    )


for _spec in edit_tools(CATALOGUE):
    _register_edit_tool(_spec)


@tool(ToolAnnotations(title="List image models", read_only_hint=True, open_world_hint=False))
async def list_models(ctx: Context) -> str:
    """The models and editing operations this deployment serves, with limits (prompt length,
    sizes, seeds, formats, fields, input images) and estimated prices."""
    models = await _call(ctx, "listing models", _context(ctx).backend.models)
    return json.dumps(models, indent=1)


@tool(ToolAnnotations(title="Fresh image URL", read_only_hint=True, open_world_hint=True))
async def get_image_url(
    ctx: Context,
    key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=1024,
            description="The image key from an earlier generate_image.",
        ),
    ],
) -> str:
    """A fresh presigned URL for an image generated earlier (URLs expire)."""
    return await _call(ctx, "signing", _context(ctx).backend.image_url, key)


@tool(ToolAnnotations(title="Image job", read_only_hint=True, open_world_hint=True))
async def get_job(
    ctx: Context,
    job_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="The job id a generate or edit tool named (in its progress messages,"
            " and in its error when it timed out).",
        ),
    ],
    wait: Annotated[
        bool,
        Field(
            description="Wait for a queued or running job to end, with progress notifications,"
            " up to the server's timeout; false answers its status at once."
        ),
    ] = True,
) -> CallToolResult:
    """A generation's or edit's job: once it has succeeded, the same answer as the tool that
    started it (preview, link, key, seed); a failed job is that tool's error; otherwise its
    status. Jobs keep running when the call that started them times out."""
    app = _context(ctx)
    timeout = app.options.timeout_seconds
    began = time.monotonic()
    job = await _call(ctx, f"checking job {job_id}", app.backend.job, job_id, timeout)
    if wait:
        job = await _follow(ctx, "waiting", job, began, began + timeout)
    if job["status"] in client.ENDED:
        answer = _outcome(job, timeout)
        return await _answer(app, answer, _lead(answer))
    status = {key: job[key] for key in ("job_id", "status", "created_at", "updated_at")}
    text = (
        f"Job {job_id} is {job['status']} (created {job['created_at']}, updated"
        f" {job['updated_at']}); call get_job again for its images."
    )
    return CallToolResult(
        content=[TextContent(text=text)],
        structured_content=status if app.options.structured else None,
    )


server = MCPServer(
    "imagegen",
    version=package_version(),
    instructions=(
        "Generate images from text with Amazon Bedrock models, and edit them. Call list_models "
        "for limits. generate_image returns a small preview, a link to the full image (expires), "
        "the seed that reproduces it and the image's key. edit_image (and upscale_image, "
        "remove_background) take that key, a data: URI or, over stdio, a local file path. "
        "Long generations and edits run as jobs: if a call times out, get_job with the job id "
        "its progress messages named returns the result."
    ),
    lifespan=lifespan,
    tools=TOOLS,
)


DESCRIPTION = (
    "MCP server for imagegen: the generate_image, edit_image, upscale_image, remove_background, "
    "list_models, get_image_url and get_job tools for AI assistants, over stdio (the default) or "
    "streamable HTTP. Edit inputs may be local file paths over stdio only."
)


def _parser(prog: str = "imagegen-mcp") -> Parser:
    from mcp_server.http import allowed_host  # uvicorn and starlette: for HTTP only

    parser = Parser(prog=prog, description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    add_listen_options(parser, 8765, "HTTP: ")
    parser.add_argument(
        "--token",
        default=os.environ.get("IMAGEGEN_MCP_TOKEN"),
        help="HTTP: bearer token clients must send (required off loopback; "
        "default: $IMAGEGEN_MCP_TOKEN)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        type=allowed_host,
        metavar="HOST[:PORT]",
        help="HTTP: also accept this Host/Origin (a name or address clients use, e.g. behind a "
        "proxy; IPv6 as [::1]:8765); repeatable. The bound addresses are always accepted",
    )
    parser.add_argument("--api", help="deployed REST API URL (default: $IMAGEGEN_API_URL)")
    parser.add_argument("--api-key", help="its API key (default: $IMAGEGEN_API_KEY)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=os.environ.get("IMAGEGEN_MCP_OUTPUT_DIR") or None,
        metavar="DIR",
        help="also save full images here, created if missing (default: $IMAGEGEN_MCP_OUTPUT_DIR)",
    )
    parser.add_argument(
        "--no-structured-output",
        action="store_true",
        help="omit structured content (some clients then hide images)",
    )
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long a tool waits for each generation or edit, in seconds; a job keeps "
        "running after that, for get_job (default: %(default)s)",
    )
    return parser


def _configure(parser: Parser, args: Namespace) -> None:
    """Set ``OPTIONS``, refusing at start what would otherwise fail every call."""
    try:
        api = client.configured_api(args.api)
        _deployment_max_images()
    except client.ApiError as exc:
        parser.error(exc.message)
    except ConfigError as exc:
        parser.error(str(exc))
    if args.output_dir and (problem := prepare_output_directory(args.output_dir)):
        parser.error(f"argument --output-dir: {problem}")
    if not api and not os.environ.get(BUCKET):  # a running `imagegen serve` keeps its images
        api = running_serve(default_data_dir())
        if api:
            print(f"{parser.prog}: no API given: using imagegen serve at {api}", file=sys.stderr)
    if not api:  # the lifespan will run the service in-process (boto3), or a local stack
        try:
            if os.environ.get(BUCKET):
                environment_generator()
            else:
                local_stack('pip install "imagegen[mcp,local]"')
        except MissingExtra as exc:  # refused now, not in every call
            api_help = f"--api URL or {client.API_URL_VARIABLE}"
            parser.exit(1, f"{parser.prog}: {exc}, or use a deployed API ({api_help})\n")
    OPTIONS.api_url, OPTIONS.api_key = api, args.api_key
    OPTIONS.timeout_seconds = args.timeout
    OPTIONS.output_dir = args.output_dir
    OPTIONS.local_files = args.transport == "stdio"
    if args.no_structured_output:
        OPTIONS.structured = False


def _serve_http(parser: Parser, args: Namespace) -> None:
    from mcp_server.http import listen, serve

    try:
        listener = listen(args.host, args.port)
    except OSError as exc:  # a busy port, an address not on this machine, an unknown name
        reason = exc.strerror or exc
        parser.exit(
            1, f"{parser.prog}: error: cannot listen on {args.host}:{args.port}: {reason}\n"
        )
    serve(server, listener, args.host, args.token, args.allowed_host)


def main(argv: list[str] | None = None, prog: str = "imagegen-mcp") -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    _configure(parser, args)
    try:
        if args.transport == "http":
            _serve_http(parser, args)
        else:
            server.run()
    except KeyboardInterrupt:  # Ctrl-C, after the transport has shut down
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
