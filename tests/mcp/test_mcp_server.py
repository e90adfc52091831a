"""The MCP server through the official ``mcp`` client, in memory and over stdio (HTTP: see
``test_mcp_http.py``)."""

import base64
import io
import json
import logging
import subprocess
import sys
import urllib.request
from importlib.metadata import version

import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from devstack.stack import LocalStack
from mcp_server import server as mcp_module
from mcp_server.server import server
from service.config import DEFAULT_MAX_IMAGES
from tests.conftest import http
from tests.e2e.stub_api import Answer, images_answer, json_answer, stub_api
from tests.e2e.test_cli import serving
from tests.mcp.conftest import clean_env

pytestmark = pytest.mark.anyio


def image_of(content) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(content.data)))


async def test_the_server_reports_the_installed_version():
    async with Client(server) as client:
        assert client.server_info.name == "imagegen"
        assert client.server_info.version == version("imagegen")


async def test_tools_are_listed_with_catalogue_limits_and_honest_annotations():
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {
        "generate_image",
        "edit_image",
        "upscale_image",
        "remove_background",
        "list_models",
        "get_image_url",
        "get_job",
    }
    schema = tools["generate_image"].input_schema
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["prompt"]["maxLength"] == 10000
    assert "16:9" in str(schema["properties"]["aspect_ratio"])
    assert "stable-image-core" in schema["properties"]["model"]["description"]
    generate = tools["generate_image"].annotations
    assert generate.read_only_hint is False and generate.open_world_hint is True
    assert tools["list_models"].annotations.read_only_hint is True
    assert tools["get_job"].annotations.read_only_hint is True


async def test_generate_image_takes_every_rest_option_and_nothing_else():
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["generate_image"].input_schema
    properties = schema["properties"]
    assert {"cfg_scale", "steps", "style_preset"} <= set(properties)
    assert "sdxl (retired) 0-35" in properties["cfg_scale"]["description"]
    assert "sdxl (retired) 10-150" in properties["steps"]["description"]
    assert "anime" in str(properties["style_preset"]) and "nova-canvas" in str(
        properties["style_preset"]["description"]
    )
    assert all(t.input_schema["additionalProperties"] is False for t in tools.values())


async def test_number_of_images_in_the_schema_is_the_limit_a_request_meets():
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    number = tools["generate_image"].input_schema["properties"]["number_of_images"]
    assert number["maximum"] == DEFAULT_MAX_IMAGES  # the service's cap, under the catalogue's 5


async def test_the_deployment_cap_on_images_reaches_the_schema_and_the_local_stack():
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server"],
        env=clean_env(IMAGEGEN_MAX_IMAGES="2"),
    )
    async with Client(params) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        models = json.loads((await client.call_tool("list_models", {})).content[0].text)
    assert tools["generate_image"].input_schema["properties"]["number_of_images"]["maximum"] == 2
    # the local stack it started reads the same setting, as `imagegen serve` does
    assert {m["limits"]["max_images"] for m in models["models"]} == {2}


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


async def test_an_image_that_cannot_be_saved_is_still_returned(tmp_path, monkeypatch):
    """The directory was fine at start; a file now stands in its way (or a full disk)."""
    blocked = tmp_path / "images"
    blocked.write_text("a file")
    monkeypatch.setattr(mcp_module.OPTIONS, "output_dir", blocked)
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a red fox", "seed": 5})
        assert not result.is_error, result.content[0].text
        text, preview, link = result.content
        assert urllib.request.urlopen(link.uri).status == 200
    assert max(image_of(preview).size) <= 512
    image = result.structured_content["images"][0]
    assert "path" not in image and image["not_saved"].startswith(f"not saved to {blocked}: ")
    assert f"(not saved to {blocked}: " in text.text


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
        ({"prompt": "a", "sed": 3}, "'sed' is not an argument of generate_image (accepted: "),
        ({"prompt": "a", "seed": True}, "invalid arguments: 'seed' should be a valid integer"),
        ({"prompt": "a", "number_of_images": True}, "'number_of_images' should be"),
        ({"prompt": "a", "number_of_images": 5}, "'number_of_images' should be less than or"),
        ({"prompt": "a", "cfg_scale": 5}, "'cfg_scale' is not supported by model stable-image"),
        ({"prompt": "a", "steps": 30}, "'steps' is not supported by model stable-image-core"),
        ({"prompt": "a", "style_preset": "anime"}, "'style_preset' is not supported by model"),
        ({"prompt": "a", "style_preset": "sepia"}, "'style_preset' should be '3D_ANIMATED_"),
    ],
)
async def test_bad_arguments_and_refusals_are_tool_errors_naming_the_problem(arguments, expected):
    async with Client(server) as client:
        result = await client.call_tool("generate_image", arguments)
    text = result.content[0].text
    assert result.is_error and expected in text, text
    for library_output in ("https://", "validation error", "Arguments", "[type=", "Input should"):
        assert library_output not in text  # plain words for the assistant


