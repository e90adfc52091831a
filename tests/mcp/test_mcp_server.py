"""The MCP server through the official ``mcp`` client: in memory, over stdio and over HTTP."""

import base64
import io
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from PIL import Image

from mcp_server import server as mcp_module
from mcp_server.http import build_app
from mcp_server.server import server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def clean_env() -> dict[str, str]:
    """The environment of a newcomer: no AWS, no imagegen settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEGEN_", "AWS_"))}


def image_of(content) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(content.data)))


async def test_tools_are_listed_with_catalogue_limits_and_honest_annotations():
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"generate_image", "list_models", "get_image_url"}
    schema = tools["generate_image"].input_schema
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["prompt"]["maxLength"] == 10000
    assert "16:9" in str(schema["properties"]["aspect_ratio"])
    assert "stable-image-core" in schema["properties"]["model"]["description"]
    generate = tools["generate_image"].annotations
    assert generate.read_only_hint is False and generate.open_world_hint is True
    assert tools["list_models"].annotations.read_only_hint is True


async def test_generate_returns_a_small_preview_a_full_link_and_the_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "output_dir", tmp_path)
    progress = []

    async def on_progress(done, total, message):
        progress.append(message)

    async with Client(server) as client:
        result = await client.call_tool(
            "generate_image",
            {"prompt": "a red fox", "aspect_ratio": "16:9", "seed": 77},
            progress_callback=on_progress,
        )
        assert not result.is_error
        text, preview, link = result.content
        assert max(image_of(preview).size) <= 512 and len(preview.data) < 400_000
        full = Image.open(io.BytesIO(urllib.request.urlopen(link.uri).read()))
        assert full.size == (1344, 768)
        structured = result.structured_content
        assert structured["images"][0]["seed"] == 77 and "seed 77" in text.text
        saved = structured["images"][0]["path"]
        assert Image.open(saved).size == (1344, 768)
        key = structured["images"][0]["key"]
        fresh = await client.call_tool("get_image_url", {"key": key})
        assert urllib.request.urlopen(fresh.content[0].text).status == 200
    assert progress and progress[0].startswith("generating")


async def test_structured_output_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "structured", False)
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a red fox"})
    assert not result.is_error and result.structured_content is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "a", "seed": -1}, "seed"),
        ({"prompt": "a", "model": "sdxl"}, "model_retired"),
        ({"prompt": "a", "model": "stable-image-core", "width": 1024}, "field 'height'"),
        ({"prompt": "something forbidden"}, "content_filtered"),
    ],
)
async def test_bad_arguments_and_refusals_are_tool_errors_naming_the_problem(arguments, expected):
    async with Client(server) as client:
        result = await client.call_tool("generate_image", arguments)
    assert result.is_error and expected in result.content[0].text


async def test_unknown_key_is_a_tool_error():
    async with Client(server) as client:
        result = await client.call_tool("get_image_url", {"key": "images/nope.png"})
    assert result.is_error and "no image with key" in result.content[0].text


async def test_list_models_shows_limits():
    async with Client(server) as client:
        result = await client.call_tool("list_models", {})
    assert not result.is_error and '"prompt_max_length": 10000' in result.content[0].text


async def test_remote_backend_against_the_local_rest_api(stack, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", stack.url)
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a heron", "seed": 3})
        assert not result.is_error, result.content[0].text
        assert result.structured_content["images"][0]["seed"] == 3
        refused = await client.call_tool("generate_image", {"prompt": "a", "model": "nope"})
        assert refused.is_error and "invalid_field" in refused.content[0].text
        key = result.structured_content["images"][0]["key"]
        fresh = await client.call_tool("get_image_url", {"key": key})
        assert urllib.request.urlopen(fresh.content[0].text).status == 200
        missing = await client.call_tool("get_image_url", {"key": "images/none.png"})
        assert missing.is_error and "not_found" in missing.content[0].text


async def test_stdio_subprocess_generates_with_its_own_local_stack(tmp_path):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--output-dir", str(tmp_path), "--no-structured-output"],
        env=clean_env(),
    )
    async with Client(params) as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "seed": 1})
    assert not result.is_error and result.structured_content is None
    assert max(image_of(result.content[1]).size) <= 512
    (saved,) = tmp_path.glob("*.png")
    assert Image.open(saved).size == (1024, 1024) and str(saved) in result.content[0].text


@pytest.fixture
def http_server():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcp_server",
            "--transport",
            "http",
            "--port",
            "0",
            "--token",
            "s3cret",
        ],
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = ""
        while "listening on" not in url:
            url = proc.stderr.readline()
            assert url, "server exited"
        yield url.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_http_transport_with_the_token(http_server):
    http = create_mcp_http_client(headers={"Authorization": "Bearer s3cret"})
    async with http, Client(streamable_http_client(http_server, http_client=http)) as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "seed": 2})
    assert not result.is_error and result.structured_content["images"][0]["seed"] == 2


def test_http_transport_refuses_requests_without_the_token(http_server):
    request = urllib.request.Request(
        http_server, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 401
    health = http_server.replace("/mcp", "/health")
    assert urllib.request.urlopen(health).status == 200


def test_non_loopback_http_needs_a_token():
    with pytest.raises(SystemExit, match="without --token"):
        build_app(server, "0.0.0.0", None)


async def test_a_hanging_model_gives_a_tool_error_instead_of_a_hang(stack, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", stack.url)
    monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 1.0)
    stack.bedrock.inject("hang")
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a slow heron"})
    assert result.is_error and "timed out" in result.content[0].text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Bearer s3cre"}, 401),
        ({"Authorization": "Bearer s3cret", "Host": "evil.example:80"}, 421),
        ({"Authorization": "Bearer s3cret", "Origin": "http://evil.example"}, 403),
    ],
)
def test_http_transport_refuses_wrong_tokens_hosts_and_origins(http_server, headers, status):
    request = urllib.request.Request(
        http_server,
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == status
