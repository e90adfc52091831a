"""boto3 clients, built once per container with timeouts and retries that fit API Gateway's 29 s.

Credentials and endpoint overrides come from the given environment mapping (``os.environ`` in
Lambda), so a local stack can point one generator at its own endpoints without touching the
process environment.
"""

from __future__ import annotations

from collections.abc import Mapping

import boto3
from botocore.config import Config

from service.config import Settings

# Bounded retries with jittered exponential backoff: at most 3 calls per model invocation, then a
# prompt 429 with Retry-After. "adaptive" mode was measured and rejected: its client-side token
# bucket made a throttled burst wait in the client until the deadline and answer 504 instead.
_BEDROCK_RETRIES = {"mode": "standard", "total_max_attempts": 3}
_S3_RETRIES = {"mode": "standard", "total_max_attempts": 3}
POOL_SIZE = 32


def session(settings: Settings, env: Mapping[str, str]) -> boto3.session.Session:
    """One session per container: building a session loads botocore's data, so share it."""
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=settings.region,
    )


def _endpoint(env: Mapping[str, str], service_env: str) -> str | None:
    return env.get(service_env) or env.get("AWS_ENDPOINT_URL") or None


def bedrock_runtime(aws: boto3.session.Session, settings: Settings, env: Mapping[str, str]):
    return aws.client(
        "bedrock-runtime",
        endpoint_url=_endpoint(env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
        config=Config(
            connect_timeout=2,
            read_timeout=max(1, int(settings.time_budget_seconds)),
            retries=_BEDROCK_RETRIES,
            max_pool_connections=POOL_SIZE,
        ),
    )


def s3(aws: boto3.session.Session, settings: Settings, env: Mapping[str, str]):
    """S3 with SigV4 on the regional endpoint, so presigned URLs work in every region.

    An ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` override (the local stack) is honoured.
    """
    override = _endpoint(env, "AWS_ENDPOINT_URL_S3")
    return aws.client(
        "s3",
        endpoint_url=override or f"https://s3.{settings.region}.amazonaws.com",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if override else "virtual"},
            connect_timeout=2,
            read_timeout=10,
            retries=_S3_RETRIES,
            max_pool_connections=POOL_SIZE,
        ),
    )