async def test_argument_errors_name_each_argument_and_the_log_says_which(caplog):
    caplog.set_level(logging.INFO)
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"promt": "fox"})
    assert result.is_error and result.content[0].text == (
        "invalid arguments: 'prompt' is required; 'promt' is not an argument of generate_image"
        " (accepted: prompt, negative_prompt, model, width, height, aspect_ratio, seed,"
        " cfg_scale, steps, style_preset, number_of_images, output_format)"
    )
    assert "Tool 'generate_image' rejected arguments: ['prompt', 'promt']" in caplog.messages


async def test_unknown_arguments_are_refused_by_every_tool():
    async with Client(server) as client:
        listed = await client.call_tool("list_models", {"verbose": True})
        url = await client.call_tool("get_image_url", {"key": "images/x.png", "ttl": 60})
    assert listed.is_error
    assert listed.content[0].text == (
        "invalid arguments: 'verbose' is not an argument of list_models (it takes none)"
    )
    assert url.is_error
    assert url.content[0].text == (
        "invalid arguments: 'ttl' is not an argument of get_image_url (accepted: key)"
    )


def test_nan_and_infinity_must_be_finite_numbers_as_they_arrive_over_stdio():
    """JSON has no NaN, but Python's json module writes it and the SDK's parser reads it; the
    official client turns it into null, so these calls are written by hand."""
    calls = [
        '{"prompt": "a", "cfg_scale": NaN}',
        '{"prompt": "a", "cfg_scale": Infinity}',
        '{"prompt": "a", "cfg_scale": -Infinity}',
    ]
    answers = raw_stdio_calls("generate_image", calls)
    for answer in answers:
        assert answer["isError"] is True
        assert answer["content"][0]["text"] == (
            "invalid arguments: 'cfg_scale' must be a finite number"
        )


