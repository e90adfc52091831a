"""The Bedrock emulator through boto3, as the service sees it: Bedrock's wire format, the
documented rules (``devstack/bedrock_models.json``), lifecycle, Regions, filters and faults."""

import base64
import io
import json
from collections.abc import Iterator
from datetime import date

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from devstack.bedrock_emulator import BedrockEmulatorServer, load_rules
from tests.conftest import emulator_client, http, post_json

CORE, SD35, SDXL = (
    "stability.stable-image-core-v1:1",
    "stability.sd3-5-large-v1:0",
    "stability.stable-diffusion-xl-v1",
)
TITAN, NOVA = "amazon.titan-image-generator-v2:0", "amazon.nova-canvas-v1:0"
ULTRA = "stability.stable-image-ultra-v1:1"
AFTER_EVERY_EOL = date(2026, 11, 26)
CONDITIONED = {"text": "a", "conditionImage": "x"}
FILTERED_PROMPT = {"finish_reasons": ["Filter reason: prompt"]}


def text_image(text: str = "a fox", **config: object) -> dict:
    """A Titan / Nova TEXT_IMAGE body."""
    params = {"text": text}
    return {"taskType": "TEXT_IMAGE", "textToImageParams": params, "imageGenerationConfig": config}


@pytest.fixture(scope="module")
def emulator() -> Iterator[BedrockEmulatorServer]:
    """An account without private access to retired models, on a date past every EOL."""
    server = BedrockEmulatorServer(today=AFTER_EVERY_EOL).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def retired_emulator() -> Iterator[BedrockEmulatorServer]:
    """An account that still reaches retired models."""
    server = BedrockEmulatorServer(serve_retired=True, hang_seconds=0.0).start()
    yield server
    server.stop()


def client(server: BedrockEmulatorServer, region: str = "us-west-2"):
    return emulator_client(server.url, region)


def invoke(server: BedrockEmulatorServer, model_id: str, body: dict, region: str = "us-west-2"):
    response = client(server, region).invoke_model(
        modelId=model_id, body=json.dumps(body), contentType="application/json"
    )
    return json.loads(response["body"].read())


def error_of(server, model_id: str, body: object, region: str = "us-west-2", **kwargs) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body)
    with pytest.raises(ClientError) as caught:
        client(server, region).invoke_model(modelId=model_id, body=raw, **kwargs)
    return caught.value.response


