"""The editing tools through the official ``mcp`` client: schemas from the catalogue, edits of
an earlier image by key, of a data URI and of a local file (stdio only), in-process and against
a REST API (HTTP transport: see ``test_mcp_http.py``)."""

import base64
import io
import sys
import urllib.request
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from mcp_server import server as mcp_module
from mcp_server.operations import edit_tools
from mcp_server.server import server
from service.catalogue import Catalogue, default_catalogue
from tests.e2e.stub_api import json_answer, stub_api
from tests.mcp.conftest import clean_env
from tests.mcp.test_mcp_server import image_of

pytestmark = pytest.mark.anyio
CATALOGUE = default_catalogue()
LIBRARY_OUTPUT = ("https://", "validation error", "Arguments", "[type=", "Input should")


def png(size: tuple[int, int] = (256, 256), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def data_uri(blob: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(blob).decode()


def picture(tmp_path: Path, size: tuple[int, int] = (256, 256)) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(png(size))
    return path


def value_schema(prop: dict) -> dict:
    """An optional argument's schema without its ``null`` branch."""
    return next(branch for branch in prop["anyOf"] if branch["type"] != "null")


def full_image(result) -> Image.Image:
    link = result.content[2]
    return Image.open(io.BytesIO(urllib.request.urlopen(link.uri).read()))


def uploads(stack) -> list[str]:
    listed = stack.s3_client().list_objects_v2(Bucket=stack.bucket, Prefix="uploads/")
    return [item["Key"] for item in listed.get("Contents", [])]


async def listed_tools() -> dict:
    async with Client(server) as client:
        return {t.name: t for t in (await client.list_tools()).tools}


async def test_edit_image_offers_every_operation_and_their_fields_from_the_catalogue():
    schema = (await listed_tools())["edit_image"].input_schema
    properties = schema["properties"]
    assert properties["operation"]["enum"] == [op.operation for op in CATALOGUE.operations]
    assert schema["required"] == ["operation", "image"]
    assert schema["additionalProperties"] is False
    fields = {rule.name for op in CATALOGUE.operations for rule in op.fields}
    common = {"operation", "image", "mask", "style_image", "seed", "output_format"}
    assert set(properties) == fields | common
    strength = value_schema(properties["strength"])
    assert (strength["type"], strength["minimum"], strength["maximum"]) == ("number", 0, 1)
    assert value_schema(properties["grow_mask"])["type"] == "integer"
    assert "photographic" in value_schema(properties["style_preset"])["enum"]
    creativity = properties["creativity"]
    assert value_schema(creativity)["minimum"] == 0.1 and value_schema(creativity)["maximum"] == 1
    assert "0.1-0.5 (for upscale-conservative, upscale-creative)" in creativity["description"]
    assert "how much the new area may invent: 0.1-1 (for outpaint)" in creativity["description"]
    assert "the size of image" in properties["mask"]["description"]


async def test_edit_image_prices_each_operation_and_warns_that_creative_upscale_costs_more():
    text = (await listed_tools())["edit_image"].description
    for op in CATALOGUE.operations:
        assert f"- {op.operation} (${op.price_usd_per_image:.2f}): {op.description}" in text
    creative = CATALOGUE.operation("upscale-creative").price_usd_per_image
    (warning,) = [line for line in text.splitlines() if line.startswith("Cost:")]
    assert f"upscale-creative (${creative:.2f})" in warning
    assert "cost far more than generating an image" in warning
    lines = {line.split(" (")[0]: line for line in text.splitlines() if line.startswith("- ")}
    assert lines["- search-replace"].endswith("(needs prompt, search_prompt)")
    assert lines["- outpaint"].endswith("(needs one of left, right, up, down)")


async def test_task_named_tools_take_only_their_operations_arguments():
    tools = await listed_tools()
    upscale = tools["upscale_image"].input_schema
    modes = value_schema(upscale["properties"]["mode"])["enum"]
    assert modes == ["fast", "conservative", "creative"]
    assert upscale["properties"]["mode"]["default"] == "fast" and upscale["required"] == ["image"]
    creative = CATALOGUE.operation("upscale-creative").price_usd_per_image
    assert f"creative (${creative:.2f}) cost far more" in tools["upscale_image"].description
    background = tools["remove_background"].input_schema
    assert set(background["properties"]) == {"image", "output_format"}
    for name in ("edit_image", "upscale_image", "remove_background"):
        hints = tools[name].annotations
        assert hints.read_only_hint is False and hints.destructive_hint is False
        assert hints.open_world_hint is True


async def test_an_image_from_generate_image_is_edited_by_its_key(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "output_dir", tmp_path)
    progress = []

    async def on_progress(done, total, message):
        progress.append(message)

    async with Client(server) as client:
        generated = await client.call_tool("generate_image", {"prompt": "a red fox", "seed": 5})
        source = generated.structured_content["images"][0]["key"]
        assert f"key {source}" in generated.content[0].text  # for clients hiding structure
        edit = {"operation": "image-to-image", "image": source, "prompt": "a wolf"}
        result = await client.call_tool(
            "edit_image", {**edit, "strength": 0.4, "seed": 9}, progress_callback=on_progress
        )
        assert not result.is_error, result.content[0].text
        full = full_image(result)  # while the server's local stack runs
    text, preview, link = result.content
    assert max(image_of(preview).size) <= 512 and link.description == "full-size image"
    answer = result.structured_content
    assert answer["operation"] == "image-to-image" and answer["model"] == "sd3.5-large"
    (image,) = answer["images"]
    assert image["seed"] == 9 and image["key"] != source and f"key {image['key']}" in text.text
    assert Image.open(image["path"]).size == full.size
    assert text.text.startswith("Edited with image-to-image (sd3.5-large)")
    assert progress and progress[0].startswith("editing (image-to-image)")


async def test_an_edit_from_a_data_uri():
    async with Client(server) as client:
        result = await client.call_tool("upscale_image", {"image": data_uri(png((256, 192)))})
        assert not result.is_error, result.content[0].text
        assert full_image(result).size == (1024, 768)
    assert result.structured_content["operation"] == "upscale-fast"
    assert " seed " not in result.content[0].text  # an upscale takes no seed (it reports 0)


async def test_remove_background_answers_a_transparent_png():
    async with Client(server) as client:
        result = await client.call_tool("remove_background", {"image": data_uri(png())})
        assert not result.is_error, result.content[0].text
        assert full_image(result).mode == "RGBA"
    assert result.content[1].mime_type == "image/png"  # the preview keeps the transparency


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"operation": "image-to-image", "prompt": "x", "strength": 1.5}, "'strength' should be"),
        ({"operation": "upscale-fast", "prompt": "x"}, "unknown field 'prompt' for operation"),
        (
            {"operation": "upscale-creative", "prompt": "x", "creativity": 0.9},
            "'creativity' must be between 0.1 and 0.5 for operation upscale-creative",
        ),
        (
            {"operation": "image-to-image", "strength": 0.5},
            "invalid_field: 'prompt' is required (field 'prompt')",
        ),
        ({"operation": "outpaint"}, "give at least one of left, right, up, down"),
        ({"operation": "style-transfer"}, "'style_image' is required for operation"),
        (
            {"operation": "upscale-fast", "seed": 3},
            "unknown field 'seed' for operation upscale-fast",
        ),
        (
            {"operation": "inpaint", "prompt": "x", "mask": data_uri(png((128, 128)))},
            "'mask' is 128x128; it must be the same size as 'image' (256x256)",
        ),
        ({"operation": "upscale-fast", "image": "data:image/png;base64,!"}, "not valid base64"),
        ({"operation": "upscale-fast", "image": "images/none.png"}, "names no stored image"),
        ({"operation": "upscale-fast", "image": ""}, "'image' should have at least 1 character"),
        ({"operation": "enhance"}, "'operation' should be 'image-to-image', 'upscale-fast'"),
        ({"operation": "upscale-fast", "strenght": 1}, "'strenght' is not an argument of edit"),
        (
            {"operation": "upscale-fast", "image": "https://example.com/a.png"},
            "'image' is a URL, which is not fetched; pass the key of an earlier image",
        ),
        (
            {"operation": "upscale-fast", "image": "iVBORw0KGgo" * 200},
            "'image' is too long for a key (raw base64?)",
        ),
    ],
)
async def test_bad_edit_arguments_are_tool_errors_naming_the_field(arguments, expected):
    async with Client(server) as client:
        result = await client.call_tool("edit_image", {"image": data_uri(png()), **arguments})
    text = result.content[0].text
    assert result.is_error and expected in text, text
    assert all(output not in text for output in LIBRARY_OUTPUT)


