"""The job worker: a Lambda behind the jobs queue (SQS event source mapping, batch size 1).

Each record names a job. A queued job is claimed (a conditional write, so one delivery wins)
and run with the worker's whole time, up to the job's deadline; it ends ``succeeded`` with the
synchronous answer or ``failed`` with the error the synchronous route would have answered. A
record for a job found already ``running`` is a redelivery after its worker crashed: the job
ends ``failed`` without calling a model again. Records from the dead-letter queue (deliveries
that kept failing before a claim) end their job ``failed`` too.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from service import logs
from service.bootstrap import get_generator
from service.errors import ImageGenError, NotFound, WorkerFailed
from service.flow import Generator
from service.jobs import CRASHED, RUNNING, Job

logger = logging.getLogger("imagegen")
SAFETY_MARGIN_SECONDS = 10.0  # to store the images and end the job before Lambda stops us


def _deadline(job: Job, context: Any) -> float:
    """Monotonic deadline: the job's own, or the function's remaining time, if sooner."""
    seconds = _epoch(job.deadline_at) - time.time()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        seconds = min(seconds, remaining() / 1000 - SAFETY_MARGIN_SECONDS)
    return time.monotonic() + max(0.0, seconds)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run_job(service: Generator, job_id: str, context: Any) -> None:
    """Run one delivery of ``job_id``: at most one model run per job, whatever is delivered."""
    jobs = service.jobs
    job = jobs.get(job_id)
    if job.status == RUNNING:
        jobs.finish(job, error=WorkerFailed(CRASHED))
        return
    claimed = jobs.claim(job_id)
    if claimed is None:  # ended already, or another delivery has it
        return
    body = jobs.request(claimed)
    deadline = _deadline(claimed, context)
    try:
        run = service.edit if claimed.kind == "edit" else service.generate
        result = run(body, deadline)
    except ImageGenError as error:
        jobs.finish(claimed, error=error)
        return
    except Exception:
        logger.exception("job failed", extra={"fields": {"job_id": job_id}})
        jobs.finish(claimed, error=WorkerFailed("the job failed in the worker; see its logs"))
        return
    jobs.finish(claimed, result=result)


def end_dead_letter(service: Generator, job_id: str) -> None:
    """A job whose deliveries all failed before it could run or end: it ends ``failed``."""
    job = service.jobs.get(job_id)
    if job.status in ("queued", RUNNING):
        service.jobs.finish(job, error=WorkerFailed(CRASHED))


def handle(event: dict, context: Any, service: Generator) -> None:
    """Process an SQS batch; a failure to reach S3 raises, so SQS delivers the record again."""
    for record in event.get("Records", []):
        job_id = json.loads(record["body"])["job_id"]
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
