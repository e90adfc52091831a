"""One function per pre-deploy check; each answers a ``Result`` whose message says what to do.

Checks take boto3 clients, not sessions, so tests drive them with botocore's ``Stubber``. None
raises for an AWS answer: an answer a check cannot interpret (a missing permission, an endpoint
without the API) becomes a "could not check" warning, because the real invocation still follows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError

from preflight.sample import SEED, request_for, service_settings
from preflight.stack import StackSettings
from service.adapters import for_family
from service.catalogue import Catalogue, ModelSpec, OperationSpec
from service.config import ConfigError, Settings
from service.errors import ImageGenError

# What the first call to a third-party model needs (Bedrock user guide, "Request access").
MARKETPLACE_ACTIONS = (
    "aws-marketplace:Subscribe",
    "aws-marketplace:Unsubscribe",
    "aws-marketplace:ViewSubscriptions",
)
MIN_UNRESERVED = 100  # Lambda keeps this much concurrency for functions without a reservation
CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas code of Lambda "Concurrent executions"
# What a client call raises for an answer it got or could not get (a parser error is not a
# BotoCoreError: an endpoint without the API may answer with an HTML page).
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
_DENIED = {"AccessDenied", "AccessDeniedException"}
_THROTTLED = {
    "ThrottlingException",
    "ServiceQuotaExceededException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
}


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    message: str
    subject: str = ""  # the model, for checks that run once per model


def _one_line(text: str, limit: int = 120) -> str:
    """AWS messages (and an emulator's HTML error pages) as one short line."""
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return error.get("Code", ""), _one_line(error.get("Message", ""))


def could_not_check(check: str, exc: Exception, subject: str = "", needs: str = "") -> Result:
    """An answer the check cannot interpret: say what AWS said, and which permission would let
    the check run when that was the problem."""
    if isinstance(exc, ClientError):
        code, message = _error(exc)
        reason = f"{code}: {message}" if message else code
    else:
        code, reason = "", _one_line(str(exc))
    hint = f"; needs {needs}" if needs and code in _DENIED else ""
    return Result(check, Status.WARN, f"could not check ({reason}){hint}", subject)


def stack_settings(stack: StackSettings, catalogue: Catalogue) -> tuple[Result, Settings | None]:
    """The stack's model settings, validated by the service exactly as the Lambda will."""
    try:
        settings = service_settings(stack, catalogue)
    except ConfigError as exc:
        keys = "imagegen:defaultModel / allowedModels / enabledRetiredModels / allowedOperations"
        text = f"{exc}: fix {keys} in {stack.file}"
        return Result("settings", Status.FAIL, text), None
    models = ", ".join(stack.allowed_models)
    operations = ", ".join(stack.allowed_operations) or "every one offered here"
    message = (
        f"{stack.file}: {stack.region}, default {stack.default_model}, allowed {models};"
        f" operations {operations}"
    )
    return Result("settings", Status.OK, message), settings


def credentials_unusable(exc: BotoCoreError | ResponseParserError) -> Result:
    """No usable credentials: one line, never a traceback."""
    if isinstance(exc, NoCredentialsError):
        message = (
            "no AWS credentials found: run `aws configure` (or `aws sso login --profile NAME`"
            " and `export AWS_PROFILE=NAME`), then re-run"
        )
    else:
        message = (
            f"cannot use your AWS credentials ({_one_line(str(exc))}): check `aws configure list`"
        )
    return Result("credentials", Status.FAIL, message)


def credentials(sts: Any) -> tuple[Result, str | None]:
    """Who the checks run as (STS GetCallerIdentity); the ARN feeds the permission check."""
    try:
        identity = sts.get_caller_identity()
    except ClientError as exc:
        code, message = _error(exc)
        text = (
            f"AWS rejected your credentials ({code}: {message}): refresh them"
            " (`aws sso login`, or new keys with `aws configure`)"
        )
        return Result("credentials", Status.FAIL, text), None
    except (BotoCoreError, ResponseParserError) as exc:
        return credentials_unusable(exc), None
    arn = identity["Arn"]
    return Result("credentials", Status.OK, f"account {identity['Account']} as {arn}"), arn


def model_offered(bedrock: Any, model: ModelSpec, region: str, stack_file: str) -> Result:
    """The region serves the catalogue's model id, and its lifecycle (GetFoundationModel)."""
    check = "offered"
    try:
        details = bedrock.get_foundation_model(modelIdentifier=model.id)["modelDetails"]
    except ClientError as exc:
        code, message = _error(exc)
        if code not in ("ResourceNotFoundException", "ValidationException"):
            return could_not_check(check, exc, model.alias, "bedrock:GetFoundationModel")
        text = (
            f"{model.id} is not offered in {region} ({code}: {message}): the catalogue lists"
            f" {', '.join(model.regions)}; change aws:region or drop {model.alias} from"
            f" imagegen:allowedModels in {stack_file}"
        )
        return Result(check, Status.FAIL, text, model.alias)
    except AWS_ERRORS as exc:
        return could_not_check(check, exc, model.alias)
    lifecycle = details.get("modelLifecycle") or {}
    status = lifecycle.get("status", "UNKNOWN")
    if status == "ACTIVE":
        return Result(check, Status.OK, f"{model.id} is ACTIVE in {region}", model.alias)
    end = lifecycle.get("endOfLifeTime")
    until = f", end of life {end:%Y-%m-%d}" if end else ""
    text = (
        f"{model.id} is {status} in {region}{until}: plan the move to"
        f" {model.replacement or 'an active model'} (service/catalogue.json)"
    )
    return Result(check, Status.WARN, text, model.alias)


def model_access(bedrock: Any, model: ModelSpec, region: str) -> Result:
    """Account-level access and Marketplace agreement (GetFoundationModelAvailability)."""
    check = "access"
    try:
        answer = bedrock.get_foundation_model_availability(modelId=model.id)
    except AWS_ERRORS as exc:
        return could_not_check(check, exc, model.alias, "bedrock:GetFoundationModelAvailability")
    agreement = answer["agreementAvailability"]
    state = (
        f"region {answer['regionAvailability']}, {answer['authorizationStatus']},"
        f" agreement {agreement['status']}, entitlement {answer['entitlementAvailability']}"
    )
    if answer["regionAvailability"] != "AVAILABLE":
        text = f"{state}: {model.id} is not available in {region}; deploy where it is"
        return Result(check, Status.FAIL, text, model.alias)
    if answer["authorizationStatus"] != "AUTHORIZED":
        text = (
            f"{state}: an IAM policy or SCP keeps your credentials from {model.id}; allow"
            f" bedrock:InvokeModel on foundation-model/{model.id} in {region}"
        )
        return Result(check, Status.FAIL, text, model.alias)
    if agreement["status"] == "ERROR":
        reason = _one_line(agreement.get("errorMessage", "")) or "no reason given"
        text = (
            f"{state} ({reason}): fix the subscription in the Bedrock console (Model catalog ->"
            f" {model.name}) or AWS Marketplace -> Manage subscriptions"
        )
        return Result(check, Status.FAIL, text, model.alias)
    if agreement["status"] == "PENDING":
        text = f"{state}: the Marketplace subscription is being set up; re-run in 15 minutes"
        return Result(check, Status.WARN, text, model.alias)
    if agreement["status"] != "AVAILABLE" or answer["entitlementAvailability"] != "AVAILABLE":
        text = (
            f"{state}: not subscribed yet; the invocation below starts the AWS Marketplace"
            " subscription (needs the Marketplace permissions and a valid payment method)"
        )
        return Result(check, Status.WARN, text, model.alias)
    return Result(check, Status.OK, state, model.alias)


def profile_routes(bedrock: Any, operation: OperationSpec, region: str, stack_file: str) -> Result:
    """The operation's cross-Region inference profile exists here and routes only to the regions
    the catalogue lists (GetInferenceProfile): the Lambda's role may invoke the model in exactly
    those, so a call the profile routed anywhere else would be denied."""
    check = "profile"
    profile_id = operation.invoke_id(region)
    granted = set(operation.inference_profiles[profile_id])
    try:
        answer = bedrock.get_inference_profile(inferenceProfileIdentifier=profile_id)
    except ClientError as exc:
        code, message = _error(exc)
        if code not in ("ResourceNotFoundException", "ValidationException"):
            return could_not_check(check, exc, operation.operation, "bedrock:GetInferenceProfile")
        text = (
            f"{profile_id} is not offered in {region} ({code}: {message}): change aws:region or"
            f" drop {operation.operation} from imagegen:allowedOperations in {stack_file}"
        )
        return Result(check, Status.FAIL, text, operation.operation)
    except AWS_ERRORS as exc:
        return could_not_check(check, exc, operation.operation)
    routed = {model["modelArn"].split(":")[3] for model in answer["models"]}
    beyond = sorted(routed - granted)
    if beyond:
        text = (
            f"{profile_id} now also routes to {', '.join(beyond)}, where the Lambda's role may"
            f" not invoke {operation.id}: add them to the profile in service/catalogue.json and"
            " redeploy"
        )
        return Result(check, Status.FAIL, text, operation.operation)
    where = ", ".join(sorted(routed))
    if answer["status"] != "ACTIVE":
        text = f"{profile_id} is {answer['status']} in {region} (routes to {where})"
        return Result(check, Status.WARN, text, operation.operation)
    text = f"{profile_id} routes to {where}, each granted to the Lambda's role"
    return Result(check, Status.OK, text, operation.operation)


def _policy_source(iam: Any, caller_arn: str) -> tuple[str, str]:
    """(kind, IAM ARN to simulate) for the caller; an assumed role becomes its role's ARN, looked
    up because a session ARN drops the role's path."""
    _, partition, _, _, account, resource = caller_arn.split(":", 5)
    kind, _, rest = resource.partition("/")
    if kind == "user":
        return kind, f"arn:{partition}:iam::{account}:user/{rest}"
    if kind == "assumed-role":
        return kind, iam.get_role(RoleName=rest.split("/")[0])["Role"]["Arn"]
    return kind, ""


def marketplace_permissions(iam: Any, caller_arn: str) -> Result:
    """The deployer may start a Marketplace subscription (IAM SimulatePrincipalPolicy)."""
    check = "marketplace"
    actions = ", ".join(MARKETPLACE_ACTIONS)
    try:
        kind, source = _policy_source(iam, caller_arn)
        if kind == "root":
            text = "the account's root user may subscribe (AWS advises deploying with an IAM role)"
            return Result(check, Status.OK, text)
        if not source:
            text = f"cannot simulate a {kind} principal; the invocation below is the real test"
            return Result(check, Status.SKIP, text)
        answer = iam.simulate_principal_policy(
            PolicySourceArn=source, ActionNames=list(MARKETPLACE_ACTIONS)
        )
    except AWS_ERRORS as exc:
        needs = (
            "iam:SimulatePrincipalPolicy (and iam:GetRole for a role);"
            " the invocation below is the real test"
        )
        return could_not_check(check, exc, needs=needs)
    denied = [r for r in answer["EvaluationResults"] if r["EvalDecision"] != "allowed"]
    if not denied:
        return Result(check, Status.OK, f"{source} may {actions}")
    names = ", ".join(f"{r['EvalActionName']} ({r['EvalDecision']})" for r in denied)
    missing = sorted({key for r in denied for key in r.get("MissingContextValues", [])})
    if missing:
        text = (
            f"{names} depend on {', '.join(missing)}, which a simulation cannot supply;"
            " the invocation below is the real test"
        )
        return Result(check, Status.WARN, text)
    principal = source.rsplit("/", 1)[-1]
    text = (
        f'{source} is denied {names}: allow {actions} on Resource "*" (IAM console -> {principal}'
        " -> Add permissions) and give the account a valid payment method, then re-run"
    )
    return Result(check, Status.FAIL, text)


def _current_reservation(lambda_client: Any, function_name: str) -> int:
    """What an already deployed function reserves: it is counted out of the unreserved pool."""
    try:
        answer = lambda_client.get_function_concurrency(FunctionName=function_name)
    except ClientError as exc:
        if _error(exc)[0] == "ResourceNotFoundException":
            return 0
        raise
    return answer.get("ReservedConcurrentExecutions", 0)


def reserved_concurrency(lambda_client: Any, stack: StackSettings, function_name: str) -> Result:
    """The account can reserve the stack's ``reservedConcurrency`` (Lambda GetAccountSettings):
    new accounts have a low concurrency quota, and 100 must stay unreserved."""
    check = "concurrency"
    reserved = stack.reserved_concurrency
    if reserved < 0:
        return Result(check, Status.OK, "reservedConcurrency -1: nothing reserved, nothing to fit")
    if reserved == 0:
        text = f"reservedConcurrency 0 in {stack.file} throttles every request; use -1 or a size"
        return Result(check, Status.WARN, text)
    try:
        limit = lambda_client.get_account_settings()["AccountLimit"]
        current = _current_reservation(lambda_client, function_name)
    except AWS_ERRORS as exc:
        return could_not_check(
            check, exc, needs="lambda:GetAccountSettings and lambda:GetFunctionConcurrency"
        )
    total, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
    room = unreserved + current - MIN_UNRESERVED
    if reserved <= room:
        text = (
            f"reserving {reserved} leaves {room - reserved + MIN_UNRESERVED} of {total}"
            f" unreserved in {stack.region} (at least {MIN_UNRESERVED} must stay)"
        )
        return Result(check, Status.OK, text)
    needed = total + reserved - room
    text = (
        f"reservedConcurrency {reserved} does not fit: {stack.region} has {unreserved} of {total}"
        f" unreserved and {MIN_UNRESERVED} must stay; raise Lambda 'Concurrent executions' to"
        f" {needed} in Service Quotas (aws service-quotas request-service-quota-increase"
        f" --service-code lambda --quota-code {CONCURRENCY_QUOTA} --desired-value {needed}"
        f" --region {stack.region}) or set imagegen:reservedConcurrency: -1 in {stack.file}"
    )
    return Result(check, Status.FAIL, text)


def _invoke_failure(exc: ClientError, model: ModelSpec, region: str) -> Result:
    code, message = _error(exc)
    said = f"{code}: {message}"
    if code == "AccessDeniedException":
        status, fix = (
            Status.FAIL,
            (
                f"give your credentials bedrock:InvokeModel on {model.id} and"
                f" {', '.join(MARKETPLACE_ACTIONS)}, check the account's payment method, wait two"
                " minutes and re-run"
            ),
        )
    elif code == "ValidationException" and "model identifier is invalid" in message.lower():
        status, fix = Status.FAIL, f"{model.id} is not offered in {region}; deploy where it is"
    elif code == "ValidationException":
        status, fix = Status.FAIL, "Bedrock refused the body the service builds: please report it"
    elif code == "ResourceNotFoundException":
        status, fix = (
            Status.FAIL,
            (f"{model.id} is gone (end of life?); use {model.replacement or 'an active model'}"),
        )
    elif code in _THROTTLED:
        status, fix = Status.WARN, "Bedrock is busy; re-run in a minute"
    else:
        status, fix = Status.FAIL, "see Bedrock's message"
    return Result("invoke", status, f"{said}: {fix}", model.alias)


def invocation(
    runtime: Any, name: str, settings: Settings, catalogue: Catalogue, today: date
) -> Result:
    """One real InvokeModel with the deployer's credentials and the service's own body: it
    proves access and, for a third-party model, starts the account's Marketplace subscription."""
    try:
        request, body = request_for(name, settings, catalogue, today)
    except ImageGenError as exc:
        return Result("invoke", Status.FAIL, f"the service refuses it: {exc.message}", name)
    model = request.model
    try:
        response = runtime.invoke_model(
            modelId=request.invoke_id,
            body=json.dumps(body),
            contentType="application/json",
            accept="application/json",
        )
        payload = json.loads(response["body"].read())
        images = for_family(model.family).parse_response(payload, 1, SEED)
    except ClientError as exc:
        return _invoke_failure(exc, model, settings.region)
    except AWS_ERRORS as exc:
        return could_not_check("invoke", exc, model.alias)
    except (ValueError, ImageGenError) as exc:
        reason = exc.message if isinstance(exc, ImageGenError) else "its body is not JSON"
        text = f"{model.id} answered, but {reason}: please report it"
        return Result("invoke", Status.FAIL, text, model.alias)
    text = (
        f"{model.id} returned an image ({len(images[0].data)} bytes) to your credentials;"
        " a first Marketplace subscription completes in the background (up to 15 minutes)"
    )
    return Result("invoke", Status.OK, text, model.alias)


def api_gateway_logging(apigateway: Any, stack: StackSettings) -> Result:
    """Every stage writes access logs, which API Gateway refuses to set up until the account has
    its CloudWatch role in the region (GetAccount ``cloudwatchRoleArn``); without it the deploy
    fails at the stage, after the rest of the stack was created."""
    check = "logging"
    try:
        role = apigateway.get_account().get("cloudwatchRoleArn")
    except AWS_ERRORS as exc:
        return could_not_check(check, exc, needs="apigateway:GET on /account")
    if role:
        return Result(check, Status.OK, f"API Gateway logs to CloudWatch with {role}")
    if stack.manages_api_gateway_account:
        text = f"no CloudWatch role yet in {stack.region}; {stack.file} sets it (owner stack)"
        return Result(check, Status.OK, text)
    text = (
        f"API Gateway has no CloudWatch role in {stack.region}, so the stage's access logs would"
        " fail the deploy: run the README's 'Account-wide logging role' bootstrap once, or set"
        f" imagegen:manageApiGatewayAccount true in exactly one stack"
    )
    return Result(check, Status.FAIL, text)
