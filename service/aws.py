"""boto3 clients, built once per container with timeouts and retries that fit API Gateway's 29 s.

Credentials and endpoint overrides come from the given environment mapping (``os.environ`` in
Lambda), so a local stack can point one generator at its own endpoints without touching the
process environment.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from service.config import Settings

# Bedrock: one attempt per botocore call; service.bedrock retries within the request's deadline
# (every attempt is a paid call). "adaptive" mode was measured and rejected: its client-side token
# bucket made a throttled burst wait in the client until the deadline and answer 504 instead.
_BEDROCK_RETRIES = {"mode": "standard", "total_max_attempts": 1}
_S3_RETRIES = {"mode": "standard", "total_max_attempts": 3}
POOL_SIZE = 32
# Beyond this, read timeouts are whole multiples of it (rounded down, never past the deadline):
# a job worker's deadlines vary to the second over 15 minutes, and one client per second of
# timeout would be hundreds of clients, each with its own connection pool.
LONG_CALL_SECONDS = 30


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


class BedrockClients:
    """bedrock-runtime clients by whole-second read timeout, built on first use.

    botocore fixes a client's read timeout when it is built, and a model call must never wait
    past the request's deadline: each attempt takes the client whose timeout fits the time left.
    """

    def __init__(self, aws: boto3.session.Session, env: Mapping[str, str]) -> None:
        self._aws = aws
        self._endpoint = _endpoint(env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, seconds_left: float) -> Any:
        timeout = max(1, int(seconds_left))
        if timeout > LONG_CALL_SECONDS:  # a job's calls: few clients, each reused
            timeout -= timeout % LONG_CALL_SECONDS
        with self._lock:  # building clients is not thread-safe in botocore
            if timeout not in self._clients:
                self._clients[timeout] = self._aws.client(
                    "bedrock-runtime",
                    endpoint_url=self._endpoint,
                    config=Config(
                        connect_timeout=min(2, timeout),
                        read_timeout=timeout,
                        retries=_BEDROCK_RETRIES,
                        max_pool_connections=POOL_SIZE,
                    ),
                )
            return self._clients[timeout]


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


def sqs(aws: boto3.session.Session, settings: Settings, env: Mapping[str, str]):
    """SQS for handing jobs to their worker; ``AWS_ENDPOINT_URL_SQS`` for the local stack."""
    return aws.client(
        "sqs",
        endpoint_url=_endpoint(env, "AWS_ENDPOINT_URL_SQS"),
        config=Config(connect_timeout=2, read_timeout=10, retries=_S3_RETRIES),
    )