async def test_local_files_are_refused_unless_the_server_serves_stdio(tmp_path):
    """``main`` allows them for stdio only; any other way of serving ``server`` refuses."""
    async with Client(server) as client:
        result = await client.call_tool("upscale_image", {"image": str(picture(tmp_path))})
    assert result.is_error and result.content[0].text.endswith(
        "invalid arguments: 'image' is a file path, and this server reads local files only over"
        " stdio: a remote assistant must not read the server's files. Pass the key of an earlier"
        " image or a data:image/png;base64,... URI"
    )


@pytest.mark.parametrize("spelling", ["absolute", "home"])
async def test_a_local_file_is_sent_inline_in_process(spelling, tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "local_files", True)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = picture(tmp_path)
    image = str(path) if spelling == "absolute" else "~/photo.png"
    async with Client(server) as client:
        result = await client.call_tool("upscale_image", {"image": image})
        assert not result.is_error, result.content[0].text
        assert full_image(result).size == (1024, 1024)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing.png", "'image' ({path}): no file at {path}"),
        (".", "'image' ({path}): {path} is not a file"),
        ("notes.txt", "'image' cannot be used: it is not a PNG, JPEG or WebP image"),
    ],
)
async def test_a_local_file_that_cannot_be_used_is_named(name, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "local_files", True)
    (tmp_path / "notes.txt").write_text("not an image")
    path = tmp_path / name
    async with Client(server) as client:
        result = await client.call_tool("upscale_image", {"image": str(path)})
    text = result.content[0].text
    assert result.is_error and expected.format(path=path) in text, text


