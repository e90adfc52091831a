"""Editing over real HTTP: gateway -> handler -> S3 inputs -> emulator -> S3 -> presigned GET,
and uploads through a presigned POST straight to the local S3."""

import base64
import io
import json

import pytest
from PIL import Image

import api_client
from devstack.stack import LocalStack
from service.catalogue import default_catalogue
from service.handler import MAX_EDIT_BODY_BYTES
from tests.conftest import http, minimal_edit, post_json

OPERATIONS = default_catalogue().operations


def png(width: int, height: int, color: str = "steelblue", mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, "PNG")
    return out.getvalue()


def inline(data: bytes) -> dict:
    return {"data": base64.b64encode(data).decode()}


def fetch_image(url: str) -> Image.Image:
    status, _, data = http("GET", url)
    assert status == 200
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def edit(stack, body: dict) -> tuple[int, dict]:
    status, _, answer = post_json(f"{stack.url}/images/edits", body)
    return status, answer


@pytest.fixture(scope="module")
def source_key(stack) -> str:
    """An image generated earlier: the commonest input of an edit."""
    status, _, answer = post_json(
        f"{stack.url}/images", {"prompt": "a lighthouse", "aspect_ratio": "3:2", "seed": 5}
    )
    assert status == 200, answer
    return answer["images"][0]["key"]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation)
def test_every_operation_edits_an_earlier_image_by_key(stack, source_key, operation):
    image = (
        {"key": source_key} if operation.inputs[0].max_pixels != 1048576 else inline(png(512, 384))
    )
    status, answer = edit(stack, minimal_edit(operation, image))
    assert status == 200, answer
    assert answer["operation"] == operation.operation
    assert answer["model"] == operation.model
    assert answer["model_id"] == operation.invoke_id(stack.region)
    assert answer["cost"]["estimated_usd"] == operation.price_usd_per_image
    result = fetch_image(answer["image_url"])
    assert result.size == (answer["images"][0]["width"], answer["images"][0]["height"])


def test_fast_upscale_is_four_times_larger(stack):
    status, answer = edit(stack, {"operation": "upscale-fast", "image": inline(png(200, 150))})
    assert status == 200, answer
    assert fetch_image(answer["image_url"]).size == (800, 600)


def test_outpaint_grows_the_canvas_by_what_was_asked(stack, source_key):
    body = {"operation": "outpaint", "image": {"key": source_key}, "left": 100, "down": 40}
    status, answer = edit(stack, body)
    assert status == 200, answer
    assert fetch_image(answer["image_url"]).size == (1216 + 100, 832 + 40)


def test_remove_background_returns_transparency(stack):
    status, answer = edit(stack, {"operation": "remove-background", "image": inline(png(300, 200))})
    assert status == 200, answer
    result = fetch_image(answer["image_url"])
    assert result.mode == "RGBA" and result.getextrema()[3][0] == 0


def test_a_masked_inpaint_changes_only_what_the_mask_covers(stack):
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (0, 0, 128, 256))  # the left half may change
    out = io.BytesIO()
    mask.save(out, "PNG")
    body = {
        "operation": "inpaint",
        "prompt": "a window",
        "image": inline(png(256, 256, "steelblue")),
        "mask": inline(out.getvalue()),
    }
    status, answer = edit(stack, body)
    assert status == 200, answer
    result = fetch_image(answer["image_url"]).convert("RGB")
    right = result.crop((140, 0, 256, 256))  # clear of grow_mask's band
    assert right.getcolors() == [
        (116 * 256, Image.new("RGB", (1, 1), "steelblue").getpixel((0, 0)))
    ]


def test_a_large_input_goes_through_an_upload_and_is_edited_by_key(stack):
    data = png(2048, 1536)
    form = api_client.upload(stack.url, data)
    assert form["key"].startswith("uploads/") and form["max_bytes"] > len(data)
    status, answer = edit(
        stack,
        {"operation": "upscale-conservative", "prompt": "sharp", "image": {"key": form["key"]}},
    )
    assert status == 200, answer


