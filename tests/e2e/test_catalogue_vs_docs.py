"""Our catalogue against AWS's documented limits, as the emulator knows them.

Every value the catalogue lets through (its edges: longest prompt, every size, largest seed, each
format and preset, cfg/steps bounds, most images) is built into a Bedrock body by the service's
real adapters and sent over HTTP: the emulator, which knows only AWS's documentation, must accept
each one. A failure here is a catalogue value AWS would refuse. Values just past the documented
limits, sent as raw bodies, must be refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devstack.bedrock_emulator import BedrockEmulatorServer
from service.adapters import for_family
from service.catalogue import ModelSpec, SizeRule, default_catalogue
from service.config import Settings
from service.flow import plan_calls
from service.validation import parse_request
from tests.conftest import emulator_client

CATALOGUE = default_catalogue()
TODAY = date(2026, 11, 26)
SETTINGS = Settings.from_env(
    {
        "IMAGEGEN_BUCKET": "b-images",
        "AWS_REGION": "us-west-2",
        "IMAGEGEN_ENABLED_RETIRED_MODELS": ",".join(m.alias for m in CATALOGUE.models),
        "IMAGEGEN_MAX_IMAGES": "10",
    },
    CATALOGUE,
)


@pytest.fixture(scope="module")
def bedrock() -> Iterator[Callable[[str], Any]]:
    """A client per Region for an account that still reaches retired models: only the documented
    limits are under test."""
    server = BedrockEmulatorServer(serve_retired=True, constant_images=True).start()
    clients: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in clients:
            clients[region] = emulator_client(server.url, region)
        return clients[region]

    yield client
    for each in clients.values():
        each.close()
    server.stop()


def range_corners(rule: SizeRule) -> list[tuple[int, int]]:
    """The extreme sizes a range rule allows: smallest and largest square, widest and tallest,
    and the most extreme ratios at the smallest side."""
    step = rule.multiple_of
    sides = range(-(-rule.min_side // step) * step, rule.max_side + 1, step)

    def allowed(w: int, h: int) -> bool:
        return w * h <= rule.max_pixels and rule.min_ratio <= w / h <= rule.max_ratio

    smallest, square = sides[0], max(s for s in sides if allowed(s, s))
    widest = max((w, -h) for w in sides for h in sides if allowed(w, h))
    tall_at_min = max(h for h in sides if allowed(smallest, h))
    corners = [(smallest, smallest), (square, square), (widest[0], -widest[1])]
    corners += [(-widest[1], widest[0]), (smallest, tall_at_min), (tall_at_min, smallest)]
    return corners


def edge_bodies(model: ModelSpec) -> Iterator[tuple[str, dict]]:
    """``POST /images`` bodies at every edge of the model's catalogue limits."""
    limits, base = model.limits, {"model": model.alias, "prompt": "a lighthouse", "seed": 1}
    yield (
        "longest prompts",
        {
            **base,
            "prompt": "p" * limits.prompt_max_length,
            "negative_prompt": "n" * limits.negative_prompt_max_length,
        },
    )
    rule = limits.size
    if rule.mode == "aspect_ratio":
        sizes = [{"aspect_ratio": ratio} for ratio in rule.aspect_ratios]
    else:
        pairs = rule.sizes if rule.mode == "fixed" else range_corners(rule)
        sizes = [{"width": w, "height": h} for w, h in pairs]
    for size in sizes:
        yield f"size {size}", {**base, **size}
    for seed in (0, limits.seed_max):
        yield f"seed {seed}", {**base, "seed": seed}
    for fmt in limits.output_formats:
        yield f"format {fmt}", {**base, "output_format": fmt}
    for preset in limits.style_presets:
        yield f"style {preset}", {**base, "style_preset": preset}
    for name, bounds in (("cfg_scale", limits.cfg_scale), ("steps", limits.steps)):
        if bounds is not None:
            for value in (bounds.min, bounds.max):
                yield f"{name} {value}", {**base, name: value}
    yield "most images", {**base, "number_of_images": limits.max_images, "seed": 7}


def bedrock_bodies(model: ModelSpec) -> Iterator[tuple[str, dict]]:
    """The Bedrock bodies the service's adapters send for each edge request."""
    adapter = for_family(model.family)
    for name, body in edge_bodies(model):
        request = parse_request(body, SETTINGS, CATALOGUE, TODAY)
        for count, seed in plan_calls(request):
            yield name, adapter.request_body(request, count, seed)
    if model.family == "amazon-image":  # one call may ask for several images
        request = parse_request(
            {"model": model.alias, "prompt": "a", "seed": 1}, SETTINGS, CATALOGUE, TODAY
        )
        yield "most images in one call", adapter.request_body(request, model.limits.max_images, 1)


