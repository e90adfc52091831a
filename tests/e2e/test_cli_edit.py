"""``imagegen edit`` and the operations of ``imagegen models`` as a user runs them: real
processes, real HTTP, input images as local files (inline or uploaded) or keys."""

import json
import random
from pathlib import Path

import pytest
from PIL import Image

from api_client import get_models
from devstack.edit_command import INLINE_BUDGET_BYTES, OPERATIONS
from tests.e2e.stub_api import Answer, json_answer, stub_api
from tests.e2e.test_cli import assert_one_line_error, clean_env, imagegen


def png(path: Path, size: tuple[int, int], noise: bool = False) -> Path:
    """A PNG of ``size``: flat (a few hundred bytes) or noise (about 3 bytes a pixel, so it
    does not compress)."""
    if noise:
        data = random.Random(0).randbytes(size[0] * size[1] * 3)
        Image.frombytes("RGB", size, data).save(path)
    else:
        Image.new("RGB", size, (40, 90, 160)).save(path)
    return path


@pytest.fixture(scope="module")
def large_png(tmp_path_factory) -> Path:
    """Too large to go inline: it takes the upload path."""
    path = png(tmp_path_factory.mktemp("inputs") / "large.png", (1100, 1000), noise=True)
    assert path.stat().st_size * 4 / 3 > INLINE_BUDGET_BYTES
    return path


def edit(api: str, out: Path, *args: str):
    """``imagegen edit ARGS`` against ``api``, saving in ``out``."""
    return imagegen("edit", *args, "--api", api, "--out", str(out))


def saved_image(result, out: Path) -> Image.Image:
    """The one image an edit saved in ``out``, named in its output."""
    assert result.returncode == 0, result.stderr
    files = list(out.iterdir())
    assert len(files) == 1 and f"saved {files[0]}" in result.stdout
    assert "; key images/" in result.stdout  # to edit the result again by key
    return Image.open(files[0])


def test_edit_without_api_sends_a_small_file_inline_and_saves_the_4x_upscale(tmp_path: Path):
    image = png(tmp_path / "small.png", (200, 150))
    out = tmp_path / "out"
    result = imagegen("edit", "upscale-fast", "--image", str(image), "--out", str(out))
    assert saved_image(result, out).size == (800, 600)
    assert "starting a local stack" in result.stderr and "uploading" not in result.stderr
    assert "operation upscale-fast (model stable-fast-upscale), estimated cost $0.030" in (
        result.stdout
    )
    assert ", seed " not in result.stdout  # upscale-fast takes none: the answer's 0 means nothing


def test_edit_uploads_a_large_file_and_saves_the_outpainted_image(stack, large_png, tmp_path):
    args = ["outpaint", "--image", str(large_png), "--left", "100", "--down", "50"]
    result = edit(stack.url, tmp_path, *args)
    assert saved_image(result, tmp_path).size == (1200, 1050)
    assert f"uploading {large_png}" in result.stderr
    assert "url (expires " in result.stdout and ", seed " in result.stdout


def test_edit_by_key_of_an_image_from_an_earlier_generate(stack, tmp_path: Path):
    generate = ["generate", "a red fox", "--aspect-ratio", "3:2", "--json"]
    generated = imagegen(*generate, "--api", stack.url, "--out", str(tmp_path / "generated"))
    key = json.loads(generated.stdout)["images"][0]["key"]
    result = edit(stack.url, tmp_path / "edited", "remove-background", "--image", key)
    edited = saved_image(result, tmp_path / "edited")
    assert edited.size == (1216, 832) and "uploading" not in result.stderr


def test_edit_json_prints_the_answer_and_the_saved_paths(stack, tmp_path: Path):
    image = png(tmp_path / "photo.png", (256, 256))
    mask = png(tmp_path / "mask.png", (256, 256))
    inputs = ["--image", str(image), "--mask", str(mask)]
    options = ["--prompt", "a red moon", "--seed", "7", "--output-format", "webp", "--json"]
    result = edit(stack.url, tmp_path / "out", "inpaint", *inputs, *options)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["operation"] == "inpaint" and answer["model"] == "stable-image-inpaint"
    (saved,) = answer["images"]
    assert saved["seed"] == 7 and saved["path"].endswith(".webp")
    assert Image.open(saved["path"]).size == (256, 256)


