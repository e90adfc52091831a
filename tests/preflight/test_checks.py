"""Each check against botocore's Stubber: AWS's documented answers, good and bad."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from preflight import checks
from preflight.checks import Status
from preflight.sample import PROMPT, SEED, service_settings
from preflight.stack import StackSettings
from service.catalogue import default_catalogue

CATALOGUE = default_catalogue()
CORE = CATALOGUE.find("stable-image-core")
UPSCALE = CATALOGUE.operation("upscale-fast")
PROFILE = "us.stability.stable-fast-upscale-v1:0"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Deploy_1"
TODAY = date(2026, 11, 25)


def stack(
    reserved: int = -1,
    allowed: tuple[str, ...] = ("stable-image-core",),
    owner: bool = False,
    operations: tuple[str, ...] = (),
) -> StackSettings:
    return StackSettings(
        name="prod",
        file="Pulumi.prod.yaml",
        region="us-west-2",
        default_model="stable-image-core",
        allowed_models=allowed,
        enabled_retired_models=(),
        allowed_operations=operations,
        reserved_concurrency=reserved,
        manages_api_gateway_account=owner,
    )


@pytest.fixture
def stubbed() -> Iterator[Any]:
    """``stubbed(service)`` -> (client, stubber); every stubbed answer must be used."""
    stubbers: list[Stubber] = []

    def make(service: str) -> tuple[Any, Stubber]:
        client = boto3.client(
            service,
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stubber = Stubber(client)
        stubber.activate()
        stubbers.append(stubber)
        return client, stubber

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


# ---- credentials --------------------------------------------------------------------------


def test_credentials_report_account_and_arn(stubbed) -> None:
    sts, stub = stubbed("sts")
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/alice"
    stub.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": arn, "UserId": "AID:a"})
    result, caller = checks.credentials(sts)
    assert (result.status, caller) == (Status.OK, arn)
    assert ACCOUNT in result.message and arn in result.message


def test_expired_credentials_fail_with_the_refresh_command(stubbed) -> None:
    sts, stub = stubbed("sts")
    stub.add_client_error("get_caller_identity", "ExpiredToken", "The security token expired")
    result, caller = checks.credentials(sts)
    assert (result.status, caller) == (Status.FAIL, None)
    assert "ExpiredToken" in result.message and "aws sso login" in result.message


def test_no_credentials_is_one_line_not_a_traceback(monkeypatch, tmp_path) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sts = boto3.session.Session(region_name="us-west-2").client("sts")
    result, caller = checks.credentials(sts)
    assert (result.status, caller) == (Status.FAIL, None)
    assert "no AWS credentials found" in result.message and "\n" not in result.message


# ---- region offers the model ---------------------------------------------------------------


def model_details(status: str, **lifecycle: object) -> dict:
    return {
        "modelDetails": {
            "modelArn": f"arn:aws:bedrock:us-west-2::foundation-model/{CORE.id}",
            "modelId": CORE.id,
            "modelLifecycle": {"status": status, **lifecycle},
        }
    }


def test_model_offered_and_active(stubbed) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_response("get_foundation_model", model_details("ACTIVE"), {"modelIdentifier": CORE.id})
    result = checks.model_offered(bedrock, CORE, "us-west-2", "Pulumi.prod.yaml")
    assert result.status == Status.OK and "ACTIVE in us-west-2" in result.message


def test_legacy_model_warns_with_its_end_of_life(stubbed) -> None:
    bedrock, stub = stubbed("bedrock")
    eol = datetime(2027, 3, 1, tzinfo=UTC)
    stub.add_response("get_foundation_model", model_details("LEGACY", endOfLifeTime=eol))
    result = checks.model_offered(bedrock, CORE, "us-west-2", "Pulumi.prod.yaml")
    assert result.status == Status.WARN and "LEGACY" in result.message
    assert "2027-03-01" in result.message


def test_model_not_offered_in_region_fails_with_the_fix(stubbed) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_client_error(
        "get_foundation_model", "ResourceNotFoundException", "Model not found", 404
    )
    result = checks.model_offered(bedrock, CORE, "eu-central-1", "Pulumi.prod.yaml")
    assert result.status == Status.FAIL and result.subject == "stable-image-core"
    assert "not offered in eu-central-1" in result.message
    assert "us-west-2" in result.message and "Pulumi.prod.yaml" in result.message


def test_denied_control_plane_call_is_could_not_check(stubbed) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_client_error("get_foundation_model", "AccessDeniedException", "not authorized", 403)
    result = checks.model_offered(bedrock, CORE, "us-west-2", "Pulumi.prod.yaml")
    assert result.status == Status.WARN and result.message.startswith("could not check")
    assert "needs bedrock:GetFoundationModel" in result.message


# ---- model access and agreement ------------------------------------------------------------


def availability(
    agreement: str = "AVAILABLE",
    authorization: str = "AUTHORIZED",
    entitlement: str = "AVAILABLE",
    region: str = "AVAILABLE",
    error: str | None = None,
) -> dict:
    answer: dict = {
        "modelId": CORE.id,
        "agreementAvailability": {"status": agreement},
        "authorizationStatus": authorization,
        "entitlementAvailability": entitlement,
        "regionAvailability": region,
    }
    if error:
        answer["agreementAvailability"]["errorMessage"] = error
    return answer


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (availability(), Status.OK, "agreement AVAILABLE"),
        (
            availability(agreement="NOT_AVAILABLE", entitlement="NOT_AVAILABLE"),
            Status.WARN,
            "the invocation below starts the AWS Marketplace subscription",
        ),
        (availability(agreement="PENDING"), Status.WARN, "re-run in 15 minutes"),
        (
            availability(agreement="ERROR", error="payment instrument declined"),
            Status.FAIL,
            "payment instrument declined",
        ),
        (availability(authorization="NOT_AUTHORIZED"), Status.FAIL, "bedrock:InvokeModel"),
        (availability(region="NOT_AVAILABLE"), Status.FAIL, "not available in us-west-2"),
    ],
    ids=["granted", "not-subscribed", "pending", "agreement-error", "denied", "not-in-region"],
)
def test_model_access(stubbed, answer: dict, status: Status, says: str) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_response("get_foundation_model_availability", answer, {"modelId": CORE.id})
    result = checks.model_access(bedrock, CORE, "us-west-2")
    assert result.status == status and says in result.message


# ---- an operation's inference profile routes where the role may invoke ----------------------


def profile(*regions: str, status: str = "ACTIVE") -> dict:
    """GetInferenceProfile's answer for the upscaler's US profile, routing to ``regions``."""
    return {
        "inferenceProfileName": "US Stable Fast Upscale",
        "inferenceProfileArn": f"arn:aws:bedrock:us-west-2:{ACCOUNT}:inference-profile/{PROFILE}",
        "inferenceProfileId": PROFILE,
        "models": [
            {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{UPSCALE.id}"}
            for region in regions
        ],
        "status": status,
        "type": "SYSTEM_DEFINED",
    }


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (
            profile("us-east-1", "us-east-2", "us-west-2"),
            Status.OK,
            "routes to us-east-1, us-east-2, us-west-2, each granted to the Lambda's role",
        ),
        (profile("us-east-1", "us-west-2"), Status.OK, "routes to us-east-1, us-west-2"),
        (
            profile("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
            Status.FAIL,
            "now also routes to us-west-1, where the Lambda's role may not invoke",
        ),
        (profile("us-west-2", status="LEGACY"), Status.WARN, "is LEGACY in us-west-2"),
    ],
    ids=["as-granted", "fewer-regions", "new-region", "not-active"],
)
def test_profile_routes_only_where_the_role_may_invoke(stubbed, answer, status, says) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_response("get_inference_profile", answer, {"inferenceProfileIdentifier": PROFILE})
    result = checks.profile_routes(bedrock, UPSCALE, "us-west-2", "Pulumi.prod.yaml")
    assert (result.status, result.subject) == (status, "upscale-fast")
    assert says in result.message


def test_a_profile_missing_from_the_region_fails_with_the_fix(stubbed) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_client_error("get_inference_profile", "ResourceNotFoundException", "not found")
    result = checks.profile_routes(bedrock, UPSCALE, "us-west-2", "Pulumi.prod.yaml")
    assert result.status == Status.FAIL
    assert "drop upscale-fast from imagegen:allowedOperations in Pulumi.prod.yaml" in result.message


def test_a_denied_profile_lookup_is_could_not_check(stubbed) -> None:
    bedrock, stub = stubbed("bedrock")
    stub.add_client_error("get_inference_profile", "AccessDeniedException", "no")
    result = checks.profile_routes(bedrock, UPSCALE, "us-west-2", "Pulumi.prod.yaml")
    assert result.status == Status.WARN
    assert "could not check" in result.message and "bedrock:GetInferenceProfile" in result.message


# ---- the deployer may subscribe -------------------------------------------------------------


def evaluation(action: str, decision: str, missing: tuple[str, ...] = ()) -> dict:
    result: dict = {"EvalActionName": action, "EvalDecision": decision}
    if missing:
        result["MissingContextValues"] = list(missing)
    return result


def simulate(stub: Stubber, source: str, decisions: dict[str, str], **extra) -> None:
    answer = {
        "EvaluationResults": [
            evaluation(action, decisions.get(action, "allowed"), **extra)
            for action in checks.MARKETPLACE_ACTIONS
        ],
        "IsTruncated": False,
    }
    expected = {"PolicySourceArn": source, "ActionNames": list(checks.MARKETPLACE_ACTIONS)}
    stub.add_response("simulate_principal_policy", answer, expected)


def add_role(stub: Stubber) -> None:
    """GetRole answers the role's real ARN, path included (SSO roles live under a path)."""
    role = {
        "Path": "/aws-reserved/sso.amazonaws.com/",
        "RoleName": "AWSReservedSSO_Deploy_1",
        "RoleId": "AROAEXAMPLEEXAMPLE1",
        "Arn": ROLE_ARN,
        "CreateDate": datetime(2026, 1, 1, tzinfo=UTC),
        "AssumeRolePolicyDocument": "{}",
    }
    stub.add_response("get_role", {"Role": role}, {"RoleName": "AWSReservedSSO_Deploy_1"})


SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Deploy_1/alice"


def test_assumed_role_allowed_to_subscribe(stubbed) -> None:
    iam, stub = stubbed("iam")
    add_role(stub)
    simulate(stub, ROLE_ARN, {})
    result = checks.marketplace_permissions(iam, SESSION)
    assert result.status == Status.OK and ROLE_ARN in result.message


def test_simulation_denying_subscribe_fails_naming_the_actions(stubbed) -> None:
    iam, stub = stubbed("iam")
    user = f"arn:aws:iam::{ACCOUNT}:user/ci/deployer"
    simulate(stub, user, {"aws-marketplace:Subscribe": "implicitDeny"})
    result = checks.marketplace_permissions(iam, user)
    assert result.status == Status.FAIL
    assert "aws-marketplace:Subscribe (implicitDeny)" in result.message
    assert all(action in result.message for action in checks.MARKETPLACE_ACTIONS)


def test_conditions_the_simulation_cannot_supply_only_warn(stubbed) -> None:
    iam, stub = stubbed("iam")
    user = f"arn:aws:iam::{ACCOUNT}:user/deployer"
    simulate(
        stub,
        user,
        {"aws-marketplace:Subscribe": "implicitDeny"},
        missing=("aws-marketplace:ProductId",),
    )
    result = checks.marketplace_permissions(iam, user)
    assert result.status == Status.WARN and "aws-marketplace:ProductId" in result.message


