from datetime import date

import pytest

from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import InvalidField, ModelRetired
from service.validation import parse_request

TODAY = date(2026, 11, 25)
CATALOGUE = default_catalogue()


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {"IMAGEGEN_BUCKET": "b-images", "AWS_REGION": "us-west-2", **env}, CATALOGUE
    )


def parse(body, **env):
    return parse_request(body, settings(**env), CATALOGUE, TODAY)


RETIRED_OK = {"IMAGEGEN_ENABLED_RETIRED_MODELS": "sdxl,titan-image-v2,nova-canvas"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ([], "body", "JSON object"),
        ({}, "prompt", "required"),
        ({"prompt": "   "}, "prompt", "must not be empty"),
        ({"prompt": 5}, "prompt", "must be a string"),
        ({"prompt": "x" * 10001}, "prompt", "at most 10000"),
        ({"prompt": "a\x00b"}, "prompt", "control character"),
        ({"prompt": "a\ud800b"}, "prompt", "unpaired surrogate"),
        ({"prompt": "a", "promt": "b"}, "promt", "unknown field"),
        ({"prompt": "a", "model": "dall-e-3"}, "model", "not available here"),
        ({"prompt": "a", "model": ""}, "model", "non-empty"),
        ({"prompt": "a", "seed": -1}, "seed", "between 0 and 4294967295"),
        ({"prompt": "a", "seed": 1.5}, "seed", "integer"),
        ({"prompt": "a", "seed": True}, "seed", "integer"),
        ({"prompt": "a", "width": 1024}, "height", "go together"),
        ({"prompt": "a", "width": 0, "height": 10}, "width", "between 1 and 8192"),
        (
            {"prompt": "a", "width": 1024, "height": 1024, "aspect_ratio": "1:1"},
            "aspect_ratio",
            "not both",
        ),
        ({"prompt": "a", "aspect_ratio": "7:3"}, "aspect_ratio", "one of 1:1"),
        ({"prompt": "a", "aspect_ratio": "wide"}, "aspect_ratio", "like '16:9'"),
        ({"prompt": "\u200b\ufeff \u200b"}, "prompt", "visible character"),
        ({"prompt": "\ufe0f\ufe0e \u034f"}, "prompt", "visible character"),
        ({"prompt": "\u3164\uffa0\u2800"}, "prompt", "visible character"),
        ({"prompt": "a", "cfg_scale": 7}, "cfg_scale", "not supported by model stable-image-core"),
        ({"prompt": "a", "style_preset": "anime"}, "style_preset", "not supported"),
        ({"prompt": "a", "number_of_images": 5}, "number_of_images", "between 1 and 4"),
        ({"prompt": "a", "output_format": "webp"}, "output_format", "one of png, jpeg"),
        ({"prompt": "a", "output_format": 3}, "output_format", "must be a string"),
    ],
)
def test_bad_input_names_the_field_and_the_limit(body, field, message):
    with pytest.raises(InvalidField, match=message) as caught:
        parse(body)
    assert caught.value.field == field


def test_defaults_for_the_default_model():
    request = parse({"prompt": "  a lighthouse  "})
    assert request.prompt == "a lighthouse"
    assert (request.model.alias, request.invoke_id) == (
        "stable-image-core",
        "stability.stable-image-core-v1:1",
    )
    assert (request.aspect_ratio, request.width, request.height) == ("1:1", 1024, 1024)
    assert (request.number_of_images, request.output_format, request.seed) == (1, "png", None)


def test_width_and_height_map_to_the_nearest_aspect_ratio_with_a_note():
    request = parse({"prompt": "a", "width": 1920, "height": 1080})
    assert request.aspect_ratio == "16:9"
    assert "mapped to aspect_ratio 16:9" in request.notes[0]


def test_retired_model_is_refused_with_end_of_life_and_replacement():
    with pytest.raises(ModelRetired, match="2025-05-20; use stable-image-core") as caught:
        parse({"prompt": "a", "model": "stability.stable-diffusion-xl-v1"})
    assert caught.value.status_code == 400 and caught.value.code == "model_retired"


def test_retired_model_is_accepted_when_the_deployment_enables_it():
    request = parse(
        {"prompt": "a", "model": "sdxl", "cfg_scale": 10, "steps": 30, "seed": 0}, **RETIRED_OK
    )
    assert (request.cfg_scale, request.steps, request.seed) == (10, 30, 0)


