"""The two roles' job grants, proven sufficient and minimal under moto's IAM enforcement.

As in test_role_policy.py: the dev stack's role policies (exactly what the program ships) are put
on roles in moto, and the service's own job code (``JobStore``, ``JobQueue``, built as
``service.bootstrap`` builds them from each function's environment) runs as those roles while
moto checks every S3 and SQS request against their policies.

What this shows: the API role creates and reads jobs and sends them, and cannot receive, delete
or touch the dead-letter queue; the worker role claims and ends jobs and does what its event
source mappings do (receive, delete, read attributes) on both queues, and cannot send a job or
sign an upload. What moto cannot show: the mapping itself (it polls with the role, as
``ConsumeJobQueues`` lets the role do here), KMS (dev has no key), and the queues' TLS-only
policies (moto treats every Condition as met, so they would deny everything here; they are
checked in test_jobs.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import disable_iam_authentication, enable_iam_authentication

from infra import iam
from service import aws
from service.catalogue import default_catalogue
from service.config import Settings
from service.job_queue import JobQueue
from service.jobs import RUNNING, SUCCEEDED, JobStore
from service.storage import utcnow
from tests.infra.conftest import StackRun

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
UPLOADED = "uploads/2025/01/01/0123456789abcdef0123456789abcdef.png"


@dataclass
class AsRole:
    s3: Any
    sqs: Any
    jobs: JobStore
    bucket: str
    queue_url: str
    dead_letter_url: str


def _environment(run: StackRun, function) -> dict[str, str]:
    return {**function.inputs["environment"]["variables"], "AWS_REGION": run.region}


@contextmanager
def as_role(run: StackRun, function, document: dict) -> Iterator[AsRole]:
    """moto with the stack's bucket and queues (their real names), a role with ``document``,
    and the service's clients for ``function``'s environment, signed as that role."""
    env = _environment(run, function)
    bucket, region = env["IMAGEGEN_BUCKET"], run.region
    names = [
        run.named(f"imagegen-{run.stack}-{q}").inputs["name"] for q in ("jobs", "jobs-dead-letters")
    ]
    with mock_aws():
        admin_s3 = boto3.client("s3", region_name=region)
        admin_s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )
        admin_s3.put_object(Bucket=bucket, Key=UPLOADED, Body=PNG, ContentType="image/png")
        admin_sqs = boto3.client("sqs", region_name=region)
        urls = [admin_sqs.create_queue(QueueName=name)["QueueUrl"] for name in names]
        client = boto3.client("iam", region_name=region)
        trust = json.dumps(iam.assume_role("lambda.amazonaws.com"))
        role = client.create_role(RoleName="imagegen-dev-role", AssumeRolePolicyDocument=trust)
        client.put_role_policy(
            RoleName="imagegen-dev-role", PolicyName="fn", PolicyDocument=json.dumps(document)
        )
        credentials = boto3.client("sts", region_name=region).assume_role(
            RoleArn=role["Role"]["Arn"], RoleSessionName="imagegen-dev-role"
        )["Credentials"]
        env |= {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
        settings = Settings.from_env(env, default_catalogue())
        session = aws.session(settings, env)
        s3, sqs = aws.s3(session, settings, env), aws.sqs(session, settings, env)
        jobs = JobStore(s3, bucket, settings.job_prefix, utcnow)
        with enable_iam_authentication():
            yield AsRole(s3, sqs, jobs, bucket, urls[0], urls[1])


def refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        return status == 403 or error.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


@pytest.fixture(scope="module")
def api_document(dev: StackRun) -> dict:
    return dev.policy


@pytest.fixture(scope="module")
def worker_document(dev: StackRun) -> dict:
    return dev.worker_policy


def test_the_api_role_creates_reads_and_queues_jobs(dev, api_document):
    with as_role(dev, dev.function, api_document) as role:
        job = role.jobs.create("generate", {"prompt": "a lighthouse"}, 840)
        assert role.jobs.get(job.job_id).status == "queued"
        assert role.jobs.request(job) == {"prompt": "a lighthouse"}
        JobQueue(lambda: role.sqs, _environment(dev, dev.function)["IMAGEGEN_JOBS_QUEUE_URL"]).send(
            job.job_id
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.sqs.receive_message(QueueUrl=r.queue_url),
        lambda r: r.sqs.get_queue_attributes(QueueUrl=r.queue_url, AttributeNames=["All"]),
        lambda r: r.sqs.purge_queue(QueueUrl=r.queue_url),
        lambda r: r.sqs.send_message(QueueUrl=r.dead_letter_url, MessageBody="{}"),
        lambda r: r.sqs.receive_message(QueueUrl=r.dead_letter_url),
        lambda r: r.s3.delete_object(Bucket=r.bucket, Key="jobs/x/state.json"),
    ],
    ids=["receive", "attributes", "purge", "send-dead-letter", "receive-dead-letter", "delete-job"],
)
def test_the_api_role_cannot_consume_or_delete_jobs(dev, api_document, call):
    with as_role(dev, dev.function, api_document) as role:
        assert refused(lambda: call(role))


def test_the_worker_role_claims_and_ends_a_job_and_consumes_both_queues(
    dev, api_document, worker_document
):
    with as_role(dev, dev.worker, worker_document) as role:
        # A job as the API function leaves it (written here with the worker's own grant).
        queued = role.jobs.create("generate", {"prompt": "a lighthouse"}, 840)
        claimed = role.jobs.claim(queued.job_id, 900)
        assert claimed is not None and claimed.status == RUNNING
        assert role.jobs.request(claimed) == {"prompt": "a lighthouse"}
        ended = role.jobs.finish(claimed, result={"images": []})
        assert ended is not None and role.jobs.get(queued.job_id).status == SUCCEEDED
        assert role.s3.get_object(Bucket=role.bucket, Key=UPLOADED)["Body"].read() == PNG
        for url in (role.queue_url, role.dead_letter_url):
            with disable_iam_authentication():  # the API function's send, or SQS's redrive
                role.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job_id": "j"}))
            # What the event source mapping does with the role: read, receive, delete.
            role.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
            (message,) = role.sqs.receive_message(QueueUrl=url)["Messages"]
            role.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.sqs.send_message(QueueUrl=r.queue_url, MessageBody="{}"),
        lambda r: r.sqs.send_message(QueueUrl=r.dead_letter_url, MessageBody="{}"),
        lambda r: r.sqs.purge_queue(QueueUrl=r.queue_url),
        lambda r: r.s3.put_object(Bucket=r.bucket, Key=f"{UPLOADED}.new", Body=PNG),
        lambda r: r.s3.delete_object(Bucket=r.bucket, Key=UPLOADED),
        lambda r: r.s3.put_object(Bucket=r.bucket, Key="elsewhere/x.json", Body=b"{}"),
    ],
    ids=["send", "send-dead-letter", "purge", "put-upload", "delete-upload", "put-elsewhere"],
)
def test_the_worker_role_cannot_send_jobs_or_write_uploads(dev, worker_document, call):
    with as_role(dev, dev.worker, worker_document) as role:
        assert refused(lambda: call(role))


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("sqs:ReceiveMessage", lambda r: r.sqs.receive_message(QueueUrl=r.queue_url)),
        (
            "sqs:DeleteMessage",
            lambda r: r.sqs.delete_message(QueueUrl=r.queue_url, ReceiptHandle="handle"),
        ),
    ],
)
def test_without_each_consumer_grant_the_mapping_could_not_work(dev, worker_document, action, call):
    """Minimal: without ReceiveMessage or DeleteMessage the worker's mapping could not take or
    acknowledge a job."""
    statements = [
        {**s, "Action": [a for a in s["Action"] if a != action]}
        for s in worker_document["Statement"]
    ]
    narrowed = {**worker_document, "Statement": [s for s in statements if s["Action"]]}
    with as_role(dev, dev.worker, narrowed) as role:
        assert refused(lambda: call(role))
