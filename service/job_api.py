"""The asynchronous side of the API: ``"async": true`` (or ``Prefer: respond-async``) on
``POST /images`` and ``POST /images/edits`` answers 202 with a job, ``GET /jobs/{id}`` reports it.

A request is validated exactly as the synchronous route validates it before its job exists, so a
bad request is a 400 at once, never a failed job. ``Prefer`` is a preference (RFC 7240): where
jobs are off, the request is answered synchronously; an explicit ``"async": true`` there is a 400.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from service.errors import InvalidField, StorageFailed
from service.flow import Generator
from service.jobs import timestamp

ASYNC_FIELD = "async"
JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # service.jobs.new_job_id: 16 bytes, URL-safe base64


def wants_async(service: Generator, body: Any, prefer: str | None) -> bool:
    """Whether to answer with a job; takes ``async`` out of ``body`` (a JSON object)."""
    asked = body.pop(ASYNC_FIELD, None) if isinstance(body, dict) else None
    if asked is not None and not isinstance(asked, bool):
        raise InvalidField("'async' must be true or false", field=ASYNC_FIELD)
    if asked and service.queue is None:
        raise InvalidField(
            "asynchronous jobs are not enabled in this deployment; leave out 'async'",
            field=ASYNC_FIELD,
        )
    preferred = any(
        item.split(";")[0].strip().lower() == "respond-async" for item in (prefer or "").split(",")
    )
    return service.queue is not None and (bool(asked) or (asked is None and preferred))


def submit(service: Generator, kind: str, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Validate ``body`` like the synchronous route, store the job and queue it: 202."""
    if kind == "edit":
        service.editing(body)
    else:
        service.generation(body)
    job = service.jobs.create(kind, body, service.settings.job_time_limit_seconds)
    try:
        service.queue.send(job.job_id)
    except StorageFailed as error:  # never left queued with no message to run it
        service.jobs.finish(job, error=error)
        raise
    return {
        "job_id": job.job_id,
        "status": job.status,
        "status_url": f"{base_url}/jobs/{job.job_id}",
        "created_at": job.created_at,
    }


def status(service: Generator, job_id: Any) -> dict[str, Any]:
    """The job as ``GET /jobs/{id}`` shows it; a result's URLs are signed afresh."""
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidField("'id' must be a job id from a 202 answer", field="id")
    shown = service.jobs.get(job_id).public()
    result = shown.get("result")
    if result is not None:
        images = [
            image | {"url": service.store.presign(image["key"])} for image in result["images"]
        ]
        now = service.now()
        shown["result"] = result | {
            "images": images,
            "image_url": images[0]["url"],
            "expires_at": timestamp(now + timedelta(seconds=service.store.expiry_seconds)),
        }
    return shown