def test_the_upload_form_pins_content_type_and_size(stack):
    status, _, form = post_json(f"{stack.url}/uploads", {"content_type": "image/webp"})
    assert status == 200, form
    assert form["fields"]["Content-Type"] == "image/webp" and form["key"].endswith(".webp")
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert {"Content-Type": "image/webp"} in policy["conditions"]
    assert ["content-length-range", 1, form["max_bytes"]] in policy["conditions"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_type": "image/gif"}, "content_type"),
        ({"content_type": "image/png", "key": "uploads/mine.png"}, "body"),
        ({}, "content_type"),
    ],
)
def test_bad_upload_requests_are_400(stack, body, field):
    status, _, answer = post_json(f"{stack.url}/uploads", body)
    assert status == 400 and answer["error"]["field"] == field


def test_bad_inputs_get_a_4xx_naming_the_field_over_http(stack, source_key):
    cases = [
        ({"operation": "erase", "image": {"key": "secrets/x.png"}}, 400, "image"),
        ({"operation": "erase", "image": {"key": "images/2020/01/01/gone.png"}}, 400, "image"),
        ({"operation": "erase", "image": inline(b"GIF89a not ours")}, 400, "image"),
        ({"operation": "erase", "image": inline(png(32, 32))}, 400, "image"),
        (
            {"operation": "erase", "image": {"key": source_key}, "mask": inline(png(64, 64))},
            400,
            "mask",
        ),
        ({"operation": "upscale-fast", "image": inline(png(2000, 1000))}, 400, "image"),
        ({"operation": "zoom", "image": {"key": source_key}}, 400, "operation"),
    ]
    for body, status, field in cases:
        got, answer = edit(stack, body)
        assert (got, answer["error"]["field"]) == (status, field), (body, answer)


def test_edit_bodies_may_reach_6_mb_and_generation_bodies_stay_at_64_kib(stack):
    filler = "A" * (MAX_EDIT_BODY_BYTES - 200)  # valid base64, not an image
    status, answer = edit(stack, {"operation": "erase", "image": {"data": filler}})
    assert status == 400 and "not a PNG, JPEG or WebP" in answer["error"]["message"]
    status, answer = edit(stack, {"operation": "erase", "image": {"data": filler + "A" * 400}})
    assert status == 413 and "POST /uploads" in answer["error"]["message"]
    status, _, answer = post_json(f"{stack.url}/images", {"prompt": "x" * (70 * 1024)})
    assert status == 413


def test_models_lists_the_operations_with_fields_limits_and_prices(stack):
    status, _, raw = http("GET", f"{stack.url}/models")
    answer = json.loads(raw)
    assert status == 200
    ops = {op["operation"]: op for op in answer["operations"]}
    assert set(ops) == {op.operation for op in OPERATIONS}
    creative = ops["upscale-creative"]
    assert creative["usable"] and creative["price_usd_per_image_estimate"] == 0.6
    assert creative["fields"]["creativity"] == {
        "type": "number",
        "required": False,
        "min": 0.1,
        "max": 0.5,
        "description": "how much detail may be invented",
    }
    assert creative["inputs"]["image"]["max_pixels"] == 1048576
    assert answer["uploads"]["max_bytes"] > 18_000_000


def test_a_deployment_without_editing_refuses_edits_and_uploads():
    with LocalStack(env={"IMAGEGEN_ALLOWED_OPERATIONS": "none"}) as off:
        status, answer = edit(off, {"operation": "erase", "image": inline(png(64, 64))})
        assert (status, answer["error"]["field"]) == (400, "operation")
        assert "(none enabled)" in answer["error"]["message"]
        status, _, answer = post_json(f"{off.url}/uploads", {"content_type": "image/png"})
        assert (status, answer["error"]["code"]) == (404, "not_found")
        models = json.loads(http("GET", f"{off.url}/models")[2])
        assert models["operations"] == [] and models["uploads"]["content_types"] == []
