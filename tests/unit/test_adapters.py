import base64
import hashlib
import json
from datetime import date

import pytest

from service.adapters import for_family
from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import ContentFiltered, ModelFailed
from service.flow import cache_key, plan_calls
from service.validation import parse_request

CATALOGUE = default_catalogue()
SECRET = b"s" * 32
SETTINGS = Settings.from_env(
    {
        "IMAGEGEN_BUCKET": "b-images",
        "AWS_REGION": "us-west-2",
        "IMAGEGEN_ENABLED_RETIRED_MODELS": "sdxl,titan-image-v2,nova-canvas",
    },
    CATALOGUE,
)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n...").decode()


def request(**body):
    return parse_request({"prompt": "a cat", **body}, SETTINGS, CATALOGUE, date(2026, 11, 25))


def adapter_for(req):
    return for_family(req.model.family)


def test_stability_body_uses_aspect_ratio_and_output_format():
    req = request(negative_prompt="blur", aspect_ratio="16:9", output_format="jpeg")
    assert adapter_for(req).request_body(req, 1, 42) == {
        "prompt": "a cat",
        "negative_prompt": "blur",
        "aspect_ratio": "16:9",
        "seed": 42,
        "output_format": "jpeg",
    }


def test_stability_parse_returns_the_seed_the_model_reports():
    req = request(seed=0)
    images = adapter_for(req).parse_response(
        {"seeds": [2130420379], "finish_reasons": [None], "images": [PNG]}, 1, 0
    )
    assert images[0].seed == 2130420379 and images[0].data.startswith(b"\x89PNG")


@pytest.mark.parametrize("reason", ["Filter reason: prompt", "Filter reason: output image"])
def test_stability_filter_reasons_are_content_filtered(reason):
    req = request()
    with pytest.raises(ContentFiltered):
        adapter_for(req).parse_response({"finish_reasons": [reason]}, 1, 1)


@pytest.mark.parametrize(
    "payload",
    [
        {"finish_reasons": ["Inference error"]},
        {"images": []},
        {"images": ["not base64!"], "finish_reasons": [None], "seeds": [1]},
    ],
)
def test_stability_errors_and_bad_output_are_model_failures(payload):
    req = request()
    with pytest.raises(ModelFailed):
        adapter_for(req).parse_response(payload, 1, 1)


def test_sdxl_body_is_the_recipes_format():
    req = request(model="sdxl", cfg_scale=10, steps=30, seed=0, style_preset="anime")
    body = adapter_for(req).request_body(req, 1, 0)
    assert body == {
        "text_prompts": [{"text": "a cat", "weight": 1.0}],
        "cfg_scale": 10,
        "steps": 30,
        "seed": 0,
        "width": 1024,
        "height": 1024,
        "samples": 1,
        "style_preset": "anime",
    }


def test_sdxl_negative_prompt_is_a_negative_weight():
    req = request(model="sdxl", negative_prompt="blur")
    prompts = adapter_for(req).request_body(req, 1, 5)["text_prompts"]
    assert prompts[1] == {"text": "blur", "weight": -1.0}


def test_sdxl_parse_and_content_filter():
    req = request(model="sdxl")
    adapter = adapter_for(req)
    ok = adapter.parse_response(
        {"result": "success", "artifacts": [{"seed": 9, "base64": PNG, "finishReason": "SUCCESS"}]},
        1,
        0,
    )
    assert ok[0].seed == 9
    with pytest.raises(ContentFiltered):
        adapter.parse_response(
            {"artifacts": [{"seed": 9, "base64": PNG, "finishReason": "CONTENT_FILTERED"}]}, 1, 0
        )


def test_amazon_body_is_a_text_image_task():
    req = request(
        model="nova-canvas",
        width=1280,
        height=720,
        cfg_scale=7.5,
        negative_prompt="blur",
        style_preset="PHOTOREALISM",
        number_of_images=3,
    )
    body = adapter_for(req).request_body(req, 3, 77)
    assert body == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a cat", "negativeText": "blur", "style": "PHOTOREALISM"},
        "imageGenerationConfig": {
            "numberOfImages": 3,
            "width": 1280,
            "height": 720,
            "cfgScale": 7.5,
            "seed": 77,
            "quality": "standard",
        },
    }


def test_amazon_fewer_images_than_asked_is_a_partial_result():
    req = request(model="nova-canvas", number_of_images=3)
    images = adapter_for(req).parse_response({"images": [PNG], "error": "2 blocked"}, 3, 1)
    assert len(images) == 1


def test_amazon_error_without_images_is_content_filtered():
    req = request(model="titan-image-v2")
    with pytest.raises(ContentFiltered):
        adapter_for(req).parse_response({"images": [], "error": "blocked"}, 1, 1)


def test_plan_calls_one_image_per_call_with_consecutive_seeds():
    assert plan_calls(request(seed=10, number_of_images=3)) == [(1, 10), (1, 11), (1, 12)]


def test_plan_calls_gives_amazon_models_one_seed_per_image():
    """Titan and Nova make every image of a multi-image call from one seed: one image per call
    is the only way each reported seed reproduces its own image."""
    calls = plan_calls(request(model="titan-image-v2", seed=0, number_of_images=4))
    assert calls == [(1, 0), (1, 1), (1, 2), (1, 3)]


def test_plan_calls_picks_a_seed_when_none_is_given():
    ((count, seed),) = plan_calls(request())
    assert count == 1 and 1 <= seed <= 4294967295


def test_cache_key_depends_on_model_body_and_position():
    body = {"prompt": "a", "seed": 1}
    key = cache_key(SECRET, "images/", "m", body, 0, "png")
    assert key == cache_key(SECRET, "images/", "m", dict(reversed(body.items())), 0, "png")
    assert key.startswith("images/cache/") and key.endswith(".png")
    assert (
        len(
            {
                key,
                cache_key(SECRET, "images/", "m", {**body, "seed": 2}, 0, "png"),
                cache_key(SECRET, "images/", "m2", body, 0, "png"),
                cache_key(SECRET, "images/", "m", body, 1, "png"),
            }
        )
        == 4
    )


def test_cache_key_cannot_be_derived_without_the_deployments_secret():
    """Anyone can guess a prompt and seed; only the deployment can turn them into a key."""
    body = {"prompt": "a", "seed": 1}
    plain = hashlib.sha256(
        json.dumps(["m", body, 0], sort_keys=True, separators=(",", ":")).encode()
    )
    key = cache_key(SECRET, "images/", "m", body, 0, "png")
    assert plain.hexdigest() not in key
    assert key != cache_key(b"t" * 32, "images/", "m", body, 0, "png")
