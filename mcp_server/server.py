"""imagegen MCP server: ``generate_image``, ``list_models`` and ``get_image_url`` for assistants.

The tool schema is built from ``service``'s model catalogue and every request is validated by
the service itself (in-process or behind the REST API), so limits live in one place.
"""

import argparse
import base64
import json
import os
import urllib.request
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
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent, ToolAnnotations
from pydantic import Field

from mcp_server.backends import Backend, BackendError, DirectBackend, RemoteBackend
from mcp_server.preview import make_preview
from service.catalogue import default_catalogue
from service.config import BUCKET, ConfigError

CATALOGUE = default_catalogue()
_TODAY = datetime.now(UTC).date()
_ACTIVE = [m for m in CATALOGUE.models if not m.is_retired(_TODAY)]
MAX_PROMPT = max(m.limits.prompt_max_length for m in CATALOGUE.models)
MAX_SEED = max(m.limits.seed_max for m in CATALOGUE.models)
MAX_IMAGES = max(m.limits.max_images for m in CATALOGUE.models)
AspectRatio = Literal[
    tuple(sorted({r for m in CATALOGUE.models for r in m.limits.size.aspect_ratios}))
]
OutputFormat = Literal[
    tuple(sorted({f for m in CATALOGUE.models for f in m.limits.output_formats}))
]
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


@dataclass
class Options:
    """Process-wide settings from flags or environment."""

    output_dir: Path | None = None
    structured: bool = True
    timeout_seconds: float = 60.0
    api_url: str | None = None
    api_key: str | None = None


@dataclass
class AppContext:
    backend: Backend
    options: Options


OPTIONS = Options(
    output_dir=Path(os.environ["IMAGEGEN_MCP_OUTPUT_DIR"])
    if os.environ.get("IMAGEGEN_MCP_OUTPUT_DIR")
    else None,
    structured=os.environ.get("IMAGEGEN_MCP_STRUCTURED_OUTPUT", "1") != "0",
)


@asynccontextmanager
async def lifespan(_: MCPServer) -> AsyncIterator[AppContext]:
    """Remote API if configured, else the service in-process; a local stack if neither is set."""
    api_url = OPTIONS.api_url or os.environ.get("IMAGEGEN_API_URL")
    if api_url:
        api_key = OPTIONS.api_key or os.environ.get("IMAGEGEN_API_KEY")
        yield AppContext(RemoteBackend(api_url, api_key), OPTIONS)
        return
    if os.environ.get(BUCKET):
        yield AppContext(DirectBackend(), OPTIONS)
        return
    from devstack.stack import LocalStack

    stack = LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}).start()
    try:
        yield AppContext(DirectBackend(lambda: stack.generator), OPTIONS)
    finally:
        stack.stop()


server = MCPServer(
    "imagegen",
    instructions=(
        "Generate images from text with Amazon Bedrock models. Call list_models for limits. "
        "generate_image returns a small preview, a link to the full image (expires), and the "
        "seed that reproduces it."
    ),
    lifespan=lifespan,
)


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


def _download_all(urls: list[str]) -> list[bytes]:
    return [_download(url) for url in urls]


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


@server.tool(
    annotations=ToolAnnotations(
        title="Generate image",
        read_only_hint=False,
        destructive_hint=False,
        idempotent_hint=False,
        open_world_hint=True,
    ),
)
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
    number_of_images: Annotated[
        int, Field(ge=1, le=MAX_IMAGES, description="How many images.")
    ] = 1,
    output_format: Annotated[OutputFormat | None, Field(description="Image format.")] = None,
) -> CallToolResult:
    """Generate images from a text prompt and return a preview, a full-size link and the seed."""
    app = _context(ctx)
    body: dict[str, Any] = {"prompt": prompt, "number_of_images": number_of_images}
    optional = {
        "negative_prompt": negative_prompt,
        "model": model,
        "width": width,
        "height": height,
        "aspect_ratio": aspect_ratio,
        "seed": seed,
        "output_format": output_format,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    try:
        answer = await _call(
            ctx, "generating", app.backend.generate, body, app.options.timeout_seconds
        )
        blobs = [
            await anyio.to_thread.run_sync(_download, image["url"]) for image in answer["images"]
        ]
    except BackendError as exc:
        raise ToolError(str(exc)) from exc
    content: list = []
    images = []
    for image, blob in zip(answer["images"], blobs, strict=True):
        preview, mime = make_preview(blob)
        content.append(ImageContent(data=base64.b64encode(preview).decode(), mime_type=mime))
        name = Path(image["key"]).name
        content.append(
            ResourceLink(
                name=name,
                uri=image["url"],
                mime_type=image["content_type"],
                size=image["bytes"],
                description="full-size image",
            )
        )
        entry = dict(image)
        if app.options.output_dir:
            app.options.output_dir.mkdir(parents=True, exist_ok=True)
            path = app.options.output_dir / name
            path.write_bytes(blob)
            entry["path"] = str(path)
        images.append(entry)
    summary = "\n".join(
        [
            f"Generated {len(images)} image(s) with {answer['model']}; links expire "
            f"{answer['expires_at']}."
        ]
        + [
            f"- {i['width']}x{i['height']} seed {i['seed']}: {i['url']}"
            + (f" (saved to {i['path']})" if "path" in i else "")
            for i in images
        ]
        + [f"Note: {n}" for n in answer.get("notes", [])]
    )
    structured = None
    if app.options.structured:
        structured = {
            "model": answer["model"],
            "model_id": answer["model_id"],
            "expires_at": answer["expires_at"],
            "images": images,
            "notes": answer.get("notes", []),
            "cost": answer.get("cost"),
        }
    return CallToolResult(
        content=[TextContent(text=summary), *content], structured_content=structured
    )


@server.tool(
    annotations=ToolAnnotations(
        title="List image models", read_only_hint=True, open_world_hint=False
    )
)
async def list_models(ctx: Context) -> str:
    """The models this deployment serves, with limits (prompt length, sizes, seeds, formats)."""
    models = await _call(ctx, "listing models", _context(ctx).backend.models)
    return json.dumps(models, indent=1)


@server.tool(
    annotations=ToolAnnotations(title="Fresh image URL", read_only_hint=True, open_world_hint=True)
)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="imagegen-mcp", description=__doc__)
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token",
        default=os.environ.get("IMAGEGEN_MCP_TOKEN"),
        help="bearer token for HTTP (required off loopback)",
    )
    parser.add_argument("--api", help="deployed REST API URL (default $IMAGEGEN_API_URL)")
    parser.add_argument("--api-key", help="its API key (default $IMAGEGEN_API_KEY)")
    parser.add_argument("--output-dir", type=Path, help="also save full images here")
    parser.add_argument(
        "--no-structured-output",
        action="store_true",
        help="omit structured content (some clients then hide images)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per generation")
    args = parser.parse_args(argv)
    OPTIONS.api_url, OPTIONS.api_key = args.api, args.api_key
    OPTIONS.timeout_seconds = args.timeout
    if args.output_dir:
        OPTIONS.output_dir = args.output_dir
    if args.no_structured_output:
        OPTIONS.structured = False
    if args.transport == "stdio":
        server.run()
        return
    from mcp_server.http import serve

    serve(server, args.host, args.port, args.token)
