"""Typed stack settings: ``pulumi.Config`` values, with defaults from the schema in Pulumi.yaml.

The schema is the single source of defaults (the Pulumi CLI applies them on ``pulumi up``; the
unit-test mocks do not, so this module reads them from the same file). Every value AWS would
refuse, or that would deploy something that silently misbehaves, is refused here, at preview.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import pulumi
import yaml

from service import cors

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_PATH = ROOT / "service" / "catalogue.json"

# Presigned URLs die with the credentials that signed them ("If you created a presigned URL using
# a temporary token, then the URL expires when the token expires", S3 User Guide,
# using-presigned-url). The Lambda signs with its execution role's session, whose duration "you
# can't control" and which ignores the role's maximum session duration (Lambda Developer Guide,
# lambda-intro-execution-role, "Session duration for temporary security credentials"). AWS
# documents no longer lifetime for it, so promise no more than STS's default role session.
MAX_URL_EXPIRY_SECONDS = 3600
# CloudWatch Logs accepts only these (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
# The service's level names (service/config.py) -> Lambda's application log levels (TRACE, DEBUG,
# INFO, WARN, ERROR, FATAL), which Lambda filters the function's JSON lines by.
LAMBDA_LOG_LEVELS = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
}
AUTHORIZATIONS = ("api_key", "iam")
# An SQS event source mapping's maximum concurrency (ScalingConfig.MaximumConcurrency, "Valid
# Range: Minimum value of 2. Maximum value of 1000",
# https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html).
JOB_CONCURRENCY_RANGE = (2, 1000)


@lru_cache(maxsize=1)
def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def schema_defaults() -> dict[str, Any]:
    return {key: spec.get("default") for key, spec in project()["config"].items()}


@lru_cache(maxsize=1)
def _catalogue_file() -> dict[str, Any]:
    return json.loads(CATALOGUE_PATH.read_text())


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    """The service's model catalogue, read as data (infra imports only the service's
    standard-library helpers, such as ``service.cors``, never its catalogue code)."""
    index: dict[str, dict] = {}
    for model in _catalogue_file()["models"]:
        for name in (model["alias"], model["id"], *model["inference_profiles"]):
            index[name] = model
    return index


NO_OPERATIONS = "none"  # allowedOperations: ["none"] turns editing off (the service's word too)


@lru_cache(maxsize=1)
def operations() -> dict[str, dict]:
    """The catalogue's editing operations by name, read as data like the models."""
    return {op["operation"]: op for op in _catalogue_file().get("operations", [])}


@dataclass(frozen=True)
class Invocation:
    """What the Lambda passes to InvokeModel, and the foundation model behind it."""

    invoke_id: str  # a foundation-model id or a cross-Region inference-profile id
    model_id: str
    destinations: tuple[str, ...] = ()  # where a profile routes calls; empty: in-Region


def _retired(entry: dict, today: date) -> bool:
    """The service's rule (``service.catalogue``): marked retired, or past its end of life."""
    end = entry.get("end_of_life")
    return entry["status"] == "retired" or (end is not None and date.fromisoformat(end) <= today)


def _offered_in(operation: dict, region: str) -> bool:
    """Served in ``region``: in-Region, or through a profile whose regions include it (a ``us.``
    profile's source and destination regions are the same)."""
    return region in operation["regions"] or any(
        region in regions for regions in operation["inference_profiles"].values()
    )


def _operation_invocation(operation: dict, region: str) -> Invocation:
    """The target ``service.catalogue.OperationSpec.invoke_id`` picks in ``region``: the profile
    whose regions include it (profiles spread load), else the foundation model in-Region."""
    for profile, regions in operation["inference_profiles"].items():
        if region in regions:
            return Invocation(profile, operation["id"], tuple(regions))
    return Invocation(operation["id"], operation["id"])


def _allowed_operations(configured: tuple[str, ...], region: str, today: date) -> tuple[str, ...]:
    """``["none"]`` turns editing off; an empty list means the region's default."""
    if NO_OPERATIONS in configured:
        if configured != (NO_OPERATIONS,):
            raise ValueError(
                f"imagegen:allowedOperations: '{NO_OPERATIONS}' turns editing off and cannot be"
                " listed with operations"
            )
        return ()
    return configured or default_operations(region, today)


