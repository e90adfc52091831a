"""POST /images/edits validation and body building, for every operation in the catalogue."""

import base64
import io
from datetime import date

import pytest
from PIL import Image

from service.adapters import for_family
from service.catalogue import default_catalogue
from service.config import ConfigError, Settings
from service.edits import check_body_size, parse_edit
from service.errors import InvalidField, PayloadTooLarge
from service.imageinfo import ImageInfo
from service.inputs import MAX_INPUT_BYTES, InputSource
from service.request import InputImage
from tests.conftest import minimal_edit

TODAY = date(2026, 11, 26)
CATALOGUE = default_catalogue()
OPERATIONS = CATALOGUE.operations


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), "white").save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


STORED = {
    "images/2026/11/26/a.png": png(512, 512),
    "uploads/2026/11/26/u.png": png(640, 480),
    "uploads/2026/11/26/notes.txt": b"not an image",
}
READS: list[str] = []


def read(key: str, max_bytes: int) -> bytes | None:
    READS.append(key)
    return STORED.get(key)


SOURCE = InputSource(("images/", "uploads/"), read)


def settings(region: str = "us-west-2", **env: str) -> Settings:
    return Settings.from_env(
        {"IMAGEGEN_BUCKET": "b-images", "AWS_REGION": region, **env}, CATALOGUE
    )


def parse(body, region: str = "us-west-2", **env):
    return parse_edit(body, settings(region, **env), CATALOGUE, TODAY, SOURCE)


def minimal(operation) -> dict:
    return minimal_edit(operation, {"key": "images/2026/11/26/a.png"})


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation)
def test_every_operation_builds_its_documented_body_from_a_minimal_request(operation):
    request = parse(minimal(operation))
    body = for_family(operation.family).request_body(request, 1, 42)
    assert body.items() >= operation.constants.items()
    for rule in operation.inputs:
        if rule.required:
            assert body[rule.wire] == b64(STORED["images/2026/11/26/a.png"])
    assert body["output_format"] == operation.output_formats[0]
    assert ("seed" in body) == (operation.seed_max is not None)
    wire_names = {r.wire for r in (*operation.fields, *operation.inputs)} | set(operation.constants)
    assert set(body) <= wire_names | {"seed", "output_format"}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation)
def test_every_operation_refuses_a_field_it_does_not_take(operation):
    with pytest.raises(InvalidField) as err:
        parse({**minimal(operation), "cfg_scale": 7})
    assert err.value.field == "cfg_scale" and operation.operation in err.value.message


def test_style_transfer_sends_its_image_as_init_image():
    op = CATALOGUE.operation("style-transfer")
    request = parse(minimal(op) | {"style_image": {"data": b64(png(300, 200))}})
    body = for_family(op.family).request_body(request, 1, 7)
    assert body["init_image"] and body["style_image"] and "image" not in body


def test_stability_services_go_through_the_us_profile_and_image_to_image_in_region():
    assert parse(minimal(CATALOGUE.operation("inpaint")), "us-east-1").invoke_id == (
        "us.stability.stable-image-inpaint-v1:0"
    )
    assert parse(minimal(CATALOGUE.operation("image-to-image"))).invoke_id == (
        "stability.sd3-5-large-v1:0"
    )


def test_inline_data_is_passed_on_as_given_and_a_data_uri_loses_only_its_prefix():
    encoded = b64(png(256, 256))
    op = CATALOGUE.operation("remove-background")
    plain = parse({"operation": op.operation, "image": {"data": encoded}})
    uri = parse({"operation": op.operation, "image": {"data": "data:image/png;base64," + encoded}})
    assert plain.images["image"].encoded == uri.images["image"].encoded == encoded


def test_cheap_fields_are_checked_before_any_input_is_read():
    READS.clear()
    with pytest.raises(InvalidField):
        parse({**minimal(CATALOGUE.operation("inpaint")), "grow_mask": 99})
    assert READS == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ([], "body", "JSON object"),
        ({}, "operation", "choose one of"),
        ({"operation": "sharpen"}, "operation", "choose one of image-to-image"),
        ({"operation": "inpaint", "prompt": "x"}, "image", "required"),
        (
            {"operation": "inpaint", "image": {"key": "images/2026/11/26/a.png"}},
            "prompt",
            "required",
        ),
        (
            {
                "operation": "image-to-image",
                "prompt": "x",
                "image": {"key": "images/2026/11/26/a.png"},
            },
            "strength",
            "required",
        ),
        ({"operation": "erase", "image": "images/a.png"}, "image", '{"key"'),
        ({"operation": "erase", "image": {"key": "x", "data": "y"}}, "image", '{"key"'),
        ({"operation": "erase", "image": {"url": "http://x"}}, "image", '{"key"'),
        (
            {"operation": "erase", "image": {"key": "private/secret.png"}},
            "image",
            "under 'images/' or 'uploads/'",
        ),
        ({"operation": "erase", "image": {"key": "images/../private/x.png"}}, "image", "under"),
        (
            {"operation": "erase", "image": {"key": "images/2026/gone.png"}},
            "image",
            "names no stored image",
        ),
        (
            {"operation": "erase", "image": {"key": "uploads/2026/11/26/notes.txt"}},
            "image",
            "not a PNG, JPEG or WebP",
        ),
        ({"operation": "erase", "image": {"data": "not base64!"}}, "image", "not valid base64"),
        ({"operation": "erase", "image": {"data": b64(png(32, 32))}}, "image", "at least 64"),
        (
            {"operation": "erase", "image": {"data": b64(png(640, 128))}},
            "image",
            "ratio must be between 0.4 and 2.5",
        ),
        (
            {"operation": "upscale-fast", "image": {"data": b64(png(1600, 512))}},
            "image",
            "at most 1536",
        ),
        (
            {
                "operation": "upscale-creative",
                "prompt": "x",
                "image": {"data": b64(png(1100, 1000))},
            },
            "image",
            "4096 to 1048576 pixels",
        ),
        (
            {
                "operation": "erase",
                "image": {"key": "images/2026/11/26/a.png"},
                "mask": {"key": "uploads/2026/11/26/u.png"},
            },
            "mask",
            "same size as 'image' (512x512)",
        ),
        (
            {"operation": "outpaint", "image": {"key": "images/2026/11/26/a.png"}},
            "left",
            "at least one of left, right, up, down",
        ),
        (
            {"operation": "outpaint", "image": {"key": "images/2026/11/26/a.png"}, "left": 2001},
            "left",
            "between 0 and 2000",
        ),
        (
            {"operation": "upscale-fast", "image": {"key": "images/2026/11/26/a.png"}, "seed": 3},
            "seed",
            "unknown field 'seed' for operation upscale-fast; it accepts operation, output_format,",
        ),
        (
            {**minimal(CATALOGUE.operation("inpaint")), "seed": 4294967295},
            "seed",
            "between 0 and 4294967294",
        ),
        (
            {**minimal(CATALOGUE.operation("inpaint")), "output_format": "gif"},
            "output_format",
            "one of png, jpeg, webp",
        ),
        (
            {**minimal(CATALOGUE.operation("inpaint")), "style_preset": "vaporwave"},
            "style_preset",
            "one of 3d-model",
        ),
        (
            {**minimal(CATALOGUE.operation("inpaint")), "creativity": 0.3},
            "creativity",
            "unknown field",
        ),
    ],
)
def test_bad_edit_requests_name_the_field_and_the_limit(body, field, message):
    with pytest.raises(InvalidField) as err:
        parse(body)
    assert err.value.field == field
    assert message in err.value.message


