"""The local stack: S3 (moto behind a SigV4-verifying front), the Bedrock emulator and the gateway.

S3 and the emulator run in this process, or in a backing process of their own
(``separate_process``, what ``imagegen serve`` uses).

It points the real ``service`` at the local endpoints through the same environment variables a
Lambda would read (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, ``IMAGEGEN_*``),
kept in its own mapping: several stacks can run in one process without touching ``os.environ``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import boto3
from botocore.config import Config

from devstack.backing import BackingProcess
from devstack.bedrock_emulator import BedrockEmulatorServer
from devstack.data_dir import private_secret
from devstack.gateway import GatewayServer
from devstack.job_runner import WORKER_TIMEOUT_SECONDS, QueuePoller
from devstack.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from devstack.sqs_server import SqsServer
from service import config, cors, jobs, worker
from service.bootstrap import build_generator
from service.errors import WorkerFailed
from service.flow import Generator
from service.handler import handle

LOCAL_REGION = "us-west-2"
KEPT_BUCKET = "imagegen-local"  # the bucket of a stack with a data dir, found again on restart
ENDED_WITH_EARLIER_RUN = "the local stack running this job stopped before the job ended"
JOB_WORKERS = 4  # concurrent job deliveries, as a mapping's concurrency would allow
# Receives before SQS moves a job's message to the dead-letter queue: the second delivery of a
# job whose worker crashed ends it failed, so only deliveries that fail before that get there.
MAX_RECEIVE_COUNT = 3


class LocalStack:
    """Start with ``start()`` (or ``with LocalStack() as stack``); ``stack.url`` is the API."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        env: Mapping[str, str] | None = None,
        region: str = LOCAL_REGION,
        serve_retired: bool = False,
        latency_seconds: float = 0.0,
        constant_images: bool = False,
        timeout_seconds: float = 29.0,
        separate_process: bool = False,
        api_keys: tuple[str, ...] = (),
        data_dir: Path | None = None,
    ) -> None:
        """``separate_process`` runs S3 and the emulator in a child process (faster under load;
        ``s3`` and ``bedrock`` are then None and faults are injected over HTTP). With
        ``api_keys`` the gateway requires one of them in ``x-api-key`` or ``Authorization:
        Bearer``, through the key authorizer, as a stage with API keys does. With ``data_dir``
        S3 keeps its bucket there, and a stack started on it later serves the same images."""
        self.host, self.port = host, port
        self.region = region
        self.extra_env = dict(env or {})
        self.timeout_seconds = timeout_seconds
        self.api_keys = tuple(api_keys)
        self.data_dir = data_dir
        options = {
            "serve_retired": serve_retired,
            "latency_seconds": latency_seconds,
            "constant_images": constant_images,
        }
        self.backing = BackingProcess(**options, data_dir=data_dir) if separate_process else None
        self.s3 = None if separate_process else S3Server(data_dir=data_dir)
        self.bedrock = None if separate_process else BedrockEmulatorServer(**options)
        self.sqs = SqsServer()
        self.pollers: list[QueuePoller] = []
        self.gateway: GatewayServer | None = None
        self.generator: Generator | None = None
        self.env: dict[str, str] = {}

    @property
    def url(self) -> str:
        assert self.gateway is not None, "call start() first"
        return self.gateway.url

    @property
    def s3_url(self) -> str:
        return self.backing.s3_url if self.backing else self.s3.url

    @property
    def bedrock_url(self) -> str:
        return self.backing.bedrock_url if self.backing else self.bedrock.url

    @property
    def bucket(self) -> str:
        return self.env[config.BUCKET]

    def s3_client(self, client_config: Config | None = None):
        """A boto3 S3 client for this stack's S3 (for tests and tools), with ``client_config``
        if given (say, the service's SigV4 and path-style settings)."""
        return boto3.client(
            "s3",
            region_name=self.region,
            endpoint_url=self.s3_url,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=client_config,
        )

    def health(self) -> dict:
        return {
            "status": "ok",
            "api": self.url,
            "s3_endpoint": self.s3_url,
            "bedrock_endpoint": self.bedrock_url,
            "bucket": self.bucket,
            "region": self.region,
            "data_dir": str(self.data_dir.absolute()) if self.data_dir else None,
            "emulated": True,
            "note": "Bedrock is emulated locally: images are labelled stand-ins, not model output.",
        }

    def start(self) -> LocalStack:
        """Start every part; if one fails (a busy port, say), stop those already started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalStack:
        for part in (self.backing, self.s3, self.bedrock, self.sqs):
            if part is not None:
                part.start()
        self.env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            config.REGION: self.region,
            "AWS_DEFAULT_REGION": self.region,  # Lambda sets both; boto3 reads this one
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.bedrock_url,
            "AWS_ENDPOINT_URL_SQS": self.sqs.url,
            # moto keeps S3 state per process: a fresh bucket keeps stacks apart.
            config.BUCKET: KEPT_BUCKET
            if self.data_dir
            else f"imagegen-local-{secrets.token_hex(4)}",
            config.CACHE_SECRET: self._cache_secret(),  # deployed, a stack secret
            **self.extra_env,
        }
        location = (
            {}
            if self.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        )
        s3 = self.s3_client()
        if self.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=self.bucket, **location)
        queues = self._create_queues()
        self.generator = build_generator(self.env)  # fails fast on bad configuration
        if self.data_dir:
            self._end_jobs_of_earlier_runs()
        # As infra configures the bucket: CORS for the allowed origins only.
        rules = cors.bucket_rules(self.generator.settings.allowed_origins)
        if rules:
            s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
        else:  # a kept bucket may have had origins before
            s3.delete_bucket_cors(Bucket=self.bucket)
        run = partial(worker.handle, service=self.generator)
        sqs = self.sqs_client()
        self.pollers = [
            QueuePoller(sqs, url, arn, self.region, run, workers).start()
            for (url, arn), workers in zip(queues, (JOB_WORKERS, 1), strict=True)
        ]
        handler = partial(handle, generator=lambda: self.generator)
        self.gateway = GatewayServer(
            handler,
            self.health,
            self.host,
            self.port,
            timeout_seconds=self.timeout_seconds,
            api_keys=self.api_keys,
            allowed_origins=self.generator.settings.allowed_origins,
        ).start()
        return self

    def _cache_secret(self) -> str:
        """A fresh one per run; with a data dir the one kept there (0600), as a deployed stack
        keeps its own, so the kept bucket's cached images are found again."""
        if self.data_dir is None:
            return secrets.token_hex(32)
        return private_secret(self.data_dir / "cache-secret")

    def _end_jobs_of_earlier_runs(self) -> None:
        """A kept bucket's unfinished jobs were queued in an earlier run's queue, which is gone:
        end them now, as reading them after their time limit would."""
        generator, s3 = self.generator, self.s3_client()
        prefix = generator.settings.job_prefix
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for item in (item for page in pages for item in page.get("Contents", [])):
            job_id, _, name = item["Key"].removeprefix(prefix).partition("/")
            if name == "state.json":
                job = generator.jobs.get(job_id)
                if job.status in (jobs.QUEUED, jobs.RUNNING):
                    generator.jobs.finish(job, error=WorkerFailed(ENDED_WITH_EARLIER_RUN))

    def sqs_client(self):
        return boto3.client(
            "sqs",
            region_name=self.region,
            endpoint_url=self.sqs.url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def _create_queues(self) -> list[tuple[str, str]]:
        """The jobs queue and its dead-letter queue, as infra creates them; their URLs go to
        the service, as deployed, unless the environment names others."""
        sqs, name = self.sqs_client(), f"imagegen-local-jobs-{secrets.token_hex(4)}"
        dead_url = sqs.create_queue(QueueName=f"{name}-dead-letters")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        attributes = {
            "VisibilityTimeout": str(int(WORKER_TIMEOUT_SECONDS)),
            "RedrivePolicy": json.dumps(redrive),
        }
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.env.setdefault(config.JOBS_QUEUE_URL, url)
        self.env.setdefault(config.JOBS_DEAD_LETTER_ARN, dead_arn)
        return [(url, arn), (dead_url, dead_arn)]

    def stop(self) -> None:
        """Stop the emulator first (a hung model call ends at once), then the job pollers and
        the gateway (which wait for work in flight), S3, SQS, and the model threads. Every
        poller is told first, so their last long polls run out together."""
        for poller in self.pollers:
            poller.signal_stop()
        for part in (self.bedrock, self.backing, *self.pollers, self.gateway, self.s3, self.sqs):
            if part is not None:
                part.stop()
        if self.generator is not None:
            self.generator.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