def test_a_field_the_operation_does_not_take_is_the_api_s_400(stack, tmp_path: Path):
    image = png(tmp_path / "photo.png", (256, 256))
    out = tmp_path / "out"
    result = edit(stack.url, out, "upscale-fast", "--image", str(image), "--strength", "0.5")
    assert_one_line_error(
        result, "400 invalid_field: unknown field 'strength' for operation upscale-fast"
    )
    assert list(out.iterdir()) == []


def test_an_upload_s3_refuses_is_one_line_without_the_api_key_hint(large_png, tmp_path):
    """The key goes to the API, never to S3: a 403 from S3 is not the key's fault."""
    xml = b"<Error><Code>AccessDenied</Code><Message>Invalid according to Policy</Message></Error>"
    with stub_api({"/s3": Answer(403, xml, {"Content-Type": "application/xml"})}) as api:
        form = {"url": f"{api.url}/s3", "fields": {}, "key": "uploads/x.png"}
        api.answers["/uploads"] = json_answer({**form, "max_bytes": 10**8, "expires_at": "-"})
        result = edit(api.url, tmp_path, "upscale-fast", "--image", str(large_png))
    assert_one_line_error(result, "403 AccessDenied: uploading: Invalid according to Policy")
    assert "api-key" not in result.stderr


def test_a_missing_file_is_a_usage_error_before_a_stack_starts(tmp_path: Path):
    missing = tmp_path / "nope.png"
    result = imagegen("edit", "upscale-fast", "--image", str(missing))
    assert_one_line_error(
        result, f"imagegen edit: error: argument --image: no such file: {missing}"
    )
    assert "images/ or uploads/" in result.stderr  # what a key would have looked like
    assert "starting a local stack" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["upscale-fast", "--image", "."], "argument --image: . is not an image file"),
        (["upscale-fast", "--image", __file__], "is not a PNG, JPEG or WebP image"),
        (["upscale-fast", "--image", "images/x.png", "--left", "two"], "invalid int value"),
        (["upscale-fast", "--image", "images/x.png", "--strength", "nan"], "not a finite"),
        (["upscale-fast", "--image", "images/x.png", "--style-preset", "x"], "invalid choice"),
        (["upscale", "--image", "images/x.png"], "argument OPERATION: invalid choice: 'upscale'"),
        (["upscale-fast"], "the following arguments are required: --image"),
    ],
)
def test_usage_mistakes_are_one_line_errors(args: list[str], expected: str):
    result = imagegen("edit", *args)
    assert_one_line_error(result, expected)
    assert "starting a local stack" not in result.stderr


def test_help_lists_each_operation_with_its_description_and_options():
    text = imagegen("edit", "--help", env=clean_env(COLUMNS="300")).stdout
    for operation in OPERATIONS:
        assert f"  {operation.operation}: {operation.description}" in text
    assert "--search-prompt* --negative-prompt" in text  # search-replace's line
    assert "(--left|--right|--up|--down)* --creativity" in text  # outpaint's "one at least"
    assert "upscale-conservative, upscale-creative (0.1-0.5); outpaint (0.1-1)" in text
    assert "--grow-mask N " in text and "--strength NUMBER " in text and "(default: edited)" in text


def test_models_lists_the_operations_after_the_models(stack):
    result = imagegen("models", "--api", stack.url)
    assert result.returncode == 0, result.stderr
    models, operations = result.stdout.split("\n\n")
    assert models.startswith("MODEL ")
    header, *rows = operations.splitlines()
    assert header.split()[:4] == ["OPERATION", "USABLE", "PRICE/IMAGE", "INPUTS"]
    assert [row.split()[0] for row in rows] == [op.operation for op in OPERATIONS]
    upscale = next(row for row in rows if row.startswith("upscale-fast "))
    assert " yes " in upscale and "$0.030" in upscale
    transfer = next(row for row in rows if row.startswith("style-transfer "))
    assert "image* style_image*" in transfer and "style_strength" in transfer


def test_models_from_an_api_without_operations_prints_the_models_only(stack):
    older = {k: v for k, v in get_models(stack.url).items() if k != "operations"}
    with stub_api({"/models": json_answer(older)}) as api:
        result = imagegen("models", "--api", api.url)
    assert result.returncode == 0, result.stderr
    assert "OPERATION" not in result.stdout and "stable-image-core" in result.stdout
