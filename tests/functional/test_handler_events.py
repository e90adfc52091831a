"""API Gateway REST proxy events straight into the handler, against the local stack's S3 and
Bedrock emulator (no gateway in between)."""

import base64
import json

import pytest

from service.bootstrap import get_generator
from service.handler import MAX_BODY_BYTES, lambda_handler
from tests.conftest import lambda_context, load_event


@pytest.fixture(autouse=True)
def lambda_environment(stack, monkeypatch):
    """The environment a deployed Lambda would have, pointing at the local stack."""
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    get_generator.cache_clear()
    yield
    get_generator.cache_clear()


def call(event: dict) -> tuple[int, dict, dict]:
    response = lambda_handler(event, lambda_context("test-request"))
    return response["statusCode"], response["headers"], json.loads(response["body"])


@pytest.mark.parametrize(
    "name", ["post_images.json", "post_images_base64.json", "post_images_upper_headers.json"]
)
def test_post_events_generate_an_image(stack, name):
    status, headers, body = call(load_event(name))
    assert status == 200, body
    assert body["image_url"] == body["images"][0]["url"]
    assert headers["X-Request-Id"] == "test-request"


def test_base64_body_keeps_its_seed(stack):
    _, _, body = call(load_event("post_images_base64.json"))
    assert body["images"][0]["seed"] == 5


def test_missing_body_is_a_400_naming_the_body(stack):
    status, _, body = call(load_event("post_images_no_body.json"))
    assert status == 400 and body["error"]["field"] == "body"


def test_the_recipes_missing_prompt_is_a_400_not_a_500(stack):
    status, _, body = call(load_event("post_images_recipe_missing_prompt.json"))
    assert status == 400
    assert body["error"]["code"] == "invalid_field" and body["error"]["field"] == "text"


def test_get_models_lists_the_catalogue_with_limits(stack):
    status, _, body = call(load_event("get_models.json"))
    assert status == 200 and body["default_model"] == "stable-image-core"
    core = next(m for m in body["models"] if m["alias"] == "stable-image-core")
    assert core["usable"] and core["default"] and core["limits"]["prompt_max_length"] == 10000
    sdxl = next(m for m in body["models"] if m["alias"] == "sdxl")
    assert not sdxl["usable"] and sdxl["end_of_life"] == "2025-05-20"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"httpMethod": "DELETE"}, 405, "method_not_allowed"),
        ({"resource": "/nope", "path": "/nope"}, 404, "not_found"),
        ({"headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"body": '{"prompt": "a", "prompt": "b"}'}, 400, "invalid_json"),
        ({"body": "[" * 100_000 + "]" * 100_000}, 413, "payload_too_large"),
        ({"body": "[" * 5000 + "]" * 5000}, 400, "invalid_json"),
        ({"body": "not base64!", "isBase64Encoded": True}, 400, "invalid_json"),
        (
            {"body": base64.b64encode(b"\xff\xfe").decode(), "isBase64Encoded": True},
            400,
            "invalid_json",
        ),
        ({"body": "x" * (MAX_BODY_BYTES + 1)}, 413, "payload_too_large"),
        # Longer than Python's int-string limit (4300 digits): a 400, never a 500.
        ({"body": '{"prompt": "a", "seed": ' + "9" * 5000 + "}"}, 400, "invalid_json"),
        ({"body": '{"prompt": "a", "number_of_images": -' + "1" * 5000 + "}"}, 400, "invalid_json"),
        ({"body": '{"prompt": "a", "cfg_scale": ' + "1" * 5000 + ".5}"}, 400, "invalid_field"),
        # Not JSON numbers at all, though Python's json module accepts them.
        ({"body": '{"prompt": "a", "seed": NaN}'}, 400, "invalid_json"),
        ({"body": '{"prompt": "a", "cfg_scale": Infinity}'}, 400, "invalid_json"),
    ],
)
def test_malformed_events_get_their_documented_status(stack, change, status, code):
    got_status, _, body = call({**load_event("post_images.json"), **change})
    assert (got_status, body["error"]["code"]) == (status, code)


def test_a_misconfigured_deployment_answers_500_without_details(monkeypatch):
    monkeypatch.delenv("IMAGEGEN_BUCKET")
    status, _, body = call(load_event("post_images.json"))
    assert (status, body["error"]["code"]) == (500, "configuration_error")
    assert "IMAGEGEN_BUCKET" not in body["error"]["message"]


def test_an_event_that_is_not_a_dict_is_a_400(stack):
    response = lambda_handler(["not", "an", "event"], lambda_context("test-request"))
    assert response["statusCode"] == 400