def raw_stdio_calls(tool: str, arguments: list[str]) -> list[dict]:
    """``tools/call`` with each raw JSON ``arguments`` to ``python -m mcp_server`` over stdio;
    the results, in order. Stdin stays open until every answer is in: at its end the server
    stops, with calls still in flight."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    lines = [json.dumps(initialize), '{"jsonrpc": "2.0", "method": "notifications/initialized"}']
    lines += [
        f'{{"jsonrpc": "2.0", "id": {n}, "method": "tools/call",'
        f' "params": {{"name": "{tool}", "arguments": {raw}}}}}'
        for n, raw in enumerate(arguments, start=1)
    ]
    with subprocess.Popen(
        [sys.executable, "-m", "mcp_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    ) as proc:
        proc.stdin.write("".join(line + "\n" for line in lines))
        proc.stdin.flush()
        answers: dict[int, dict] = {}
        while len(answers) <= len(arguments):  # the initialize answer, then one a call
            line = proc.stdout.readline()
            assert line, "the server exited"
            message = json.loads(line)
            if "id" in message:
                answers[message["id"]] = message["result"]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    return [answers[n] for n in range(1, len(arguments) + 1)]


async def test_model_options_reach_a_model_that_takes_them(retired_stack, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", retired_stack.url)
    options = {"model": "sdxl", "cfg_scale": 9, "steps": 20, "style_preset": "anime"}
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a heron", **options})
        refused = await client.call_tool(  # in the schema's range, not in this model's
            "generate_image", {"prompt": "a heron", "model": "titan-image-v2", "cfg_scale": 0.5}
        )
    assert not result.is_error, result.content[0].text
    assert result.structured_content["model"] == "sdxl"
    assert refused.is_error and "'cfg_scale' must be between 1.1 and 10" in refused.content[0].text


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


async def test_a_missing_or_wrong_key_says_how_the_server_gets_one(monkeypatch):
    with LocalStack(api_keys=("sk-right",)) as keyed:
        monkeypatch.setenv("IMAGEGEN_API_URL", keyed.url)
        async with Client(server) as client:
            missing = await client.call_tool("list_models", {})
        monkeypatch.setenv("IMAGEGEN_API_KEY", "sk-wrong")  # read when a session starts
        async with Client(server) as client:
            wrong = await client.call_tool("list_models", {})
    for result, code in ((missing, "unauthorized"), (wrong, "invalid_api_key")):
        text = result.content[0].text
        assert result.is_error and f"{code}: " in text, text
        assert "start the MCP server with --api-key or IMAGEGEN_API_KEY" in text


@pytest.mark.parametrize("image_url", ["file:///etc/passwd", "ftp://127.0.0.1/x.png"])
async def test_remote_backend_downloads_only_http_urls(image_url, tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "output_dir", tmp_path)
    with stub_api({"/images": images_answer(image_url)}) as api:
        monkeypatch.setenv("IMAGEGEN_API_URL", api.url)
        async with Client(server) as client:
            result = await client.call_tool("generate_image", {"prompt": "a heron"})
    text = result.content[0].text
    assert result.is_error and f"unsafe_url: the image URL '{image_url}' is not an http" in text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "answer",
    [json_answer({"foo": 1}), Answer(200, b"<html>hi</html>", {"Content-Type": "text/html"})],
)
async def test_remote_backend_explains_an_api_that_answers_something_else(answer, monkeypatch):
    with stub_api({"/images": answer}) as api:
        monkeypatch.setenv("IMAGEGEN_API_URL", api.url)
        async with Client(server) as client:
            result = await client.call_tool("generate_image", {"prompt": "a heron"})
    assert result.is_error and "unexpected_answer" in result.content[0].text


async def test_remote_backend_reports_a_slow_api_as_a_timeout(monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 0.5)
    with stub_api({"/images": images_answer("http://unused")}, hold=True) as api:
        monkeypatch.setenv("IMAGEGEN_API_URL", api.url)
        async with Client(server) as client:
            result = await client.call_tool("generate_image", {"prompt": "a heron"})
    text = result.content[0].text
    assert result.is_error and f"timeout: no answer from {api.url} within 0.5 s" in text, text


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


async def test_stdio_subprocess_uses_a_running_serve_so_its_images_stay(tmp_path):
    data = tmp_path / "data"
    with serving("--data-dir", str(data)) as url:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "mcp_server"],
            env=clean_env(IMAGEGEN_DATA_DIR=str(data)),
        )
        async with Client(params) as client:
            result = await client.call_tool("generate_image", {"prompt": "a heron", "seed": 3})
        status, _, raw = http("GET", f"{url}/images")
    assert not result.is_error and status == 200, result.content
    (image,) = json.loads(raw)["images"]
    assert image["key"] == result.structured_content["images"][0]["key"]


async def test_a_hanging_model_gives_a_tool_error_instead_of_a_hang(stack, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", stack.url)
    monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 1.0)
    stack.bedrock.inject("hang")
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a slow heron"})
    text = result.content[0].text  # the API runs it as a job, which keeps running
    assert result.is_error and "timeout: job " in text and "is still running after 1 s" in text
    assert "call get_job with job_id '" in text
