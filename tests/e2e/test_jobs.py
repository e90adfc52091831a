"""Asynchronous jobs through the real path: gateway -> handler -> S3 job state -> SQS (moto) ->
the local event source mapping -> the real worker -> emulator -> S3, polled over HTTP.

The emulator is slowed past the synchronous budget, so the synchronous route answers 504 while
the same request as a job succeeds."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from PIL import Image

from devstack.stack import LocalStack
from service import config
from service.catalogue import default_catalogue
from service.jobs import JobStore
from service.storage import utcnow
from tests.conftest import http, minimal_edit, post_json

CATALOGUE = default_catalogue()
POLL_SECONDS = 0.05
WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def slow():
    """Model calls take 1.5 s; the synchronous route has 1 s."""
    env = {
        "IMAGEGEN_LOG_LEVEL": "ERROR",
        "IMAGEGEN_TIME_BUDGET_SECONDS": "1",
        "IMAGEGEN_RETRY_AFTER_SECONDS": "1",
    }
    with LocalStack(env=env, latency_seconds=1.5) as running:
        yield running


def finished(stack, status_url: str, seen: set[str] | None = None) -> dict:
    """Poll like a client until the job ends; ``seen`` collects the statuses it went through."""
    give_up = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < give_up:
        status, _, raw = http("GET", status_url)
        assert status == 200, raw
        job = json.loads(raw)
        if seen is not None:
            seen.add(job["status"])
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(POLL_SECONDS)  # the client's poll interval, not synchronisation
    raise AssertionError(f"job did not end within {WAIT_SECONDS} s")


def submit(stack, path: str, body: dict, headers: dict | None = None):
    started = time.monotonic()
    status, answer_headers, raw = http(
        "POST",
        f"{stack.url}{path}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
    return status, answer_headers, json.loads(raw), time.monotonic() - started


def jobs(stack) -> JobStore:
    return JobStore(stack.s3_client(), stack.bucket, "jobs/", utcnow)


def test_a_job_survives_what_the_synchronous_route_cannot(slow):
    status, _, answer = post_json(f"{slow.url}/images", {"prompt": "a fox"})
    assert (status, answer["error"]["code"]) == (504, "model_timeout")

    status, headers, accepted, took = submit(slow, "/images", {"prompt": "a fox", "async": True})
    assert status == 202 and took < 1.0
    assert accepted["status"] == "queued" and len(accepted["job_id"]) >= 22  # 128 bits
    assert headers["Location"] == accepted["status_url"]
    assert accepted["status_url"] == f"{slow.url}/jobs/{accepted['job_id']}"
    seen: set[str] = set()
    job = finished(slow, accepted["status_url"], seen)
    assert job["status"] == "succeeded" and "running" in seen
    result = job["result"]
    assert result["model"] == "stable-image-core" and result["images"][0]["width"] == 1024
    assert http("GET", result["image_url"])[0] == 200


def test_prefer_respond_async_asks_for_a_job(slow):
    status, headers, accepted, _ = submit(
        slow, "/images", {"prompt": "a fox"}, {"Prefer": "respond-async, wait=100"}
    )
    assert status == 202 and headers["Preference-Applied"] == "respond-async"
    assert finished(slow, accepted["status_url"])["status"] == "succeeded"


def test_an_edit_runs_as_a_job(slow):
    image = io.BytesIO()
    Image.new("RGB", (256, 256), "steelblue").save(image, "PNG")
    upscale = CATALOGUE.operation("upscale-fast")
    body = minimal_edit(upscale, {"data": base64.b64encode(image.getvalue()).decode()})
    status, _, accepted, _ = submit(slow, "/images/edits", {**body, "async": True})
    assert status == 202, accepted
    job = finished(slow, accepted["status_url"])
    assert job["status"] == "succeeded" and job["result"]["operation"] == "upscale-fast"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "", "async": True}, "prompt"),
        ({"prompt": "a", "async": "yes"}, "async"),
        ({"prompt": "a", "model": "dall-e-3", "async": True}, "model"),
    ],
)
def test_a_bad_request_is_a_400_at_once_never_a_job(slow, body, field):
    status, _, answer, took = submit(slow, "/images", body)
    assert (status, answer["error"]["field"]) == (400, field) and took < 1.0


@pytest.mark.parametrize(
    ("faults", "code"),
    [(["content_filter"], "content_filtered"), (["throttle"] * 3, "throttled")],
)
def test_a_failing_model_ends_the_job_failed_with_the_mapped_error(slow, faults, code):
    slow.bedrock.inject(*faults)
    _, _, accepted, _ = submit(slow, "/images", {"prompt": "a fox", "async": True})
    job = finished(slow, accepted["status_url"])
    assert (job["status"], job["error"]["code"]) == ("failed", code)
    assert "result" not in job


def test_a_duplicated_delivery_calls_the_model_once(slow):
    before = slow.bedrock.calls["total"]
    _, _, accepted, _ = submit(slow, "/images", {"prompt": "a fox", "async": True})
    deliver(slow, accepted["job_id"])
    assert finished(slow, accepted["status_url"])["status"] == "succeeded"
    drained(slow)  # both deliveries processed
    assert slow.bedrock.calls["total"] - before == 1


def in_queue(stack) -> int:
    attributes = stack.sqs_client().get_queue_attributes(
        QueueUrl=stack.env[config.JOBS_QUEUE_URL],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_a_job_whose_worker_crashed_ends_failed_without_a_second_model_call(slow):
    """A worker that claimed the job and died: past its lease, the redelivery ends the job."""
    store, before = jobs(slow), slow.bedrock.calls["total"]
    job = store.create("generate", {"prompt": "a fox"}, 60)
    assert store.claim(job.job_id, lease_seconds=-1) is not None  # a lease already over
    deliver(slow, job.job_id)
    ended = finished(slow, f"{slow.url}/jobs/{job.job_id}")
    assert (ended["status"], ended["error"]["code"]) == ("failed", "worker_failed")
    assert slow.bedrock.calls["total"] == before


def test_a_duplicate_of_a_running_job_is_dropped(slow):
    """Standard SQS may deliver a message again while its job runs: the copy must neither run
    the model again nor end the job."""
    store, before = jobs(slow), slow.bedrock.calls["total"]
    job = store.create("generate", {"prompt": "a fox"}, 60)
    assert store.claim(job.job_id, lease_seconds=600) is not None  # a live worker has it
    deliver(slow, job.job_id)
    drained(slow)
    assert json.loads(http("GET", f"{slow.url}/jobs/{job.job_id}")[2])["status"] == "running"
    assert slow.bedrock.calls["total"] == before


def test_a_record_that_names_no_job_is_dropped(slow):
    sqs = slow.sqs_client()
    for body in ("not json", "[]", '{"job": 1}'):
        sqs.send_message(QueueUrl=slow.env[config.JOBS_QUEUE_URL], MessageBody=body)
    drained(slow)  # deleted, not delivered again


def deliver(stack, job_id: str) -> None:
    stack.sqs_client().send_message(
        QueueUrl=stack.env[config.JOBS_QUEUE_URL], MessageBody=json.dumps({"job_id": job_id})
    )


def drained(stack) -> None:
    """Wait until the jobs queue holds nothing, visible or in flight."""
    give_up = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < give_up and in_queue(stack):
        time.sleep(POLL_SECONDS)
    assert not in_queue(stack)


def test_a_dead_lettered_job_ends_failed(slow):
    store = jobs(slow)
    job = store.create("generate", {"prompt": "a fox"}, 60)
    dead = slow.env[config.JOBS_DEAD_LETTER_ARN].rsplit(":", 1)[1]
    sqs = slow.sqs_client()
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=dead)["QueueUrl"],
        MessageBody=json.dumps({"job_id": job.job_id}),
    )
    ended = finished(slow, f"{slow.url}/jobs/{job.job_id}")
    assert (ended["status"], ended["error"]["code"]) == ("failed", "worker_failed")


def test_a_job_past_its_time_limit_ends_failed_with_model_timeout():
    env = {"IMAGEGEN_LOG_LEVEL": "ERROR", config.JOB_TIME_LIMIT_SECONDS: "1"}
    with LocalStack(env=env, latency_seconds=2.0) as stack:
        _, _, accepted, _ = submit(stack, "/images", {"prompt": "a fox", "async": True})
        job = finished(stack, accepted["status_url"])
    assert (job["status"], job["error"]["code"]) == ("failed", "model_timeout")


def test_an_unknown_job_is_404_and_a_malformed_id_400(slow):
    status, _, raw = http("GET", f"{slow.url}/jobs/{'A' * 22}")
    assert (status, json.loads(raw)["error"]["code"]) == (404, "not_found")
    status, _, raw = http("GET", f"{slow.url}/jobs/no-such-job")
    assert (status, json.loads(raw)["error"]["field"]) == (400, "id")
