"""Typed stack settings: ``pulumi.Config`` values, with defaults from the schema in Pulumi.yaml.

The schema is the single source of defaults (the Pulumi CLI applies them on ``pulumi up``; the
unit-test mocks do not, so this module reads them from the same file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pulumi
import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_PATH = ROOT / "service" / "catalogue.json"


@lru_cache(maxsize=1)
def schema_defaults() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    return {key: spec.get("default") for key, spec in project["config"].items()}


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    """The service's model catalogue, read as data (infra never imports ``service``)."""
    models = json.loads(CATALOGUE_PATH.read_text())["models"]
    index: dict[str, dict] = {}
    for model in models:
        for name in (model["alias"], model["id"], *model["inference_profiles"]):
            index[name] = model
    return index


@dataclass(frozen=True)
class ImageApiSettings:
    stack: str
    region: str
    default_model: str
    allowed_models: tuple[str, ...]
    enabled_retired_models: tuple[str, ...]
    url_expiry_seconds: int
    image_retention_days: int
    log_retention_days: int
    lambda_memory_mb: int
    lambda_timeout_seconds: int
    reserved_concurrency: int
    throttle_rate_limit: int
    throttle_burst_limit: int
    api_key_required: bool
    quota_per_day: int
    kms_encryption: bool
    tracing: bool
    protect: bool
    force_destroy: bool
    manage_api_gateway_account: bool
    cache_seeded_requests: bool
    log_level: str

    @classmethod
    def from_config(cls, config: pulumi.Config, stack: str, region: str) -> ImageApiSettings:
        defaults = schema_defaults()

        def get(key: str, reader: str) -> Any:
            value = getattr(config, reader)(key)
            return defaults[key] if value is None else value

        settings = cls(
            stack=stack,
            region=region,
            default_model=get("defaultModel", "get"),
            allowed_models=tuple(get("allowedModels", "get_object")),
            enabled_retired_models=tuple(get("enabledRetiredModels", "get_object")),
            url_expiry_seconds=get("urlExpirySeconds", "get_int"),
            image_retention_days=get("imageRetentionDays", "get_int"),
            log_retention_days=get("logRetentionDays", "get_int"),
            lambda_memory_mb=get("lambdaMemoryMb", "get_int"),
            lambda_timeout_seconds=get("lambdaTimeoutSeconds", "get_int"),
            reserved_concurrency=get("reservedConcurrency", "get_int"),
            throttle_rate_limit=get("throttleRateLimit", "get_int"),
            throttle_burst_limit=get("throttleBurstLimit", "get_int"),
            api_key_required=get("apiKeyRequired", "get_bool"),
            quota_per_day=get("quotaPerDay", "get_int"),
            kms_encryption=get("kmsEncryption", "get_bool"),
            tracing=get("tracing", "get_bool"),
            protect=get("protect", "get_bool"),
            force_destroy=get("forceDestroy", "get_bool"),
            manage_api_gateway_account=get("manageApiGatewayAccount", "get_bool"),
            cache_seeded_requests=get("cacheSeededRequests", "get_bool"),
            log_level=get("logLevel", "get"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that would deploy a broken or unsafe API, before anything is created."""
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
        if not 4 <= self.lambda_timeout_seconds <= 28:
            raise ValueError(
                "imagegen:lambdaTimeoutSeconds must be 4..28: API Gateway cuts at 29 s and the"
                " service needs 2 s beyond its model budget to store and answer"
            )
        for name in self.allowed_models:
            if not self._offered_here(name):
                pulumi.log.warn(
                    f"imagegen: {name} is not offered in {self.region} per the"
                    " catalogue; requests for it will answer 503"
                )

    def _offered_here(self, name: str) -> bool:
        """Served in the stack's region, or named by an inference profile that routes there."""
        model = catalogue()[name]
        return self.region in model["regions"] or name in model["inference_profiles"]

    @property
    def invocable_model_ids(self) -> tuple[str, ...]:
        """Ids the Lambda may pass to InvokeModel: model ids, or listed profile ids."""
        known = catalogue()
        ids = []
        for name in self.allowed_models:
            model = known[name]
            ids.append(name if name in model["inference_profiles"] else model["id"])
        return tuple(dict.fromkeys(ids))
