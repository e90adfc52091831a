"""The emulator's image editing through boto3: the Stability Image Services (called through their
``us.`` inference profiles) and SD3.5 Large's image-to-image mode. Each operation answers with an
image that shows its effect; each body AWS's rules refuse gets a ValidationException naming the
path (``devstack/bedrock_models.json``)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image, ImageChops, ImageDraw, ImageOps

from devstack.bedrock_emulator import BedrockEmulatorServer
from tests.conftest import emulator_client

SD35 = "stability.sd3-5-large-v1:0"
US_REGIONS = ("us-east-1", "us-east-2", "us-west-2")
FILTERED = {"finish_reasons": ["Filter reason: prompt"]}
BOX = (40, 30, 100, 80)  # the masked rectangle of the test masks


def profile(name: str) -> str:
    return f"us.stability.{name}-v1:0"


FAST, CONSERVATIVE, CREATIVE = (
    profile(n)
    for n in ("stable-fast-upscale", "stable-conservative-upscale", "stable-creative-upscale")
)
INPAINT, OUTPAINT, ERASE = (
    profile(n) for n in ("stable-image-inpaint", "stable-outpaint", "stable-image-erase-object")
)
REPLACE, RECOLOR, REMOVE_BG = (
    profile(n)
    for n in (
        "stable-image-search-replace",
        "stable-image-search-recolor",
        "stable-image-remove-background",
    )
)
SKETCH, STRUCTURE, STYLE_GUIDE, STYLE_TRANSFER = (
    profile(n)
    for n in (
        "stable-image-control-sketch",
        "stable-image-control-structure",
        "stable-image-style-guide",
        "stable-style-transfer",
    )
)


def photo(size: tuple[int, int] = (160, 120), mode: str = "RGB") -> Image.Image:
    """A deterministic, non-uniform input picture."""
    gradient = Image.linear_gradient("L").resize(size).rotate(30)
    return ImageOps.colorize(gradient, black="navy", white="orange").convert(mode)


def encoded(image: Image.Image, image_format: str = "PNG") -> str:
    out = io.BytesIO()
    image.save(out, image_format)
    return base64.b64encode(out.getvalue()).decode()


def box_mask(size: tuple[int, int] = (160, 120), box: tuple[int, ...] = BOX) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


IMAGE = encoded(photo())
MINIMAL: dict[str, dict[str, Any]] = {  # the least each service requires
    FAST: {"image": IMAGE},
    CONSERVATIVE: {"image": IMAGE, "prompt": "a"},
    CREATIVE: {"image": IMAGE, "prompt": "a"},
    INPAINT: {"image": IMAGE, "prompt": "a", "mask": encoded(box_mask())},
    OUTPAINT: {"image": IMAGE, "left": 8},
    ERASE: {"image": IMAGE, "mask": encoded(box_mask())},
    REPLACE: {"image": IMAGE, "prompt": "a", "search_prompt": "b"},
    RECOLOR: {"image": IMAGE, "prompt": "a", "select_prompt": "b"},
    REMOVE_BG: {"image": IMAGE},
    SKETCH: {"image": IMAGE, "prompt": "a"},
    STRUCTURE: {"image": IMAGE, "prompt": "a"},
    STYLE_GUIDE: {"image": IMAGE, "prompt": "a"},
    STYLE_TRANSFER: {"init_image": IMAGE, "style_image": IMAGE},
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[BedrockEmulatorServer]:
    server = BedrockEmulatorServer(today=date(2026, 11, 26)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def call(emulator) -> Iterator[Callable[..., dict]]:
    """``call(model_id, body, region="us-east-1")``: the decoded answer body."""
    clients: dict[str, Any] = {}

    def invoke(model_id: str, body: dict, region: str = "us-east-1") -> dict:
        if region not in clients:
            clients[region] = emulator_client(emulator.url, region)
        answer = clients[region].invoke_model(modelId=model_id, body=json.dumps(body))
        return json.loads(answer["body"].read())

    yield invoke
    for client in clients.values():
        client.close()


def refusal(server: BedrockEmulatorServer, model_id: str, body: object, region: str) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body)
    with pytest.raises(ClientError) as caught:
        emulator_client(server.url, region).invoke_model(modelId=model_id, body=raw)
    return caught.value.response


def picture(answer: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))


def changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of the pixels that differ."""
    return ImageChops.difference(before.convert("RGB"), after.convert("RGB")).getbbox()