def picture(encoded: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


def test_stable_image_core_answers_in_its_wire_format_with_a_labelled_image(emulator):
    answer = invoke(
        emulator,
        CORE,
        {"prompt": "a fox", "aspect_ratio": "3:2", "seed": 9, "output_format": "png"},
    )
    assert answer["seeds"] == [9] and answer["finish_reasons"] == [None]
    image = picture(answer["images"][0])
    assert image.size == (1216, 832) and "EMULATED" in image.info["Software"]


def test_seed_zero_asks_stability_models_for_a_random_seed(emulator):
    (seed,) = invoke(emulator, CORE, {"prompt": "a fox", "seed": 0})["seeds"]
    assert 1 <= seed <= 4294967295


def test_render_sizes_stay_within_the_documented_output_bounds():
    _, models = load_rules()
    for model in models.values():
        sides = model.entry.get("output_sides", {})
        for width, height in model.entry.get("render_sizes", {}).get("values", {}).values():
            assert sides.get("min", 0) <= min(width, height)
            assert max(width, height) <= sides.get("max", 1536)


@pytest.mark.parametrize(
    ("model_id", "region", "body"),
    [
        (CORE, "us-west-2", {"prompt": "a fox", "seed": 5, "output_format": "jpeg"}),
        (SD35, "us-west-2", {"prompt": "a fox", "seed": 5, "output_format": "webp"}),
        (SDXL, "us-east-1", {"text_prompts": [{"text": "a fox"}], "seed": 5}),
        (TITAN, "us-east-1", text_image(seed=5, width=512, height=512)),
        (NOVA, "us-east-1", text_image(seed=5, width=512, height=512)),
    ],
)
def test_same_prompt_seed_and_size_give_the_same_bytes(retired_emulator, model_id, region, body):
    first = invoke(retired_emulator, model_id, body, region)
    assert invoke(retired_emulator, model_id, body, region) == first
    other = json.loads(json.dumps(body).replace('"seed": 5', '"seed": 6'))
    assert invoke(retired_emulator, model_id, other, region) != first


@pytest.mark.parametrize("model_id", [TITAN, NOVA])
def test_amazon_models_draw_a_distinct_image_per_index(retired_emulator, model_id):
    body = text_image(seed=3, numberOfImages=5, width=512, height=512)
    images = invoke(retired_emulator, model_id, body, "us-east-1")["images"]
    assert len(set(images)) == 5
    assert invoke(retired_emulator, model_id, body, "us-east-1")["images"] == images
    single = text_image(seed=3, width=512, height=512)
    assert invoke(retired_emulator, model_id, single, "us-east-1")["images"] == images[:1]
    assert [picture(i).size for i in images] == [(512, 512)] * 5


@pytest.mark.parametrize(
    ("model_id", "region", "body", "message"),
    [
        ("stability.nope-v9", "us-west-2", {"prompt": "a"}, "identifier is invalid"),
        (CORE, "us-west-2", {"prompt": "a", "aspect_ratio": "7:3"}, "#/aspect_ratio: 7:3 is not a"),
        (CORE, "us-west-2", {"prompt": "a", "stream": True}, "#: extraneous key [stream] is not"),
        (CORE, "us-west-2", {"prompt": "a", "seed": -1}, "#/seed: -1 is not greater or equal to 0"),
        (CORE, "us-west-2", {"prompt": "a", "seed": "7"}, "expected type: Integer, found: String"),
        (CORE, "us-east-1", {"prompt": "a"}, "identifier is invalid"),
        (NOVA, "us-west-2", text_image(), "identifier is invalid"),
    ],
)
def test_bad_requests_get_bedrocks_validation_errors(emulator, model_id, region, body, message):
    error = error_of(emulator, model_id, body, region)["Error"]
    assert error["Code"] == "ValidationException" and message in error["Message"]


@pytest.mark.parametrize(
    ("model_id", "region", "body"),
    [
        (SDXL, "us-east-1", {"text_prompts": [{"text": "a"}]}),
        (TITAN, "us-east-1", text_image()),
        (NOVA, "us-east-1", text_image()),
    ],
)
def test_models_past_their_end_of_life_are_not_found(emulator, model_id, region, body):
    error = error_of(emulator, model_id, body, region)["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert error["Message"] == (
        "This model version has reached the end of its life. "
        "Please refer to the AWS documentation for more details."
    )


@pytest.mark.parametrize(
    ("model_id", "raw", "kwargs", "message"),
    [
        (CORE, b"not json", {}, "Malformed input request, please reformat"),
        (CORE, b"[1]", {}, "#: expected type: JSONObject, found: JSONArray"),
        (CORE, b'{"prompt": "a"}', {"contentType": "text/plain"}, "'contentType'"),
        (CORE, b'{"prompt": "a"}', {"accept": "image/png"}, "'accept'"),
        (CORE, b" " * 25_000_001, {}, "less than or equal to 25000000"),
        ("m" * 2049, b'{"prompt": "a"}', {}, "length between 1 and 2048"),
    ],
)
def test_invoke_models_own_constraints_are_enforced(emulator, model_id, raw, kwargs, message):
    error = error_of(emulator, model_id, raw, **kwargs)["Error"]
    assert error["Code"] == "ValidationException" and message in error["Message"]


def test_a_model_is_served_until_its_documented_end_of_life_date():
    on_eol, after = date(2026, 6, 30), date(2026, 7, 1)  # Titan v2's EOL date
    with_eol = BedrockEmulatorServer(today=on_eol).start()
    past_eol = BedrockEmulatorServer(today=after).start()
    try:
        assert invoke(with_eol, TITAN, text_image(width=512, height=512), "us-east-1")["images"]
        error = error_of(past_eol, TITAN, text_image(), "us-east-1")["Error"]
        assert error["Code"] == "ResourceNotFoundException"
    finally:
        with_eol.stop()
        past_eol.stop()


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-1", "ap-northeast-2"])
def test_nova_canvas_is_offered_in_its_documented_regions(retired_emulator, region):
    assert invoke(retired_emulator, NOVA, text_image(width=512, height=512), region)["images"]


@pytest.mark.parametrize(
    ("model_id", "region", "body"),
    [
        (ULTRA, "us-west-2", {"prompt": "a", "image": "x", "strength": 1}),
        (NOVA, "us-east-1", {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {}}),
        (TITAN, "us-east-1", {"taskType": "TEXT_IMAGE", "textToImageParams": CONDITIONED}),
    ],
)
def test_documented_inputs_it_cannot_imitate_are_refused_by_name(
    retired_emulator, model_id, region, body
):
    error = error_of(retired_emulator, model_id, body, region)["Error"]
    assert error["Code"] == "ValidationException"
    assert "documented but not emulated locally" in error["Message"]


@pytest.mark.parametrize(
    ("model_id", "region", "body", "answer"),
    [
        (CORE, "us-west-2", {"prompt": "forbidden fruit"}, FILTERED_PROMPT),
        (SD35, "us-west-2", {"prompt": "FORBIDDEN"}, FILTERED_PROMPT),
    ],
)
def test_stability_filters_a_banned_prompt_in_its_documented_body(
    retired_emulator, model_id, region, body, answer
):
    assert invoke(retired_emulator, model_id, body, region) == answer


@pytest.mark.parametrize(
    ("model_id", "region", "body", "message"),
    [
        (SDXL, "us-east-1", {"text_prompts": [{"text": "forbidden"}]}, "invalid_prompts"),
        (TITAN, "us-east-1", text_image("forbidden"), "blocked by our content filters"),
        (NOVA, "us-east-1", text_image("forbidden"), "blocked by our content filters"),
    ],
)
def test_other_families_refuse_a_banned_prompt(retired_emulator, model_id, region, body, message):
    error = error_of(retired_emulator, model_id, body, region)["Error"]
    assert error["Code"] == "ValidationException" and message in error["Message"]


@pytest.mark.parametrize(
    ("model_id", "region", "body"),
    [
        (CORE, "us-west-2", {"prompt": "a"}),
        (TITAN, "us-east-1", text_image(width=512, height=512)),
        (NOVA, "us-east-1", text_image(width=512, height=512)),
    ],
)
def test_content_filter_fault_is_each_familys_documented_blocked_output(
    retired_emulator, model_id, region, body
):
    retired_emulator.inject("content_filter")
    answer = invoke(retired_emulator, model_id, body, region)
    _, models = load_rules()
    assert answer == models[model_id].entry["content_filter"]["output_filtered"]
    assert "error" in answer or answer["finish_reasons"] == ["Filter reason: output image"]


def test_content_filter_fault_on_sdxl_reports_content_filtered(retired_emulator):
    retired_emulator.inject("content_filter")
    answer = invoke(retired_emulator, SDXL, {"text_prompts": [{"text": "a"}]}, "us-east-1")
    assert answer["artifacts"][0]["finishReason"] == "CONTENT_FILTERED"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("throttle", 429, "ThrottlingException"),
        ("server_error", 500, "InternalServerException"),
        ("model_error", 424, "ModelErrorException"),
        ("unavailable", 503, "ServiceUnavailableException"),
        ("access_denied", 403, "AccessDeniedException"),
        ("hang", 408, "ModelTimeoutException"),
        ("rejected", 400, "ValidationException"),
    ],
)
def test_faults_answer_as_bedrock_does(retired_emulator, fault, status, code):
    retired_emulator.inject(fault)
    response = error_of(retired_emulator, CORE, {"prompt": "a"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["Error"]["Code"] == code
    if fault == "rejected":
        assert response["Error"]["Message"].startswith("Malformed input request: ")


def test_model_error_names_the_model_it_failed(retired_emulator):
    retired_emulator.inject("model_error")
    response = error_of(retired_emulator, CORE, {"prompt": "a"})
    assert response["originalStatusCode"] == 500
    assert response["resourceName"].endswith(f"foundation-model/{CORE}")


def test_unknown_faults_are_refused(retired_emulator):
    with pytest.raises(ValueError, match="unknown faults"):
        retired_emulator.inject("gremlins")


def test_faults_and_stats_over_the_control_endpoints(retired_emulator):
    config = {"faults": ["unavailable"]}
    assert post_json(f"{retired_emulator.url}/_emulator/config", config)[0] == 200
    response = error_of(retired_emulator, CORE, {"prompt": "a"})
    assert response["Error"]["Code"] == "ServiceUnavailableException"
    status, _, raw = http("GET", f"{retired_emulator.url}/_emulator/stats")
    stats = json.loads(raw)
    assert status == 200 and stats["queued_faults"] == 0
    assert stats["calls"]["total"] == retired_emulator.calls["total"] > 0


@pytest.mark.parametrize(
    "config",
    [
        {"latency_seconds": -5},
        {"latency_seconds": "abc"},
        {"latency_seconds": True},
        {"faults": "throttle"},
        {"faults": ["no-such-fault"]},
        {"fault": ["throttle"]},
    ],
)
def test_the_control_endpoint_refuses_bad_settings(emulator, config):
    status, _, raw = http("POST", f"{emulator.url}/_emulator/config", json.dumps(config).encode())
    assert status == 400 and json.loads(raw)["message"]
    assert emulator.latency_seconds == 0.0


def test_the_control_endpoint_refuses_an_infinite_latency(emulator):
    status, _, _ = http("POST", f"{emulator.url}/_emulator/config", b'{"latency_seconds": 1e999}')
    assert status == 400