@pytest.mark.parametrize(
    ("model", "region"),
    [
        pytest.param(model, region, id=f"{model.alias}@{region}")
        for model in CATALOGUE.models
        for region in model.regions
    ],
)
def test_every_catalogue_edge_is_accepted_by_the_documented_rules(bedrock, model, region):
    refused = []
    for name, body in bedrock_bodies(model):
        try:
            answer = bedrock(region).invoke_model(modelId=model.id, body=json.dumps(body))
            json.loads(answer["body"].read())
        except ClientError as exc:
            refused.append(f"{name}: {exc.response['Error']['Message'][:300]}")
    assert not refused, f"{model.alias} in {region}: AWS's documented rules refuse {refused}"


CORE, SD35 = "stability.stable-image-core-v1:1", "stability.sd3-5-large-v1:0"
SDXL, TITAN, NOVA = (
    "stability.stable-diffusion-xl-v1",
    "amazon.titan-image-generator-v2:0",
    "amazon.nova-canvas-v1:0",
)
SDXL_OK = {"text_prompts": [{"text": "a"}]}


def text_image(text: str = "a", **config: object) -> dict:
    """A Titan / Nova TEXT_IMAGE body."""
    params = {"text": text}
    return {"taskType": "TEXT_IMAGE", "textToImageParams": params, "imageGenerationConfig": config}


@pytest.mark.parametrize(
    ("model_id", "region", "body", "expected"),
    [
        (CORE, "us-west-2", {"prompt": "p" * 10_001}, "expected maxLength: 10000, actual: 10001"),
        (CORE, "us-west-2", {"prompt": "a", "negative_prompt": "n" * 10_001}, "maxLength: 10000"),
        (CORE, "us-west-2", {"prompt": "a", "aspect_ratio": "4:3"}, "4:3 is not a valid enum"),
        (CORE, "us-west-2", {"prompt": "a", "seed": 4294967296}, "is not less or equal to"),
        (CORE, "us-west-2", {"prompt": "a", "seed": -1}, "is not greater or equal to 0"),
        (CORE, "us-west-2", {"prompt": "a", "output_format": "webp"}, "webp is not a valid enum"),
        (CORE, "us-west-2", {"prompt": "a", "style_preset": "anime"}, "key [style_preset]"),
        (CORE, "us-west-2", {"aspect_ratio": "1:1"}, "required key [prompt] not found"),
        (SD35, "us-west-2", {"prompt": "a", "seed": 4294967295}, "not less or equal to 4294967294"),
        (SDXL, "us-east-1", {**SDXL_OK, "steps": 151}, "151 is not less or equal to 150"),
        (SDXL, "us-east-1", {**SDXL_OK, "steps": 9}, "9 is not greater or equal to 10"),
        (SDXL, "us-east-1", {**SDXL_OK, "cfg_scale": 35.5}, "35.5 is not less or equal to 35"),
        (SDXL, "us-east-1", {**SDXL_OK, "samples": 2}, "2 is not less or equal to 1"),
        (SDXL, "us-east-1", {**SDXL_OK, "width": 1024, "height": 1088}, "1024x1088"),
        (SDXL, "us-east-1", {"text_prompts": [{"text": "p" * 2001}]}, "maxLength: 2000"),
        (SDXL, "us-east-1", {**SDXL_OK, "style_preset": "watercolor"}, "not a valid enum"),
        (TITAN, "us-east-1", text_image(numberOfImages=6), "6 is not less or equal to 5"),
        (TITAN, "us-east-1", text_image(cfgScale=1.0), "1.0 is not greater or equal to 1.1"),
        (TITAN, "us-east-1", text_image(seed=2147483647), "not less or equal to 2147483646"),
        (TITAN, "us-east-1", text_image(width=1408, height=1408), "1408x1408"),
        (NOVA, "us-east-1", text_image(width=4096, height=1024), "less than 4194304"),
        (NOVA, "us-east-1", text_image(width=320, height=1296), "aspect ratio"),
        (NOVA, "us-east-1", text_image(width=1000, height=1024), "divisible by 16"),
        (NOVA, "us-east-1", text_image(width=304, height=320), "320-4096"),
        (NOVA, "us-east-1", text_image(cfgScale=10.5), "10.5 is not less or equal to 10"),
        (NOVA, "us-east-1", text_image(numberOfImages=0), "0 is not greater or equal to 1"),
        (
            TITAN,
            "us-west-2",
            text_image("p" * 513),
            "#/textToImageParams/text: expected maxLength: 512",
        ),
        (NOVA, "us-east-1", text_image("p" * 1025), "expected maxLength: 1024, actual: 1025"),
        (NOVA, "us-east-1", text_image(""), "expected minLength: 1, actual: 0"),
        (NOVA, "us-west-2", text_image(), "The provided model identifier is invalid."),
        (SD35, "us-east-1", {"prompt": "a"}, "The provided model identifier is invalid."),
    ],
)
def test_values_past_the_documented_limits_are_refused(bedrock, model_id, region, body, expected):
    with pytest.raises(ClientError) as caught:
        bedrock(region).invoke_model(modelId=model_id, body=json.dumps(body))
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert expected in error["Message"]