def inside(box: tuple[int, ...], bounds: tuple[int, ...]) -> bool:
    return (
        bounds[0] <= box[0] and bounds[1] <= box[1] and box[2] <= bounds[2] and box[3] <= bounds[3]
    )


# ---- each operation's effect --------------------------------------------------------------------


def test_fast_upscale_answers_four_times_each_side(call):
    answer = call(FAST, {"image": encoded(photo((100, 80)))})
    assert picture(answer).size == (400, 320)


@pytest.mark.parametrize("model_id", [CONSERVATIVE, CREATIVE])
def test_conservative_and_creative_upscales_answer_four_megapixels_at_the_inputs_ratio(
    call, model_id
):
    answer = call(model_id, {"image": encoded(photo((128, 128))), "prompt": "a"})
    assert picture(answer).size == (2048, 2048)
    width, height = picture(call(model_id, {"image": IMAGE, "prompt": "a"})).size
    assert abs(width / height - 160 / 120) < 0.01 and abs(width * height - 4_194_304) < 5_000


@pytest.mark.parametrize(("output_format", "pil_format"), [("png", "PNG"), ("webp", "WEBP")])
def test_remove_background_answers_a_transparent_background(call, output_format, pil_format):
    image = picture(call(REMOVE_BG, {"image": IMAGE, "output_format": output_format}))
    assert image.format == pil_format and image.mode == "RGBA" and image.size == (160, 120)
    assert image.getpixel((0, 0))[3] == 0 and image.getpixel((80, 60))[3] == 255


def test_remove_background_as_jpeg_is_flattened_onto_white(call):
    image = picture(call(REMOVE_BG, {"image": IMAGE, "output_format": "jpeg"}))
    assert image.format == "JPEG" and image.mode == "RGB"
    assert min(image.getpixel((0, 0))) > 240


def test_outpaint_grows_the_canvas_by_exactly_the_requested_pixels(call):
    body = {"image": IMAGE, "left": 12, "right": 30, "up": 7, "down": 0, "prompt": "sea"}
    image = picture(call(OUTPAINT, body))
    assert image.size == (160 + 42, 120 + 7)
    assert changed_box(photo(), image.crop((12, 7, 172, 127))) is None


def test_inpaint_changes_only_the_pixels_inside_the_mask(call):
    body = {"image": IMAGE, "mask": encoded(box_mask()), "prompt": "a", "grow_mask": 0}
    changed = changed_box(photo(), picture(call(INPAINT, body)))
    assert changed is not None and inside(changed, (40, 30, 101, 81))


def test_grow_mask_widens_the_edited_area_by_at_most_its_pixels(call):
    body = {"image": IMAGE, "mask": encoded(box_mask()), "prompt": "a"}  # grow_mask default 5
    changed = changed_box(photo(), picture(call(INPAINT, body)))
    assert changed is not None and inside(changed, (35, 25, 106, 86))
    assert not inside(changed, (40, 30, 101, 81))


def test_a_mask_of_another_size_is_resized_to_the_image_as_documented(call):
    half = box_mask((80, 60), (20, 15, 50, 40))  # BOX at half scale
    body = {"image": IMAGE, "mask": encoded(half), "prompt": "a", "grow_mask": 0}
    changed = changed_box(photo(), picture(call(INPAINT, body)))
    assert changed is not None and inside(changed, (36, 26, 105, 85))


def test_without_a_mask_the_transparent_pixels_are_edited(call):
    image = photo(mode="RGBA")
    image.putalpha(ImageOps.invert(box_mask()))  # transparent inside BOX
    body = {"image": encoded(image), "prompt": "a", "grow_mask": 0}
    changed = changed_box(photo(), picture(call(INPAINT, body)))
    assert changed is not None and inside(changed, (40, 30, 101, 81))


def test_erase_changes_only_the_pixels_inside_the_mask(call):
    body = {"image": IMAGE, "mask": encoded(box_mask()), "grow_mask": 0}
    changed = changed_box(photo(), picture(call(ERASE, body)))
    assert changed is not None and inside(changed, (40, 30, 101, 81))


