"""The Bedrock emulator through boto3, as the service sees it: Bedrock's wire format and errors."""

import base64
import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from devstack.bedrock_emulator import BedrockEmulatorServer


@pytest.fixture(scope="module")
def bedrock():
    server = BedrockEmulatorServer(serve_retired=False).start()
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-west-2",
        endpoint_url=server.url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    yield client
    server.stop()


def invoke(client, model_id: str, body: dict) -> dict:
    response = client.invoke_model(
        modelId=model_id, body=json.dumps(body), contentType="application/json"
    )
    return json.loads(response["body"].read())


def error_of(client, model_id: str, body: dict) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        invoke(client, model_id, body)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_stable_image_core_answers_in_its_wire_format_with_a_labelled_image(bedrock):
    answer = invoke(
        bedrock,
        "stability.stable-image-core-v1:1",
        {"prompt": "a fox", "aspect_ratio": "3:2", "seed": 9, "output_format": "png"},
    )
    assert answer["seeds"] == [9] and answer["finish_reasons"] == [None]
    image = Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))
    assert image.size == (1216, 832) and "EMULATED" in image.info["Software"]


def test_same_prompt_and_seed_give_the_same_image(bedrock):
    body = {"prompt": "a fox", "seed": 5}
    first = invoke(bedrock, "stability.stable-image-core-v1:1", body)["images"][0]
    assert invoke(bedrock, "stability.stable-image-core-v1:1", body)["images"][0] == first
    other = invoke(bedrock, "stability.stable-image-core-v1:1", {**body, "seed": 6})
    assert other["images"][0] != first


@pytest.mark.parametrize(
    ("model_id", "body", "code", "message"),
    [
        (
            "stability.nope-v9",
            {"prompt": "a"},
            "ValidationException",
            "model identifier is invalid",
        ),
        (
            "stability.stable-image-core-v1:1",
            {"prompt": "a", "aspect_ratio": "7:3"},
            "ValidationException",
            "aspect_ratio",
        ),
        (
            "stability.stable-image-core-v1:1",
            {"prompt": "a", "stream": True},
            "ValidationException",
            "extraneous key [stream]",
        ),
        (
            "stability.stable-image-core-v1:1",
            {"prompt": "a", "seed": -1},
            "ValidationException",
            "seed",
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a"}},
            "ValidationException",
            "model identifier is invalid",
        ),  # not offered in us-west-2
        (
            "stability.stable-diffusion-xl-v1",
            {"text_prompts": [{"text": "a"}]},
            "ResourceNotFoundException",
            "end of its life",
        ),
    ],
)
def test_bad_requests_get_bedrocks_errors(bedrock, model_id, body, code, message):
    got_code, got_message = error_of(bedrock, model_id, body)
    assert got_code == code and message in got_message