def test_simulation_not_permitted_is_could_not_check(stubbed) -> None:
    iam, stub = stubbed("iam")
    add_role(stub)
    stub.add_client_error("simulate_principal_policy", "AccessDenied", "not authorized", 403)
    result = checks.marketplace_permissions(iam, SESSION)
    assert result.status == Status.WARN and "iam:SimulatePrincipalPolicy" in result.message


@pytest.mark.parametrize(
    ("arn", "status"),
    [
        (f"arn:aws:iam::{ACCOUNT}:root", Status.OK),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", Status.SKIP),
    ],
)
def test_principals_iam_cannot_simulate(stubbed, arn: str, status: Status) -> None:
    iam, _ = stubbed("iam")  # no call expected
    assert checks.marketplace_permissions(iam, arn).status == status


# ---- reserved concurrency ------------------------------------------------------------------


def account(stub: Stubber, total: int, unreserved: int, current: int | None = None) -> None:
    limits = {
        "ConcurrentExecutions": total,
        "UnreservedConcurrentExecutions": unreserved,
        "TotalCodeSize": 80530636800,
        "CodeSizeUnzipped": 262144000,
        "CodeSizeZipped": 52428800,
    }
    stub.add_response("get_account_settings", {"AccountLimit": limits})
    if current is None:
        stub.add_client_error(
            "get_function_concurrency", "ResourceNotFoundException", "Function not found", 404
        )
    else:
        stub.add_response(
            "get_function_concurrency",
            {"ReservedConcurrentExecutions": current},
            {"FunctionName": "imagegen-prod"},
        )