@pytest.mark.parametrize(
    ("model_id", "search"), [(REPLACE, "search_prompt"), (RECOLOR, "select_prompt")]
)
def test_search_services_change_one_region_found_by_the_search_text(call, model_id, search):
    body = {"image": IMAGE, "prompt": "red", search: "cat", "seed": 3}
    answer = call(model_id, body)
    changed = changed_box(photo(), picture(answer))
    assert changed is not None and changed != (0, 0, 160, 120)
    assert call(model_id, body) == answer
    other = changed_box(photo(), picture(call(model_id, {**body, search: "a dog"})))
    assert other != changed


@pytest.mark.parametrize(
    ("model_id", "body", "size"),
    [
        (SKETCH, {"prompt": "a house", "control_strength": 0.9}, (160, 120)),
        (STRUCTURE, {"prompt": "a tunnel"}, (160, 120)),
        (STYLE_GUIDE, {"prompt": "a city", "aspect_ratio": "16:9"}, (1344, 768)),
        (STYLE_GUIDE, {"prompt": "a city"}, (1024, 1024)),
    ],
)
def test_control_and_style_guide_draw_a_new_picture_of_the_documented_shape(
    call, model_id, body, size
):
    image = picture(call(model_id, {"image": IMAGE, "seed": 1, **body}))
    assert image.size == size
    assert image.size != (160, 120) or changed_box(photo(), image) == (0, 0, 160, 120)


def test_style_transfer_restyles_the_init_image_at_its_size(call):
    style = encoded(Image.new("RGB", (64, 64), (200, 20, 20)))
    image = picture(call(STYLE_TRANSFER, {"init_image": IMAGE, "style_image": style}))
    assert image.size == (160, 120) and changed_box(photo(), image) is not None
    red, green, _ = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert red > green


def test_sd35_image_to_image_at_strength_0_keeps_the_input(call):
    body = {"prompt": "a", "mode": "image-to-image", "image": IMAGE, "strength": 0, "seed": 4}
    image = picture(call(SD35, body, "us-west-2"))
    assert image.size == (1120, 896)  # the 1 MP size nearest 4:3 (5:4)
    expected = photo().resize(image.size, Image.Resampling.LANCZOS)
    assert max(high for _, high in ImageChops.difference(expected, image).getextrema()) <= 1


def test_sd35_image_to_image_at_strength_1_ignores_the_input(call):
    body = {"prompt": "a", "mode": "image-to-image", "image": IMAGE, "strength": 1, "seed": 4}
    image = picture(call(SD35, body, "us-west-2"))
    expected = photo().resize(image.size, Image.Resampling.LANCZOS)
    assert changed_box(expected, image) == (0, 0, *image.size)


def test_sd35_takes_a_body_with_an_image_and_no_mode_as_image_to_image(call):
    """AWS's own image-to-image example sends no ``mode``."""
    body = {"prompt": "A car made out of vegetables.", "image": IMAGE, "strength": 0.7}
    assert picture(call(SD35, body, "us-west-2")).size == (1120, 896)