def test_an_inline_image_beyond_what_bedrock_carries_is_413_before_decoding():
    huge = "A" * ((MAX_INPUT_BYTES + 2) // 3 * 4 + 4)
    with pytest.raises(PayloadTooLarge) as err:
        parse({"operation": "erase", "image": {"data": huge}})
    assert err.value.field == "image"


def test_an_operation_left_out_of_the_deployment_is_refused_and_not_listed():
    with pytest.raises(InvalidField) as err:
        parse(minimal(CATALOGUE.operation("upscale-creative")), IMAGEGEN_ALLOWED_OPERATIONS="erase")
    assert "choose one of erase" in err.value.message


def test_none_turns_editing_off():
    with pytest.raises(InvalidField) as err:
        parse(minimal(CATALOGUE.operation("erase")), IMAGEGEN_ALLOWED_OPERATIONS="none")
    assert "choose one of (none enabled)" in err.value.message
    with pytest.raises(ConfigError, match="'none' alone turns editing off"):
        settings(IMAGEGEN_ALLOWED_OPERATIONS="none,erase")


def cut(data: bytes) -> str:
    return b64(data[: len(data) // 2])


def webp(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "WEBP")
    return out.getvalue()


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize("whole", [png(256, 256), jpeg(256, 256), webp(256, 256)])
def test_an_image_cut_short_is_refused_before_bedrock_sees_it(whole):
    assert parse({"operation": "remove-background", "image": {"data": b64(whole)}}).images
    with pytest.raises(InvalidField, match="cut short") as err:
        parse({"operation": "remove-background", "image": {"data": cut(whole)}})
    assert err.value.field == "image"


def test_an_operation_the_region_does_not_offer_is_refused_naming_it():
    with pytest.raises(InvalidField, match="image-to-image is not offered in us-east-1") as err:
        parse(minimal(CATALOGUE.operation("image-to-image")), "us-east-1")
    assert err.value.field == "operation" and "image-to-image," not in err.value.message


def test_operation_must_be_a_string():
    with pytest.raises(InvalidField, match="'operation' must be a string"):
        parse({"operation": ["erase"]})


def test_text_counts_as_json_writes_it_so_the_bedrock_body_never_exceeds_its_limit():
    """Emoji are 12 bytes each in the body Bedrock gets; three 10,000-character prompts of
    them beside a maximal image would pass a fixed reserve and fail at Bedrock."""
    emoji = "\U0001f98a" * 10_000
    big = InputImage("A" * ((MAX_INPUT_BYTES + 2) // 3 * 4), ImageInfo("png", 512, 512))
    values = {"prompt": emoji, "search_prompt": emoji, "negative_prompt": emoji}
    with pytest.raises(PayloadTooLarge, match="send a smaller 'image'") as err:
        check_body_size(values, {"image": big})
    assert err.value.field == "image"
    check_body_size({"prompt": "a fox"}, {"image": big})


def test_inpaint_needs_a_mask_unless_the_image_has_transparency():
    body = {"operation": "inpaint", "prompt": "a kite", "image": {"data": b64(png(128, 128))}}
    with pytest.raises(InvalidField, match="'mask' is required for operation inpaint") as err:
        parse(body)
    assert err.value.field == "mask"
    assert parse({**body, "image": {"data": b64(png(128, 128, "RGBA"))}}).images
    assert parse({**body, "mask": {"data": b64(png(128, 128, "L"))}}).images["mask"]


def test_a_gif_is_named_as_one_inline_or_as_a_data_uri():
    gif = io.BytesIO()
    Image.new("RGB", (80, 80)).save(gif, "GIF")
    for data in (b64(gif.getvalue()), "data:image/gif;base64," + b64(gif.getvalue())):
        with pytest.raises(InvalidField, match="'image' cannot be used: it is a GIF"):
            parse({"operation": "remove-background", "image": {"data": data}})
