"""The composition root: settings, boto3 clients and the generator for one environment.

Kept apart from ``handler`` (the HTTP adapter) so the local stack and the MCP server build the
same generator from their own environment mapping.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from functools import lru_cache

from service import aws, logs
from service.catalogue import default_catalogue
from service.config import Settings
from service.flow import Generator
from service.job_queue import JobQueue
from service.jobs import JobStore
from service.storage import ImageStore, utcnow


def build_generator(env: Mapping[str, str]) -> Generator:
    """Settings, clients and the generator for one environment (raises ConfigError)."""
    catalogue = default_catalogue()
    settings = Settings.from_env(env, catalogue)
    logs.configure(settings.log_level)
    session = aws.session(settings, env)
    s3 = aws.s3(session, settings, env)
    store = ImageStore(s3, settings.bucket, settings.url_expiry_seconds)
    queue = (
        JobQueue(lambda: aws.sqs(session, settings, env), settings.jobs_queue_url)
        if settings.jobs_queue_url
        else None
    )
    jobs = JobStore(s3, settings.bucket, settings.job_prefix, utcnow)
    return Generator(
        settings, catalogue, aws.BedrockClients(session, env), store, jobs=jobs, queue=queue
    )


@lru_cache(maxsize=1)
def get_generator() -> Generator:
    """The container's generator, built on the first request (cold start) and reused."""
    return build_generator(os.environ)


def prime_for_snapshot(env: Mapping[str, str]) -> None:
    """Under Lambda SnapStart, build the generator during init so the snapshot holds the loaded
    botocore models and clients and a restored container skips that work; reseed ``random``
    (backoff jitter) after each restore so restored copies do not share a sequence.

    SnapStart runs init before publishing a version; a bad configuration then fails the publish
    instead of every request. https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html
    """
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    generator = get_generator()
    generator.bedrock(generator.settings.time_budget_seconds)  # loads the service model too
    try:  # present in Lambda's Python runtimes only
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(random.seed)