async def test_remote_backend_edits_by_key_data_uri_and_uploaded_file(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", stack.url)
    monkeypatch.setattr(mcp_module.OPTIONS, "local_files", True)
    replace = {"operation": "search-replace", "prompt": "a dog", "search_prompt": "the fox"}
    async with Client(server) as client:
        generated = await client.call_tool("generate_image", {"prompt": "a red fox"})
        key = generated.structured_content["images"][0]["key"]
        by_key = await client.call_tool("edit_image", {**replace, "image": key})
        inline = await client.call_tool("edit_image", {**replace, "image": data_uri(png())})
        before = uploads(stack)
        from_file = await client.call_tool(
            "edit_image", {**replace, "image": str(picture(tmp_path))}
        )
        refused = await client.call_tool(
            "edit_image",
            {"operation": "upscale-creative", "image": key, "prompt": "x", "creativity": 0.9},
        )
    for result in (by_key, inline, from_file):
        assert not result.is_error, result.content[0].text
        assert result.structured_content["operation"] == "search-replace"
    assert len(uploads(stack)) == len(before) + 1  # the file went to S3 by presigned POST
    assert refused.is_error
    assert refused.content[0].text.endswith(
        "invalid_field: 'creativity' must be between 0.1 and 0.5 for operation upscale-creative"
        " (field 'creativity')"
    )


async def test_a_slow_upload_is_a_timeout_naming_the_input(tmp_path, monkeypatch):
    monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 0.5)
    monkeypatch.setattr(mcp_module.OPTIONS, "local_files", True)
    path = picture(tmp_path)
    with stub_api({"/uploads": json_answer({})}, hold=True) as api:
        monkeypatch.setenv("IMAGEGEN_API_URL", api.url)
        async with Client(server) as client:
            result = await client.call_tool("upscale_image", {"image": str(path)})
    text = result.content[0].text
    assert result.is_error and f"'image' ({path}): timeout: no answer from {api.url}" in text


def stdio_server(output_dir: Path, **settings: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--output-dir", str(output_dir)],
        env=clean_env(**settings),
    )


async def test_stdio_edits_a_local_file_with_its_own_local_stack(tmp_path):
    source = picture(tmp_path, (256, 192))
    saved = tmp_path / "saved"
    async with Client(stdio_server(saved)) as client:
        result = await client.call_tool("upscale_image", {"image": str(source)})
    assert not result.is_error, result.content[0].text
    (path,) = saved.glob("*.png")
    assert Image.open(path).size == (1024, 768) and str(path) in result.content[0].text


async def test_stdio_uploads_a_local_file_to_a_rest_api(stack, tmp_path):
    before = uploads(stack)
    async with Client(stdio_server(tmp_path / "saved", IMAGEGEN_API_URL=stack.url)) as client:
        result = await client.call_tool(
            "edit_image",
            {"operation": "outpaint", "image": str(picture(tmp_path)), "left": 32},
        )
    assert not result.is_error, result.content[0].text
    assert result.structured_content["operation"] == "outpaint"
    assert len(uploads(stack)) == len(before) + 1


def test_a_task_tool_whose_operations_the_catalogue_lost_is_left_out():
    catalogue = default_catalogue()
    kept = [
        op
        for op in catalogue.operations
        if not op.operation.startswith("upscale-") and op.operation != "remove-background"
    ]
    tools = edit_tools(Catalogue(catalogue.models, catalogue.price_source, kept))
    assert [tool.name for tool in tools] == ["edit_image"]
