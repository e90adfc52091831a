"""Settings read once per container from environment variables and validated at start.

A misconfigured deployment fails its first request with a message that names the variable,
rather than generating images into the wrong place.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from service import cors
from service.catalogue import Catalogue, ModelSpec, OperationSpec

# Environment variable names: the contract with infra/ and the local stack.
BUCKET = "IMAGEGEN_BUCKET"
DEFAULT_MODEL = "IMAGEGEN_DEFAULT_MODEL"
ALLOWED_MODELS = "IMAGEGEN_ALLOWED_MODELS"
ENABLED_RETIRED_MODELS = "IMAGEGEN_ENABLED_RETIRED_MODELS"
URL_EXPIRY_SECONDS = "IMAGEGEN_URL_EXPIRY_SECONDS"
KEY_PREFIX = "IMAGEGEN_KEY_PREFIX"
UPLOAD_PREFIX = "IMAGEGEN_UPLOAD_PREFIX"
ALLOWED_OPERATIONS = "IMAGEGEN_ALLOWED_OPERATIONS"
NO_OPERATIONS = "none"  # the value of ALLOWED_OPERATIONS that turns editing off
LOG_LEVEL = "IMAGEGEN_LOG_LEVEL"
TIME_BUDGET_SECONDS = "IMAGEGEN_TIME_BUDGET_SECONDS"
MAX_IMAGES = "IMAGEGEN_MAX_IMAGES"
RETRY_AFTER_SECONDS = "IMAGEGEN_RETRY_AFTER_SECONDS"
CACHE_SEEDED = "IMAGEGEN_CACHE_SEEDED"
CACHE_SECRET = "IMAGEGEN_CACHE_SECRET"
JOBS_QUEUE_URL = "IMAGEGEN_JOBS_QUEUE_URL"
JOBS_DEAD_LETTER_ARN = "IMAGEGEN_JOBS_DEAD_LETTER_ARN"
JOB_PREFIX = "IMAGEGEN_JOB_PREFIX"
JOB_TIME_LIMIT_SECONDS = "IMAGEGEN_JOB_TIME_LIMIT_SECONDS"
ALLOWED_ORIGINS = "IMAGEGEN_ALLOWED_ORIGINS"
REGION = "AWS_REGION"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# API Gateway's integration timeout is 29 s; leave room to store, presign and answer.
DEFAULT_TIME_BUDGET_SECONDS = 26.0
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the SigV4 maximum
DEFAULT_MAX_IMAGES = 4
MIN_CACHE_SECRET_LENGTH = 32
# A job's worker is a Lambda with at most 15 minutes; a minute stays for storing and ending it.
DEFAULT_JOB_TIME_LIMIT_SECONDS = 840.0


class ConfigError(Exception):
    """The environment does not describe a usable deployment."""


@dataclass(frozen=True)
class Settings:
    bucket: str
    region: str
    default_model: str
    allowed_models: tuple[str, ...]  # names as configured; empty means every catalogue model
    enabled_retired_models: tuple[str, ...]
    url_expiry_seconds: int
    key_prefix: str
    upload_prefix: str
    allowed_operations: tuple[str, ...] | None  # None: every catalogue operation
    log_level: str
    time_budget_seconds: float
    max_images: int
    retry_after_seconds: int
    cache_seeded: bool
    jobs_queue_url: str  # where asynchronous jobs are sent; empty: jobs are off
    jobs_dead_letter_arn: str  # the queue whose records end their jobs failed (the worker's)
    job_prefix: str
    job_time_limit_seconds: float
    allowed_origins: tuple[str, ...]  # browser apps that may call the API (CORS); empty: none
    # Keys cached images, so nobody who guesses a prompt and seed can find someone's image.
    cache_secret: bytes = field(default=b"", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], catalogue: Catalogue) -> Settings:
        problems: list[str] = []

        def number(name: str, default: str, kind: type, low: float, high: float):
            raw = env.get(name, default).strip()
            try:
                value = kind(raw)
            except ValueError:
                noun = "an integer" if kind is int else "a number"
                problems.append(f"{name}={raw!r} is not {noun}")
                return kind(default)
            if not low <= value <= high:
                problems.append(f"{name}={raw} must be between {low} and {high}")
            return value

        def flag(name: str, default: str) -> bool:
            raw = env.get(name, default).strip().lower()
            if raw not in ("true", "false", "1", "0"):
                problems.append(f"{name}={raw!r} must be true or false")
            return raw in ("true", "1")

        def names(name: str) -> tuple[str, ...]:
            items = tuple(x.strip() for x in env.get(name, "").split(",") if x.strip())
            problems.extend(
                f"{name}: unknown model {item!r} (not in catalogue.json)"
                for item in items
                if catalogue.find(item) is None
            )
            return items

        bucket = env.get(BUCKET, "").strip()
        if len(bucket) < 3:
            problems.append(f"{BUCKET} must name the S3 bucket for generated images")
        region = env.get(REGION, "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
        if not region:
            problems.append(f"{REGION} must be set (the Bedrock and S3 region)")
        log_level = env.get(LOG_LEVEL, "INFO").strip().upper()
        log_level = {"WARN": "WARNING"}.get(log_level, log_level)  # Lambda's name for it
        if log_level not in LOG_LEVELS:
            problems.append(f"{LOG_LEVEL}={log_level!r} must be one of {', '.join(LOG_LEVELS)}")

        def prefix(name: str, default: str) -> str:
            value = env.get(name, default).strip().lstrip("/")
            if not value:
                problems.append(f"{name} must not be empty")
            return value if value.endswith("/") else value + "/"

        key_prefix = prefix(KEY_PREFIX, "images/")
        upload_prefix = prefix(UPLOAD_PREFIX, "uploads/")
        job_prefix = prefix(JOB_PREFIX, "jobs/")
        named = {KEY_PREFIX: key_prefix, UPLOAD_PREFIX: upload_prefix, JOB_PREFIX: job_prefix}
        for first, second in itertools.combinations(named, 2):
            if named[first].startswith(named[second]) or named[second].startswith(named[first]):
                problems.append(f"{first} and {second} must not contain each other")
        listed = tuple(x.strip() for x in env.get(ALLOWED_OPERATIONS, "").split(",") if x.strip())
        operations: tuple[str, ...] | None = listed or None
        if listed == (NO_OPERATIONS,):  # editing turned off
            operations = ()
        else:
            problems.extend(
                f"{ALLOWED_OPERATIONS}: unknown operation {item!r} (not in catalogue.json;"
                f" '{NO_OPERATIONS}' alone turns editing off)"
                for item in listed
                if catalogue.operation(item) is None
            )

        try:
            origins = cors.parse_origins(env.get(ALLOWED_ORIGINS, "").split(","), ALLOWED_ORIGINS)
        except ValueError as exc:
            problems.append(str(exc))
            origins = ()

        allowed = names(ALLOWED_MODELS)
        retired = names(ENABLED_RETIRED_MODELS)
        default_model = env.get(DEFAULT_MODEL, "stable-image-core").strip()
        default = catalogue.find(default_model)
        if default is None:
            problems.append(f"{DEFAULT_MODEL}: unknown model {default_model!r}")

        settings = cls(
            bucket=bucket,
            region=region,
            default_model=default_model,
            allowed_models=allowed,
            enabled_retired_models=retired,
            url_expiry_seconds=number(URL_EXPIRY_SECONDS, "3600", int, 1, MAX_PRESIGN_SECONDS),
            key_prefix=key_prefix,
            upload_prefix=upload_prefix,
            allowed_operations=operations,
            log_level=log_level,
            time_budget_seconds=number(
                TIME_BUDGET_SECONDS, str(DEFAULT_TIME_BUDGET_SECONDS), float, 0.1, 900
            ),
            max_images=number(MAX_IMAGES, str(DEFAULT_MAX_IMAGES), int, 1, 10),
            retry_after_seconds=number(RETRY_AFTER_SECONDS, "5", int, 1, 3600),
            cache_seeded=flag(CACHE_SEEDED, "false"),
            cache_secret=env.get(CACHE_SECRET, "").encode(),
            jobs_queue_url=env.get(JOBS_QUEUE_URL, "").strip(),
            jobs_dead_letter_arn=env.get(JOBS_DEAD_LETTER_ARN, "").strip(),
            job_prefix=job_prefix,
            job_time_limit_seconds=number(
                JOB_TIME_LIMIT_SECONDS, str(DEFAULT_JOB_TIME_LIMIT_SECONDS), float, 1, 900
            ),
            allowed_origins=origins,
        )
        if settings.cache_seeded and len(settings.cache_secret) < MIN_CACHE_SECRET_LENGTH:
            problems.append(
                f"{CACHE_SEEDED} needs {CACHE_SECRET}: a random secret of at least"
                f" {MIN_CACHE_SECRET_LENGTH} characters, the same for every container"
            )
        if allowed and default is not None and not settings.is_allowed(default_model, catalogue):
            problems.append(f"{DEFAULT_MODEL}={default_model} is not in {ALLOWED_MODELS}")
        if (
            default is not None
            and default.is_retired(date.today())
            and not settings.retired_enabled(default_model, catalogue)
        ):
            problems.append(
                f"{DEFAULT_MODEL}={default_model} reached end of life on {default.end_of_life};"
                f" use {default.replacement} or list it in {ENABLED_RETIRED_MODELS}"
            )
        if problems:
            raise ConfigError("invalid imagegen configuration: " + "; ".join(problems))
        return settings

    def is_allowed(self, name: str, catalogue: Catalogue) -> bool:
        """Aliases and model ids of listed models are allowed; profile ids only when listed."""
        model = catalogue.find(name)
        if model is None:
            return False
        if name in model.inference_profiles:
            return name in self.allowed_models
        return not self.allowed_models or any(
            catalogue.find(a) is model for a in self.allowed_models
        )

    def usable(self, model: ModelSpec, catalogue: Catalogue, today: date) -> bool:
        """Allowed here, alive (or enabled past end of life) and offered in this region, as far
        as the catalogue knows."""
        offered = self.region in model.regions or any(
            self.region in regions for regions in model.inference_profiles.values()
        )
        return (
            self.is_allowed(model.alias, catalogue)
            and offered
            and (not model.is_retired(today) or self.retired_enabled(model.alias, catalogue))
        )

    def operation_usable(self, operation: OperationSpec, today: date) -> bool:
        """Allowed here, alive and offered in this region, as far as the catalogue knows."""
        return (
            self.operation_allowed(operation.operation)
            and operation.offered_in(self.region)
            and not operation.is_retired(today)
        )

    def operation_allowed(self, name: str) -> bool:
        return self.allowed_operations is None or name in self.allowed_operations

    def retired_enabled(self, name: str, catalogue: Catalogue) -> bool:
        model = catalogue.find(name)
        return any(catalogue.find(r) is model for r in self.enabled_retired_models)
