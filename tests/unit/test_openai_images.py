"""The OpenAI translation's pure parts: size fitting, field checks, answer size and error shape."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import InvalidField, ResponseTooLarge
from service.flow import Outcome, StoredImage
from service.openai_images import answers, options
from service.openai_images.error_types import openai_error
from service.validation import _check_range, fit_size, parse_request

CATALOGUE = default_catalogue()
TODAY = date(2026, 11, 26)
BY_MODE = {
    "aspect_ratio": CATALOGUE.find("stable-image-core"),
    "fixed": CATALOGUE.find("sdxl"),
    "range": CATALOGUE.find("nova-canvas"),
}


@given(st.integers(1, 8192), st.integers(1, 8192))
def test_every_size_fits_a_valid_size_of_every_model(width, height):
    for model in CATALOGUE.models:
        fields, note = fit_size(model, width, height)
        rule = model.limits.size
        if rule.mode == "aspect_ratio":
            made = rule.aspect_ratios[fields["aspect_ratio"]]
        else:
            made = (fields["width"], fields["height"])
            if rule.mode == "fixed":
                assert made in rule.sizes
            else:
                _check_range(rule, model, *made)
        if note is None:
            assert made == (width, height)
        else:
            assert f"{width}x{height} mapped to" in note and f"{made[0]}x{made[1]}" in note


@pytest.mark.parametrize(
    ("mode", "asked", "fields"),
    [
        ("aspect_ratio", (1024, 1024), {"aspect_ratio": "1:1"}),
        ("aspect_ratio", (1792, 1024), {"aspect_ratio": "16:9"}),
        ("fixed", (1024, 1024), {"width": 1024, "height": 1024}),
        ("fixed", (512, 512), {"width": 1024, "height": 1024}),  # SDXL's nearest: same ratio
        ("range", (1536, 1024), {"width": 1536, "height": 1024}),  # Nova makes it as asked
        ("range", (256, 256), {"width": 320, "height": 320}),  # Nova's smallest side
    ],
)
def test_fit_size_examples(mode, asked, fields):
    assert fit_size(BY_MODE[mode], *asked)[0] == fields


def test_an_exact_size_gets_no_note():
    assert fit_size(BY_MODE["range"], 1024, 1024)[1] is None


@pytest.mark.parametrize("size", ["big", "1024", "0x10", "1024x", "10000x10", "1024X1024", 5])
def test_a_malformed_size_names_size(size):
    with pytest.raises(InvalidField) as caught:
        options.size({"size": size})
    assert caught.value.field == "size"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stream": True}, "stream"),
        ({"partial_images": 2}, "partial_images"),
        ({"background": "transparent"}, "background"),
        ({"output_compression": 101}, "output_compression"),
        ({"style": "loud"}, "style"),
        ({"user": 5}, "user"),
    ],
)
def test_compatibility_fields_refuse_what_cannot_be_honoured(body, field):
    with pytest.raises(InvalidField) as caught:
        options.check_ignored(body)
    assert caught.value.field == field


def outcome(*sizes: int) -> Outcome:
    stored = [
        StoredImage(f"https://s3/{i}", f"images/{i}.png", 1024, 1024, i, "image/png", size, False)
        for i, size in enumerate(sizes)
    ]
    settings = Settings.from_env(
        {"IMAGEGEN_BUCKET": "b-images", "AWS_REGION": "us-west-2"}, CATALOGUE
    )
    request = parse_request({"prompt": "a fox"}, settings, CATALOGUE, date(2026, 11, 26))
    return Outcome(request, stored, [b"x" * s for s in sizes], (), datetime.now(UTC))


class Describing:
    """The part of the generator the answer uses."""

    def describe(self, outcome):
        return {"images": [{"key": s.key} for s in outcome.stored]}

    def image_data(self, outcome):
        return outcome.data


def test_base64_images_within_lambdas_answer_limit_are_returned():
    answer = answers.images_answer(
        outcome(1_500_000, 1_500_000), options.Options("b64_json"), Describing()
    )
    assert len(answer["data"]) == 2 and answer["size"] == "1024x1024"


def test_base64_images_over_lambdas_answer_limit_are_refused_naming_the_ways_out():
    with pytest.raises(ResponseTooLarge) as caught:
        answers.images_answer(
            outcome(1_500_000, 1_500_000, 1_500_000, 1_500_000),
            options.Options("b64_json"),
            Describing(),
        )
    error = caught.value
    assert error.field == "response_format" and error.status_code == 400
    assert "'n' of at most 3" in error.message and "'url'" in error.message
    assert "'jpeg'" in error.message and "webp" not in error.message  # Core makes no WebP
    assert [image["key"] for image in error.images] == [f"images/{i}.png" for i in range(4)]


def test_the_same_images_as_urls_are_answered():
    answer = answers.images_answer(outcome(*[1_500_000] * 4), options.Options("url"), Describing())
    assert [item["url"] for item in answer["data"]] == [f"https://s3/{i}" for i in range(4)]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "invalid_request_error"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (502, "server_error"),
    ],
)
def test_errors_take_openais_shape_with_our_code(status, kind):
    body = {"error": {"code": "x", "message": "m", "field": "n"}}
    assert openai_error(body, status) == {
        "error": {"message": "m", "type": kind, "param": "n", "code": "x"}
    }


def test_an_error_without_a_field_has_a_null_param_and_keeps_its_extras():
    error = ResponseTooLarge("m", field="response_format", images=[{"url": "u", "key": "k"}])
    shaped = openai_error(error.to_body(), 400)["error"]
    assert shaped["images"] == [{"url": "u", "key": "k"}]
    assert openai_error({"error": {"code": "c", "message": "m"}}, 500)["error"]["param"] is None


def test_an_answer_that_cannot_fit_is_refused_before_the_model_is_called():
    """Two 2048x2032 PNGs are at least 11 MB as base64, whatever they show."""
    env = {
        "IMAGEGEN_BUCKET": "b-images",
        "AWS_REGION": "us-east-1",
        "IMAGEGEN_ENABLED_RETIRED_MODELS": "nova-canvas",
    }
    settings = Settings.from_env(env, CATALOGUE)
    body = {"prompt": "a fox", "model": "nova-canvas", "width": 2048, "height": 2032}
    request = parse_request({**body, "number_of_images": 2}, settings, CATALOGUE, TODAY)
    with pytest.raises(InvalidField) as caught:
        answers.check_expected_size(request, options.Options("b64_json"))
    assert caught.value.field == "n" and "'url'" in caught.value.message
    answers.check_expected_size(request, options.Options("url"))
    one = parse_request(body, settings, CATALOGUE, TODAY)
    answers.check_expected_size(one, options.Options("b64_json"))  # 5.6 MB: it may fit