def default_operations(region: str, today: date) -> tuple[str, ...]:
    """What an empty ``allowedOperations`` means: every operation the region offers that is not
    retired, i.e. every one a request could use here."""
    return tuple(
        name
        for name, op in operations().items()
        if _offered_in(op, region) and not _retired(op, today)
    )


@dataclass(frozen=True)
class ImageApiSettings:
    stack: str
    region: str
    default_model: str
    allowed_models: tuple[str, ...]
    enabled_retired_models: tuple[str, ...]
    allowed_operations: tuple[str, ...]
    url_expiry_seconds: int
    image_retention_days: int
    log_retention_days: int
    lambda_memory_mb: int
    lambda_timeout_seconds: int
    reserved_concurrency: int
    throttle_rate_limit: int
    throttle_burst_limit: int
    authorization: str
    quota_per_day: int
    kms_encryption: bool
    tracing: bool
    protect: bool
    force_destroy: bool
    manage_api_gateway_account: bool
    cache_seeded_requests: bool
    log_level: str
    alarm_email: str
    monthly_budget_usd: int
    job_concurrency: int
    allowed_origins: tuple[str, ...]

    @classmethod
    def from_config(cls, config: pulumi.Config, stack: str, region: str) -> ImageApiSettings:
        defaults = schema_defaults()
        today = date.today()  # what "retired" means for the catalogue's end-of-life dates

        def get(key: str, reader: str) -> Any:
            value = getattr(config, reader)(key)
            return defaults[key] if value is None else value

        settings = cls(
            stack=stack,
            region=region,
            default_model=get("defaultModel", "get"),
            allowed_models=tuple(get("allowedModels", "get_object")),
            enabled_retired_models=tuple(get("enabledRetiredModels", "get_object")),
            allowed_operations=_allowed_operations(
                tuple(dict.fromkeys(get("allowedOperations", "get_object"))), region, today
            ),
            url_expiry_seconds=get("urlExpirySeconds", "get_int"),
            image_retention_days=get("imageRetentionDays", "get_int"),
            log_retention_days=get("logRetentionDays", "get_int"),
            lambda_memory_mb=get("lambdaMemoryMb", "get_int"),
            lambda_timeout_seconds=get("lambdaTimeoutSeconds", "get_int"),
            reserved_concurrency=get("reservedConcurrency", "get_int"),
            throttle_rate_limit=get("throttleRateLimit", "get_int"),
            throttle_burst_limit=get("throttleBurstLimit", "get_int"),
            authorization=get("authorization", "get"),
            quota_per_day=get("quotaPerDay", "get_int"),
            kms_encryption=get("kmsEncryption", "get_bool"),
            tracing=get("tracing", "get_bool"),
            protect=get("protect", "get_bool"),
            force_destroy=get("forceDestroy", "get_bool"),
            manage_api_gateway_account=get("manageApiGatewayAccount", "get_bool"),
            cache_seeded_requests=get("cacheSeededRequests", "get_bool"),
            log_level=get("logLevel", "get").strip().upper(),
            alarm_email=get("alarmEmail", "get").strip(),
            monthly_budget_usd=get("monthlyBudgetUsd", "get_int"),
            job_concurrency=get("jobConcurrency", "get_int"),
            allowed_origins=cors.parse_origins(
                get("allowedOrigins", "get_object"), "imagegen:allowedOrigins"
            ),
        )
        settings.check(today)
        return settings

    def check(self, today: date) -> None:
        """Refuse settings that would deploy a broken or unsafe API, before anything is created."""
        self._check_models()
        self._check_operations(today)
        if not 4 <= self.lambda_timeout_seconds <= 28:
            raise ValueError(
                "imagegen:lambdaTimeoutSeconds must be 4..28: API Gateway cuts at 29 s and the"
                " service needs 2 s beyond its model budget to store and answer"
            )
        if not 1 <= self.url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise ValueError(
                f"imagegen:urlExpirySeconds must be 1..{MAX_URL_EXPIRY_SECONDS}: URLs are signed"
                " with the Lambda role's temporary credentials and die with them, and AWS"
                " documents no longer lifetime for them; clients refresh with GET /images/url"
            )
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                "imagegen:logRetentionDays must be one of CloudWatch Logs' values:"
                f" {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        if self.log_level not in LAMBDA_LOG_LEVELS:
            raise ValueError(
                f"imagegen:logLevel must be one of {', '.join(LAMBDA_LOG_LEVELS)}"
                f" (the service's levels), not {self.log_level!r}"
            )
        if self.authorization not in AUTHORIZATIONS:
            raise ValueError(
                f"imagegen:authorization must be one of {', '.join(AUTHORIZATIONS)},"
                f" not {self.authorization!r}"
            )
        if self.monthly_budget_usd < 0:
            raise ValueError("imagegen:monthlyBudgetUsd must be 0 (no budget) or more")
        if self.monthly_budget_usd and not self.alarm_email:
            raise ValueError("imagegen:monthlyBudgetUsd needs imagegen:alarmEmail to notify")
        low, high = JOB_CONCURRENCY_RANGE
        if not low <= self.job_concurrency <= high:
            raise ValueError(
                f"imagegen:jobConcurrency must be {low}..{high}: the jobs queue's event source"
                " mapping's maximum concurrency (Lambda's ScalingConfig range)"
            )

    def _check_models(self) -> None:
        known = catalogue()
        for name in (*self.allowed_models, *self.enabled_retired_models, self.default_model):
            if name not in known:
                raise ValueError(f"imagegen: unknown model {name!r}; see service/catalogue.json")
        if not any(known[a] is known[self.default_model] for a in self.allowed_models):
            raise ValueError("imagegen:defaultModel must be one of imagegen:allowedModels")
        if not self._offered_here(self.default_model):
            raise ValueError(
                f"imagegen:defaultModel {self.default_model} is not offered in {self.region};"
                f" it is offered in {', '.join(known[self.default_model]['regions'])}"
            )
        for name in self.allowed_models:
            if not self._offered_here(name):
                pulumi.log.warn(
                    f"imagegen: {name} is not offered in {self.region} per the"
                    " catalogue; requests for it will answer 503"
                )

    def _check_operations(self, today: date) -> None:
        """Like the models: unknown names are refused; operations that cannot answer here are
        deployed as asked, with a warning saying what their requests will get."""
        known = operations()
        for name in self.allowed_operations:
            if name not in known:
                raise ValueError(
                    f"imagegen:allowedOperations: unknown operation {name!r}; choose from"
                    f" {', '.join(known)} (service/catalogue.json)"
                )
        for name in self.allowed_operations:
            operation = known[name]
            if not _offered_in(operation, self.region):
                pulumi.log.warn(
                    f"imagegen: operation {name} is not offered in {self.region} per the"
                    " catalogue; requests for it will answer 503"
                )
            elif _retired(operation, today):
                pulumi.log.warn(
                    f"imagegen: operation {name} reached end of life on Bedrock; requests for it"
                    " will answer 400 model_retired"
                )

    def _offered_here(self, name: str) -> bool:
        """Served in the stack's region, or named by an inference profile that routes there."""
        model = catalogue()[name]
        return self.region in model["regions"] or name in model["inference_profiles"]

    @property
    def lambda_log_level(self) -> str:
        return LAMBDA_LOG_LEVELS[self.log_level]

    @property
    def invocable_model_ids(self) -> tuple[str, ...]:
        """Ids the Lambda may pass to InvokeModel for generation: model ids, or listed profile
        ids."""
        return tuple(dict.fromkeys(target.invoke_id for target in self._model_invocations()))

    @property
    def invocations(self) -> tuple[Invocation, ...]:
        """Every InvokeModel target of the stack: the allowed models', then the allowed
        operations'."""
        known = operations()
        targets = [
            *self._model_invocations(),
            *(_operation_invocation(known[name], self.region) for name in self.allowed_operations),
        ]
        return tuple(dict.fromkeys(targets))

    def _model_invocations(self) -> list[Invocation]:
        known = catalogue()
        targets = []
        for name in self.allowed_models:
            model = known[name]
            if name in model["inference_profiles"]:
                regions = tuple(model["inference_profiles"][name])
                targets.append(Invocation(name, model["id"], regions))
            else:
                targets.append(Invocation(model["id"], model["id"]))
        return targets
