"""boto3 clients, built once per container with timeouts and retries that fit API Gateway's 29 s."""

from __future__ import annotations

import os

import boto3
from botocore.config import Config

from service.config import Settings

# Bounded retries with client-side rate adaptation: a throttled burst slows down instead of
# multiplying calls; the flow's own deadline still answers before API Gateway gives up.
_BEDROCK_RETRIES = {"mode": "adaptive", "total_max_attempts": 3}
_S3_RETRIES = {"mode": "standard", "total_max_attempts": 3}
POOL_SIZE = 32


def bedrock_runtime(settings: Settings):
    return boto3.client(
        "bedrock-runtime",
        region_name=settings.region,
        config=Config(
            connect_timeout=2,
            read_timeout=max(1, int(settings.time_budget_seconds)),
            retries=_BEDROCK_RETRIES,
            max_pool_connections=POOL_SIZE,
        ),
    )


def s3(settings: Settings):
    """S3 with SigV4 on the regional endpoint, so presigned URLs work in every region.

    An ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` override (the local stack) is honoured.
    """
    overridden = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    return boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=None if overridden else f"https://s3.{settings.region}.amazonaws.com",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if overridden else "virtual"},
            connect_timeout=2,
            read_timeout=10,
            retries=_S3_RETRIES,
            max_pool_connections=POOL_SIZE,
        ),
    )