@pytest.mark.parametrize(("output_format", "pil_format"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_edits_answer_in_the_requested_format(call, output_format, pil_format):
    image = picture(call(INPAINT, {**MINIMAL[INPAINT], "output_format": output_format}))
    assert image.format == pil_format and image.size == (160, 120)


def test_png_edits_are_labelled_as_emulated(call):
    assert "EMULATED" in picture(call(ERASE, MINIMAL[ERASE])).info["Software"]


def test_the_requested_seed_is_reported_and_repeats_the_same_bytes(call):
    body = {**MINIMAL[REPLACE], "seed": 77}
    answer = call(REPLACE, body)
    assert answer["seeds"] == [77] and answer["finish_reasons"] == [None]
    assert call(REPLACE, body) == answer


def test_services_without_a_seed_report_0_and_repeat_the_same_bytes(call):
    first = call(FAST, MINIMAL[FAST])
    assert first["seeds"] == [0] and call(FAST, MINIMAL[FAST]) == first


# ---- filters and faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "field"),
    [(INPAINT, "prompt"), (REPLACE, "search_prompt"), (RECOLOR, "select_prompt")],
)
def test_a_banned_word_in_a_prompt_field_gets_the_documented_filter_answer(call, model_id, field):
    assert call(model_id, {**MINIMAL[model_id], field: "forbidden thing"}) == FILTERED


def test_the_content_filter_fault_blocks_the_output(emulator, call):
    emulator.inject("content_filter")
    assert call(OUTPAINT, MINIMAL[OUTPAINT]) == {"finish_reasons": ["Filter reason: output image"]}


def test_the_bad_base64_fault_breaks_the_answers_image(emulator, call):
    emulator.inject("bad_base64")
    assert call(STYLE_TRANSFER, MINIMAL[STYLE_TRANSFER])["images"] == ["this is not base64!"]


def test_a_throttle_fault_answers_429(emulator):
    emulator.inject("throttle")
    response = refusal(emulator, ERASE, MINIMAL[ERASE], "us-east-1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_constant_images_keep_each_operations_output_size():
    server = BedrockEmulatorServer(constant_images=True).start()
    try:
        client = emulator_client(server.url, "us-east-1")
        answer = client.invoke_model(modelId=FAST, body=json.dumps(MINIMAL[FAST]))
        assert picture(json.loads(answer["body"].read())).size == (640, 480)
    finally:
        server.stop()


# ---- Regions and invocation ids -----------------------------------------------------------------


@pytest.mark.parametrize("region", US_REGIONS)
@pytest.mark.parametrize("model_id", list(MINIMAL))
def test_each_service_answers_through_its_us_profile_in_its_source_regions(call, model_id, region):
    answer = call(model_id, MINIMAL[model_id], region)
    assert len(answer["images"]) == 1 and answer["finish_reasons"] == [None]


@pytest.mark.parametrize("model_id", list(MINIMAL))
def test_the_plain_model_id_needs_the_inference_profile(emulator, model_id):
    plain = model_id.removeprefix("us.")
    error = refusal(emulator, plain, MINIMAL[model_id], "us-east-1")["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"Invocation of model ID {plain} with on-demand throughput isn't supported. Retry your "
        "request with the ID or ARN of an inference profile that contains this model."
    )


@pytest.mark.parametrize(
    ("model_id", "region"),
    [(INPAINT, "eu-west-1"), (INPAINT, "us-west-1"), (FAST, "ap-northeast-1"), (SD35, "us-east-1")],
)
def test_outside_its_documented_regions_an_id_is_invalid(emulator, model_id, region):
    body = MINIMAL.get(model_id, {"prompt": "a", "image": IMAGE, "strength": 0.5})
    error = refusal(emulator, model_id, body, region)["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == "The provided model identifier is invalid."


# ---- refusals -----------------------------------------------------------------------------------

GIF = encoded(photo(), "GIF")
NOT_AN_IMAGE = base64.b64encode(b"hello, not an image").decode()


def sized(width: int, height: int) -> str:
    return encoded(Image.new("RGB", (width, height), (90, 90, 90)))


@pytest.mark.parametrize(
    ("model_id", "body", "message"),
    [
        (INPAINT, {"image": IMAGE}, "#: required key [prompt] not found"),
        (REPLACE, {"image": IMAGE, "prompt": "a"}, "#: required key [search_prompt] not found"),
        (RECOLOR, {"image": IMAGE, "prompt": "a"}, "#: required key [select_prompt] not found"),
        (STYLE_TRANSFER, {"init_image": IMAGE}, "#: required key [style_image] not found"),
        (SKETCH, {"prompt": "a"}, "#: required key [image] not found"),
        (
            INPAINT,
            {**MINIMAL[INPAINT], "grow_mask": 21},
            "#/grow_mask: 21 is not less or equal to 20",
        ),
        (
            CONSERVATIVE,
            {**MINIMAL[CONSERVATIVE], "creativity": 0.6},
            "#/creativity: 0.6 is not less",
        ),
        (CREATIVE, {**MINIMAL[CREATIVE], "creativity": 0.05}, "#/creativity: 0.05 is not greater"),
        (OUTPAINT, {"image": IMAGE, "left": 2001}, "#/left: 2001 is not less or equal to 2000"),
        (OUTPAINT, {"image": IMAGE, "up": 1.5}, "#/up: expected type: Integer, found: Number"),
        (SKETCH, {**MINIMAL[SKETCH], "control_strength": 1.5}, "#/control_strength: 1.5 is not"),
        (
            STYLE_GUIDE,
            {**MINIMAL[STYLE_GUIDE], "aspect_ratio": "4:3"},
            "#/aspect_ratio: 4:3 is not",
        ),
        (
            STYLE_TRANSFER,
            {**MINIMAL[STYLE_TRANSFER], "change_strength": 0.05},
            "#/change_strength: 0.05 is not greater or equal to 0.1",
        ),
        (REPLACE, {**MINIMAL[REPLACE], "seed": 4294967295}, "#/seed: 4294967295 is not less"),
        (INPAINT, {**MINIMAL[INPAINT], "output_format": "gif"}, "#/output_format: gif is not a"),
        (INPAINT, {**MINIMAL[INPAINT], "prompt": "p" * 10_001}, "#/prompt: expected maxLength"),
        (
            OUTPAINT,
            {**MINIMAL[OUTPAINT], "negative_prompt": "x"},
            "extraneous key [negative_prompt]",
        ),
        (ERASE, {**MINIMAL[ERASE], "prompt": "x"}, "#: extraneous key [prompt] is not permitted"),
        (REMOVE_BG, {"image": IMAGE, "seed": 1}, "#: extraneous key [seed] is not permitted"),
        (OUTPAINT, {"image": IMAGE}, "#: at least one of [left, right, up, down] must be greater"),
        (OUTPAINT, {"image": IMAGE, "left": 0}, "#: at least one of [left, right, up, down]"),
        (INPAINT, {"image": "not base64!", "prompt": "a"}, "#/image: is not a valid base64 string"),
        (INPAINT, {"image": NOT_AN_IMAGE, "prompt": "a"}, "#/image: is not a readable image"),
        (INPAINT, {"image": GIF, "prompt": "a"}, "#/image: gif is not a supported image format"),
        (
            INPAINT,
            {"image": IMAGE, "prompt": "a", "mask": NOT_AN_IMAGE},
            "#/mask: is not a readable",
        ),
        (INPAINT, {"image": IMAGE, "prompt": "a", "mask": "%%%"}, "#/mask: is not a valid base64"),
        (
            INPAINT,
            {"image": sized(63, 64), "prompt": "a"},
            "#/image: 63x64 is not a supported image",
        ),
        (ERASE, {"image": sized(3073, 3072)}, "(the total pixel count cannot exceed 9437184)"),
        (REMOVE_BG, {"image": sized(64, 161)}, "aspect ratio must be between 1:2.5 and 2.5:1"),
        (REMOVE_BG, {"image": sized(161, 64)}, "#/image: 161x64 is not a supported image size"),
        (FAST, {"image": sized(1537, 32)}, "(every side must be at most 1536 pixels)"),
        (FAST, {"image": sized(31, 64)}, "(every side must be at least 32 pixels)"),
        (FAST, {"image": sized(1024, 1025)}, "(the total pixel count cannot exceed 1048576)"),
        (CREATIVE, {"image": sized(1025, 1024), "prompt": "a"}, "cannot exceed 1048576"),
        (
            STYLE_TRANSFER,
            {"init_image": IMAGE, "style_image": sized(64, 63)},
            "#/style_image: 64x63 is not a supported image size",
        ),
    ],
)
def test_bodies_breaking_the_documented_rules_are_refused_by_path(
    emulator, model_id, body, message
):
    response = refusal(emulator, model_id, body, "us-east-1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"].startswith("Malformed input request: ")
    assert message in response["Error"]["Message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "a", "mode": "image-to-image", "image": IMAGE}, "required key [strength]"),
        ({"prompt": "a", "mode": "image-to-image", "strength": 0.5}, "required key [image] not"),
        ({"prompt": "a", "image": IMAGE}, "#: required key [strength] not found"),
        ({"prompt": "a", "image": sized(63, 63), "strength": 0.5}, "#/image: 63x63 is not a"),
        ({"prompt": "a", "image": GIF, "strength": 0.5}, "#/image: gif is not a supported image"),
        ({"prompt": "a", "image": IMAGE, "strength": 1.1}, "#/strength: 1.1 is not less or equal"),
    ],
)
def test_sd35_image_to_image_needs_its_documented_fields(emulator, body, message):
    error = refusal(emulator, SD35, body, "us-west-2")["Error"]
    assert error["Code"] == "ValidationException" and message in error["Message"]


def test_an_image_body_over_the_invoke_model_limit_is_refused(emulator):
    body = json.dumps({"image": "A" * 25_000_000}).encode()
    error = refusal(emulator, FAST, body, "us-east-1")["Error"]
    assert (
        error["Code"] == "ValidationException"
        and "less than or equal to 25000000" in error["Message"]
    )
