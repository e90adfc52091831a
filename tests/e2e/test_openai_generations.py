"""The OpenAI-compatible generation and model routes, driven by the official ``openai`` SDK and
by Open WebUI's exact request, through the local gateway -> handler -> emulator -> S3."""

from __future__ import annotations

import base64
import io
import json

import openai
import pytest
from PIL import Image

from devstack.stack import LocalStack
from tests.conftest import http


@pytest.fixture(scope="module")
def api():
    env = {"IMAGEGEN_LOG_LEVEL": "WARNING", "IMAGEGEN_RETRY_AFTER_SECONDS": "2"}
    with LocalStack(env=env) as running:
        yield running


@pytest.fixture(scope="module")
def client(api) -> openai.OpenAI:
    with openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused-locally", max_retries=0) as c:
        yield c


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def test_generate_answers_base64_by_default_with_n_images(client):
    answer = client.images.generate(prompt="a red fox in snow", n=2)
    assert len(answer.data) == 2 and all(item.url is None for item in answer.data)
    images = [decoded(item.b64_json) for item in answer.data]
    assert [image.size for image in images] == [(1024, 1024)] * 2
    assert images[0].tobytes() != images[1].tobytes()  # consecutive seeds, different images
    assert (answer.size, answer.output_format) == ("1024x1024", "png")
    ours = answer.model_extra["imagegen"]
    assert ours["model"] == "stable-image-core" and len(ours["images"]) == 2


def test_generate_with_url_answers_presigned_urls_that_download(client):
    answer = client.images.generate(prompt="a red fox", response_format="url", n=2)
    for item in answer.data:
        assert item.b64_json is None
        status, headers, data = http("GET", item.url)
        assert (status, headers["Content-Type"]) == (200, "image/png")
        assert Image.open(io.BytesIO(data)).size == (1024, 1024)


@pytest.mark.parametrize(
    ("size", "made"),
    [("512x512", (1024, 1024)), ("1792x1024", (1344, 768)), ("1024x1536", (832, 1216))],
)
def test_size_maps_to_the_models_nearest_aspect_ratio_and_says_so(client, size, made):
    answer = client.images.generate(prompt="a harbour", size=size)
    assert decoded(answer.data[0].b64_json).size == made
    assert answer.size == f"{made[0]}x{made[1]}"
    assert any(size in note for note in answer.model_extra["imagegen"]["notes"])


def test_auto_size_quality_style_and_user_are_accepted_and_noted(client):
    answer = client.images.generate(
        prompt="a harbour", size="auto", quality="hd", style="natural", user="someone"
    )
    assert decoded(answer.data[0].b64_json).size == (1024, 1024)
    notes = answer.model_extra["imagegen"]["notes"]
    assert any(note.startswith("quality, style accepted for compatibility") for note in notes)


def test_output_format_jpeg(client):
    answer = client.images.generate(prompt="a harbour", output_format="jpeg")
    assert decoded(answer.data[0].b64_json).format == "JPEG"
    assert answer.output_format == "jpeg"


def test_a_model_is_retrieved_by_id(client):
    assert client.models.retrieve("sd3.5-large").owned_by == "stability"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("dall-e-3")
    assert "stable-image-core" in caught.value.body["message"]


def test_models_list_the_usable_models_default_first(client):
    models = client.models.list()
    ids = [model.id for model in models.data]
    assert ids[0] == "stable-image-core"
    assert "sd3.5-large" in ids and "sdxl" not in ids  # SDXL reached end of life
    assert {model.owned_by for model in models.data} <= {"stability", "amazon"}
    assert all(model.object == "model" for model in models.data)


@pytest.mark.parametrize(
    ("arguments", "param", "words"),
    [
        ({"model": "dall-e-3"}, "model", "choose one of stable-image-core"),
        ({"n": 5}, "n", "between 1 and 4"),
        ({"size": "big"}, "size", "WIDTHxHEIGHT"),
        ({"response_format": "png"}, "response_format", "b64_json, url"),
        ({"output_format": "gif"}, "output_format", "png, jpeg"),
        ({"background": "transparent"}, "background", "remove-background"),
        ({"quality": "ultra"}, "quality", "one of auto"),
        ({"extra_body": {"steps": 30}}, "steps", "unknown field"),
    ],
)
def test_bad_fields_are_bad_request_errors_naming_the_param(client, arguments, param, words):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a fox", **arguments)
    error = caught.value.body
    assert caught.value.status_code == 400
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert words in error["message"]


def test_a_missing_prompt_is_a_bad_request_naming_prompt(api):
    status, _, raw = http(
        "POST",
        f"{api.url}/v1/images/generations",
        b'{"n": 1}',
        {"Content-Type": "application/json"},
    )
    error = json.loads(raw)["error"]
    assert (status, error["param"], error["code"]) == (400, "prompt", "invalid_field")


def test_throttling_is_a_rate_limit_error_with_retry_after(api, client):
    api.bedrock.inject("throttle", "throttle", "throttle")
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(prompt="a fox")
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body["type"] == "rate_limit_error"


def test_a_content_filter_block_is_422_in_openais_shape(api, client):
    api.bedrock.inject("content_filter")
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.images.generate(prompt="a fox")
    assert caught.value.body["code"] == "content_filtered"


def test_open_webui_generation_request_replayed_exactly(api):
    """Open WebUI (backend/open_webui/routers/images.py, engine "openai") POSTs this body with
    these headers to {base}/images/generations and decodes data[i]["b64_json"] as PNG."""
    body = {
        "model": "stable-image-core",
        "prompt": "a lighthouse at dusk",
        "n": 1,
        "size": "512x512",
        "response_format": "b64_json",
    }
    headers = {"Authorization": "Bearer sk-anything", "Content-Type": "application/json"}
    status, _, raw = http(
        "POST", f"{api.url}/v1/images/generations", json.dumps(body).encode(), headers
    )
    assert status == 200
    (item,) = json.loads(raw)["data"]
    assert decoded(item["b64_json"]).format == "PNG"


@pytest.fixture(scope="module")
def keyed():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}, api_keys=("sk-right",)) as running:
        yield running


def test_the_api_key_as_a_bearer_token_is_accepted_and_checked(keyed):
    def sdk(key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{keyed.url}/v1", api_key=key, max_retries=0)

    with sdk("sk-right") as right:
        assert right.models.list().data[0].id == "stable-image-core"
        assert right.images.generate(prompt="a fox").data[0].b64_json
    with sdk("sk-wrong") as wrong, pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert (caught.value.body["type"], caught.value.body["code"]) == (
        "authentication_error",
        "invalid_api_key",
    )
    # A client whose proxy or settings replaced the bearer token with another scheme.
    with (
        openai.OpenAI(
            base_url=f"{keyed.url}/v1",
            api_key="sk-right",
            default_headers={"Authorization": "Basic c2stcmlnaHQ="},
            max_retries=0,
        ) as other,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        other.images.generate(prompt="a fox")
    assert (caught.value.body["code"], caught.value.body["type"]) == (
        "unauthorized",
        "authentication_error",
    )


def test_x_api_key_works_on_the_openai_routes_too(keyed):
    status, _, raw = http("GET", f"{keyed.url}/v1/models", headers={"x-api-key": "sk-right"})
    assert status == 200 and json.loads(raw)["object"] == "list"