def test_unreserved_stack_needs_no_call(stubbed) -> None:
    lambda_client, _ = stubbed("lambda")
    result = checks.reserved_concurrency(lambda_client, stack(-1), "imagegen-prod")
    assert result.status == Status.OK


def test_reservation_fits_a_default_account(stubbed) -> None:
    lambda_client, stub = stubbed("lambda")
    account(stub, total=1000, unreserved=1000)
    result = checks.reserved_concurrency(lambda_client, stack(20), "imagegen-prod")
    assert result.status == Status.OK and "980 of 1000" in result.message


def test_new_account_without_room_fails_with_both_fixes(stubbed) -> None:
    lambda_client, stub = stubbed("lambda")
    account(stub, total=10, unreserved=10)
    result = checks.reserved_concurrency(lambda_client, stack(20), "imagegen-prod")
    assert result.status == Status.FAIL
    assert "--quota-code L-B99A9384 --desired-value 120" in result.message
    assert "imagegen:reservedConcurrency: -1 in Pulumi.prod.yaml" in result.message


def test_redeploy_counts_the_functions_own_reservation(stubbed) -> None:
    """Deployed, the function's 20 are already out of the unreserved pool: 100 left is enough."""
    lambda_client, stub = stubbed("lambda")
    account(stub, total=120, unreserved=100, current=20)
    result = checks.reserved_concurrency(lambda_client, stack(20), "imagegen-prod")
    assert result.status == Status.OK


def test_account_settings_not_permitted_is_could_not_check(stubbed) -> None:
    lambda_client, stub = stubbed("lambda")
    stub.add_client_error("get_account_settings", "AccessDeniedException", "denied", 403)
    result = checks.reserved_concurrency(lambda_client, stack(20), "imagegen-prod")
    assert result.status == Status.WARN and "lambda:GetAccountSettings" in result.message


# ---- the first invocation ------------------------------------------------------------------


def image_answer() -> dict:
    image = base64.b64encode(b"\x89PNG\r\n\x1a\nstand-in").decode()
    raw = json.dumps({"images": [image], "seeds": [SEED], "finish_reasons": [None]}).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def invoke(stubbed, answer: dict | None = None, error: tuple[str, str, int] | None = None):
    runtime, stub = stubbed("bedrock-runtime")
    expected = {
        "modelId": CORE.id,
        "body": ANY,
        "contentType": "application/json",
        "accept": "application/json",
    }
    if error:
        stub.add_client_error(
            "invoke_model", error[0], error[1], error[2], expected_params=expected
        )
    else:
        stub.add_response("invoke_model", answer or image_answer(), expected)
    settings = service_settings(stack(), CATALOGUE)
    return checks.invocation(runtime, "stable-image-core", settings, CATALOGUE, TODAY)