def test_fixed_size_models_only_take_listed_sizes():
    with pytest.raises(InvalidField, match="1024x1024, 1152x896") as caught:
        parse({"prompt": "a", "model": "sdxl", "width": 1000, "height": 1000}, **RETIRED_OK)
    assert caught.value.field == "width"


def test_fixed_size_models_map_an_aspect_ratio_to_a_listed_size():
    request = parse({"prompt": "a", "model": "sdxl", "aspect_ratio": "16:9"}, **RETIRED_OK)
    assert (request.width, request.height) == (1344, 768)


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((1000, 1024), "multiple of 16"),
        ((4096, 4096), "at most 4194303"),
        ((320, 1600), "ratio must be between 0.25 and 4"),
    ],
)
def test_range_models_check_sides_pixels_and_ratio(size, message):
    with pytest.raises(InvalidField, match=message):
        parse(
            {"prompt": "a", "model": "nova-canvas", "width": size[0], "height": size[1]},
            **RETIRED_OK,
        )


def test_per_model_prompt_limit_applies():
    with pytest.raises(InvalidField, match="at most 512"):
        parse({"prompt": "x" * 513, "model": "titan-image-v2"}, **RETIRED_OK)


def test_deployment_cap_on_image_count():
    with pytest.raises(InvalidField, match="between 1 and 2"):
        parse({"prompt": "a", "number_of_images": 3}, IMAGEGEN_MAX_IMAGES="2")


def test_models_outside_the_allow_list_are_refused():
    with pytest.raises(InvalidField, match="choose one of stable-image-core"):
        parse(
            {"prompt": "a", "model": "stable-image-ultra"},
            IMAGEGEN_ALLOWED_MODELS="stable-image-core",
        )


@pytest.mark.parametrize("model", ["stable-image-core", "sdxl", "titan-image-v2", "nova-canvas"])
@pytest.mark.parametrize("ratio", ["0:1", "-1:2", "1:0", "1.5:1", "01:1", "1:1:1", " 1:1", "1:"])
def test_aspect_ratio_must_be_two_positive_integers_for_every_family(model, ratio):
    with pytest.raises(InvalidField, match="two positive integers") as caught:
        parse({"prompt": "a", "model": model, "aspect_ratio": ratio}, **RETIRED_OK)
    assert caught.value.field == "aspect_ratio"


@pytest.mark.parametrize("field", ["seed", "cfg_scale", "steps", "number_of_images", "width"])
def test_huge_integers_are_refused_naming_the_field(field):
    body = {"prompt": "a", "model": "sdxl", field: 10**4000}
    if field == "width":
        body["height"] = 1024
    with pytest.raises(InvalidField) as caught:
        parse(body, **RETIRED_OK)
    assert caught.value.field == field


def test_a_null_model_means_the_default_like_every_optional_field():
    assert parse({"prompt": "a", "model": None, "seed": None}).model.alias == "stable-image-core"


def test_an_unknown_model_is_answered_with_the_models_usable_here():
    with pytest.raises(InvalidField) as caught:
        parse({"prompt": "a", "model": "dall-e-3"})
    assert "stable-image-core" in caught.value.message
    assert "sdxl" not in caught.value.message  # retired and not enabled here


@pytest.mark.parametrize(
    ("env", "usable"),
    [
        ({}, {"stable-image-core", "stable-image-ultra", "sd3.5-large"}),
        (
            RETIRED_OK,
            {"stable-image-core", "stable-image-ultra", "sd3.5-large", "sdxl", "titan-image-v2"},
        ),
        ({**RETIRED_OK, "AWS_REGION": "us-east-1"}, {"sdxl", "titan-image-v2", "nova-canvas"}),
    ],
)
def test_usable_means_allowed_alive_and_offered_in_the_region(env, usable):
    config = settings(**env)
    assert {m.alias for m in CATALOGUE.models if config.usable(m, CATALOGUE, TODAY)} == usable


def test_an_optional_text_of_only_invisible_characters_counts_as_not_given():
    assert parse({"prompt": "a", "negative_prompt": "\u2060\u200b"}).negative_prompt is None
