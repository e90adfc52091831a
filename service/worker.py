"""The job worker: a Lambda behind the jobs queue (SQS event source mapping, batch size 1).

Each record names a job. A queued job is claimed (a conditional write, so one delivery wins)
with a lease as long as this invocation's time, and run with that time, up to the job's
deadline; it ends ``succeeded`` with the synchronous answer or ``failed`` with the error the
synchronous route would have answered. A record for a job already ``running`` is a duplicate
while the lease holds (standard SQS delivers at least once: it is dropped) and a crashed worker
after it (the job ends ``failed`` without calling a model again). Records from the dead-letter
queue end their job ``failed`` the same way. A record that names no job is logged and dropped:
raising would only have SQS deliver it again and again.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from service import logs
from service.bootstrap import get_generator
from service.errors import ImageGenError, NotFound, StorageFailed, WorkerFailed
from service.flow import Generator
from service.jobs import CRASHED, QUEUED, Job

logger = logging.getLogger("imagegen")
SAFETY_MARGIN_SECONDS = 10.0  # to store the images and end the job before Lambda stops us
FINISH_ATTEMPTS = 3  # writing the end of a job that made images is worth a retry
LEASE_WITHOUT_CONTEXT_SECONDS = 900.0  # Lambda's longest run, when no context says less


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _remaining(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if remaining is not None else LEASE_WITHOUT_CONTEXT_SECONDS


def _deadline(job: Job, context: Any) -> float:
    """Monotonic deadline: the job's own, or this invocation's time left, if sooner."""
    seconds = min(
        _epoch(job.deadline_at) - time.time(), _remaining(context) - SAFETY_MARGIN_SECONDS
    )
    return time.monotonic() + max(0.0, seconds)


def _finish(service: Generator, job: Job, **ending: Any) -> None:
    """End the job; a storage failure is retried, and a lost race logged (someone else ended
    it: a read after the deadline), with the images' keys so nothing is silently orphaned."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            if service.jobs.finish(job, **ending) is None:
                result = ending.get("result") or {}
                keys = [image["key"] for image in result.get("images", [])]
                logger.warning("job ended by another", extra={"fields": {"keys": keys}})
            return
        except StorageFailed:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * 2**attempt)


def run_job(service: Generator, job_id: str, context: Any) -> None:
    """Run one delivery of ``job_id``: at most one model run per job, whatever is delivered."""
    jobs = service.jobs
    job = jobs.get(job_id)  # ends it failed if its worker's lease is over
    if job.status != QUEUED:
        return  # running under a live lease (a duplicate), or ended
    claimed = jobs.claim(job_id, _remaining(context))
    if claimed is None:  # another delivery won the claim
        return
    try:
        body = jobs.request(claimed)
        run = service.edit if claimed.kind == "edit" else service.generate
        result = run(body, _deadline(claimed, context))
    except ImageGenError as error:
        _finish(service, claimed, error=error)
        return
    except Exception:
        logger.exception("job failed")
        _finish(service, claimed, error=WorkerFailed("the job failed in the worker; see its logs"))
        return
    _finish(service, claimed, result=result)


def end_dead_letter(service: Generator, job_id: str) -> None:
    """A job whose deliveries all failed: it ends ``failed``, unless a live worker holds it."""
    job = service.jobs.get(job_id)
    if job.status == QUEUED:
        service.jobs.finish(job, error=WorkerFailed(CRASHED))


def _job_id(record: dict) -> str | None:
    try:
        job_id = json.loads(record["body"])["job_id"]
    except (KeyError, TypeError, ValueError):
        return None
    return job_id if isinstance(job_id, str) and job_id else None


def handle(event: dict, context: Any, service: Generator) -> None:
    """Process an SQS batch; a failure to reach S3 raises, so SQS delivers the record again."""
    for record in event.get("Records", []):
        job_id = _job_id(record)
        if job_id is None:
            logger.error("a jobs-queue record names no job; dropped", extra={"fields": {}})
            continue
        token = logs.request_id.set(f"job-{job_id}")
        try:
            if record.get("eventSourceARN") == service.settings.jobs_dead_letter_arn:
                end_dead_letter(service, job_id)
            else:
                run_job(service, job_id, context)
        except NotFound:
            logger.warning("no such job", extra={"fields": {"job_id": job_id}})
        finally:
            logs.request_id.reset(token)


def lambda_handler(event: dict, context: Any) -> None:
    """Entry point for the jobs queue's and the dead-letter queue's event source mappings."""
    handle(event, context, get_generator())