def test_invocation_sends_the_service_body_and_reads_the_image(stubbed) -> None:
    runtime, stub = stubbed("bedrock-runtime")
    body = {"prompt": PROMPT, "aspect_ratio": "1:1", "seed": SEED, "output_format": "png"}
    stub.add_response(
        "invoke_model",
        image_answer(),
        {
            "modelId": CORE.id,
            "body": json.dumps(body),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )
    settings = service_settings(stack(), CATALOGUE)
    result = checks.invocation(runtime, "stable-image-core", settings, CATALOGUE, TODAY)
    assert result.status == Status.OK and "returned an image" in result.message


MARKETPLACE_DENIED = (
    "Model access is denied due to IAM user or service role is not authorized to perform the"
    " required AWS Marketplace actions (aws-marketplace:ViewSubscriptions,"
    " aws-marketplace:Subscribe) to enable access to this model."
)


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (("AccessDeniedException", MARKETPLACE_DENIED, 403), Status.FAIL, "payment method"),
        (
            ("ValidationException", "The provided model identifier is invalid.", 400),
            Status.FAIL,
            "not offered in us-west-2",
        ),
        (("ValidationException", "Malformed input request", 400), Status.FAIL, "report it"),
        (("ResourceNotFoundException", "Model not found", 404), Status.FAIL, "end of life"),
        (("ThrottlingException", "Too many requests", 429), Status.WARN, "re-run in a minute"),
    ],
    ids=["access-denied", "not-in-region", "body-refused", "gone", "throttled"],
)
def test_invocation_failures_say_what_to_do(stubbed, error, status: Status, says: str) -> None:
    result = invoke(stubbed, error=error)
    assert result.status == status and says in result.message
    assert error[0] in result.message


def test_filtered_answer_is_reported_not_raised(stubbed) -> None:
    raw = json.dumps({"images": [], "finish_reasons": ["Filter reason: prompt"]}).encode()
    answer = {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}
    result = invoke(stubbed, answer=answer)
    assert result.status == Status.FAIL and "content filter" in result.message


def test_a_model_the_service_refuses_is_not_invoked(stubbed) -> None:
    runtime, _ = stubbed("bedrock-runtime")  # no call expected
    settings = service_settings(stack(), CATALOGUE)
    result = checks.invocation(runtime, "sd3.5-large", settings, CATALOGUE, TODAY)
    assert result.status == Status.FAIL and "not available here" in result.message


def test_stack_settings_use_the_services_validation() -> None:
    result, settings = checks.stack_settings(stack(allowed=("stable-image-ultra",)), CATALOGUE)
    assert settings is None and result.status == Status.FAIL
    assert "IMAGEGEN_DEFAULT_MODEL=stable-image-core is not in" in result.message


def test_stack_settings_refuse_an_unknown_operation_as_the_lambda_would() -> None:
    result, settings = checks.stack_settings(stack(operations=("upscale-magic",)), CATALOGUE)
    assert settings is None and result.status == Status.FAIL
    assert "unknown operation 'upscale-magic'" in result.message
    assert "allowedOperations in Pulumi.prod.yaml" in result.message


@pytest.mark.parametrize(
    ("answer", "owner", "status", "says"),
    [
        ({"cloudwatchRoleArn": ROLE_ARN}, False, Status.OK, "logs to CloudWatch with"),
        ({}, True, Status.OK, "sets it (owner stack)"),
        ({}, False, Status.FAIL, "would fail the deploy"),
    ],
)
def test_api_gateway_needs_its_cloudwatch_role_before_the_stage(
    stubbed, answer, owner, status, says
):
    client, stub = stubbed("apigateway")
    stub.add_response("get_account", answer)
    result = checks.api_gateway_logging(client, stack(owner=owner))
    assert result.status is status and says in result.message
