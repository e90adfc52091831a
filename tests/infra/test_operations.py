"""Editing operations: what each stack lets the Lambda invoke, and ``allowedOperations``.

The expected grants are derived from the service's own choice of invocation target
(``OperationSpec.invoke_id``), not from infra's, so the two cannot drift apart unnoticed.
"""

import json

import pulumi
import pytest

from service.catalogue import default_catalogue
from service.config import Settings
from tests.infra.conftest import ACCOUNT, StackRun, run_program, stack_config

US = ("us-east-1", "us-east-2", "us-west-2")
CATALOGUE = default_catalogue()
# IAM's quota for all inline policies of a role, in characters without whitespace.
ROLE_POLICY_QUOTA = 10_240


def grants(run: StackRun) -> set[str]:
    by_sid = {s["Sid"]: s for s in run.policy["Statement"]}
    return set(by_sid["InvokeConfiguredModels"]["Resource"])


def allowed_operations(run: StackRun) -> list[str]:
    variables = run.function.inputs["environment"]["variables"]
    return variables["IMAGEGEN_ALLOWED_OPERATIONS"].split(",")


def expected_arns(operation: str, region: str) -> set[str]:
    """What AWS requires for the service's target: a profile's ARN plus its model in every
    destination region, or the model in-Region."""
    spec = CATALOGUE.operation(operation)
    target = spec.invoke_id(region)
    if target == spec.id:
        return {f"arn:aws:bedrock:{region}::foundation-model/{spec.id}"}
    return {
        f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{target}",
        *(
            f"arn:aws:bedrock:{r}::foundation-model/{spec.id}"
            for r in spec.inference_profiles[target]
        ),
    }


def config(region: str = "us-west-2", **settings: object) -> dict[str, str]:
    """dev's settings in ``region``; outside us-west-2 with SDXL, the one generation model the
    catalogue offers in us-east-1 (retired: an account with private access)."""
    values: dict[str, object] = {"aws:region": region}
    if region != "us-west-2":
        values |= {
            "imagegen:defaultModel": "sdxl",
            "imagegen:allowedModels": ["sdxl"],
            "imagegen:enabledRetiredModels": ["sdxl"],
        }
    values |= {f"imagegen:{key}": value for key, value in settings.items()}
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    return {**stack_config("dev"), **encoded}


@pytest.fixture(scope="module")
def east() -> StackRun:
    return run_program("dev", config("us-east-1", allowedOperations=["upscale-fast"]))


def test_a_stability_service_gets_its_profile_and_its_model_in_every_destination(east):
    profile = "us.stability.stable-fast-upscale-v1:0"
    model = "stability.stable-fast-upscale-v1:0"
    assert grants(east) == {
        "arn:aws:bedrock:us-east-1::foundation-model/stability.stable-diffusion-xl-v1",
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{profile}",
        *(f"arn:aws:bedrock:{region}::foundation-model/{model}" for region in US),
    }


def test_image_to_image_in_us_west_2_gets_the_model_in_region_only():
    run = run_program(
        "dev", config(allowedModels=["stable-image-core"], allowedOperations=["image-to-image"])
    )
    assert grants(run) == {
        "arn:aws:bedrock:us-west-2::foundation-model/stability.stable-image-core-v1:1",
        "arn:aws:bedrock:us-west-2::foundation-model/stability.sd3-5-large-v1:0",
    }


def test_the_grant_is_the_models_and_the_services_target_for_each_operation(run):
    variables = run.function.inputs["environment"]["variables"]
    models = {
        f"arn:aws:bedrock:{run.region}::foundation-model/{CATALOGUE.find(name).id}"
        for name in variables["IMAGEGEN_ALLOWED_MODELS"].split(",")
    }
    operations = [expected_arns(op, run.region) for op in allowed_operations(run)]
    assert grants(run) == models.union(*operations)


def test_the_service_accepts_the_environment_the_stack_gives_it(run):
    variables = run.function.inputs["environment"]["variables"]
    settings = Settings.from_env({**variables, "AWS_REGION": run.region}, CATALOGUE)
    assert settings.allowed_operations == tuple(allowed_operations(run))
    assert (settings.key_prefix, settings.upload_prefix) == ("images/", "uploads/")


def test_an_operation_the_stack_leaves_out_is_granted_nothing(dev, prod):
    assert "upscale-creative" in allowed_operations(dev)
    assert "upscale-creative" not in allowed_operations(prod)
    assert [arn for arn in grants(prod) if "stable-creative-upscale" in arn] == []


def test_by_default_every_operation_the_region_offers_is_allowed(dev):
    every = [op.operation for op in CATALOGUE.operations]
    assert allowed_operations(dev) == every
    east = run_program("dev", config("us-east-1"))
    assert allowed_operations(east) == [op for op in every if op != "image-to-image"]
    assert not [arn for arn in grants(east) if "sd3-5-large" in arn]


def test_an_unknown_operation_fails_preview_naming_it():
    with pytest.raises(Exception, match="unknown operation 'upscale-magic'"):
        run_program("dev", config(allowedOperations=["upscale-fast", "upscale-magic"]))


def test_an_operation_not_offered_in_the_region_deploys_with_a_warning(monkeypatch):
    """Like a model not offered there: Bedrock's own refusal (503) beats AccessDenied."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    run = run_program("dev", config("us-east-1", allowedOperations=["image-to-image"]))
    assert warnings == [
        "imagegen: operation image-to-image is not offered in us-east-1 per the catalogue;"
        " requests for it will answer 503"
    ]
    assert allowed_operations(run) == ["image-to-image"]
    assert "arn:aws:bedrock:us-east-1::foundation-model/stability.sd3-5-large-v1:0" in grants(run)


def test_a_region_without_operations_turns_editing_off_and_grants_none(monkeypatch):
    """An empty list would mean "every operation" to the service: the stack says "none"."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    only_canvas = {
        "defaultModel": "nova-canvas",
        "allowedModels": ["nova-canvas"],
        "enabledRetiredModels": ["nova-canvas"],
    }
    run = run_program("dev", config("eu-west-1", **only_canvas))
    assert warnings == [] and allowed_operations(run) == ["none"]
    assert grants(run) == {"arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-canvas-v1:0"}
    variables = run.function.inputs["environment"]["variables"]
    settings = Settings.from_env({**variables, "AWS_REGION": run.region}, CATALOGUE)
    assert settings.allowed_operations == ()


def test_none_turns_editing_off_and_stands_alone():
    run = run_program("dev", config(allowedOperations=["none"]))
    assert allowed_operations(run) == ["none"]
    assert not [arn for arn in grants(run) if "inference-profile" in arn]
    resources = [r for s in run.policy["Statement"] for r in s.get("Resource", [])]
    assert not [r for r in resources if "/uploads/" in r]  # no editing, no uploads
    with pytest.raises(Exception, match="'none' turns editing off and cannot be listed"):
        run_program("dev", config(allowedOperations=["none", "erase"]))


def test_the_role_policy_fits_iams_quota_with_room_to_grow(dev):
    """Every operation in three regions is the largest grant; a role's inline policies may hold
    10,240 characters, whitespace not counted."""
    policy = dev.named("imagegen-dev-function-policy").inputs["policy"]
    size = len("".join(policy.split()))
    assert size < ROLE_POLICY_QUOTA * 0.75, size
