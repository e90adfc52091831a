"""Asynchronous jobs: their state in S3, and the rules that make each one run at most once.

A job is two objects under the jobs prefix: ``<id>/request.json`` (the body as the client sent
it, which may hold inline images) and ``<id>/state.json`` (status, times, result or error).
Every change of state is a conditional write on the state's ETag (S3 ``If-Match``,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), so two
deliveries of the same job cannot both claim it: the one that loses the race finds it taken and
calls no model. A claim holds a lease as long as the worker's own time: a delivery that finds
the job running within its lease is a duplicate (standard SQS delivers at least once) and is
dropped; one that finds the lease over, or a read after it, ends the job ``failed`` - a crashed
job is never run a second time.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from service.errors import ImageGenError, ModelTimeout, NotFound, StorageFailed, WorkerFailed

KINDS = ("generate", "edit")
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
ID_BYTES = 16  # 128 random bits: unguessable, so the id is the capability to read the job
# What a worker may still write after the job's deadline (storing images, ending the job): a
# read ends an unfinished job only this long after it, so a late result is not lost.
DEADLINE_GRACE_SECONDS = 60
CRASHED = (
    "the job's worker stopped before it finished (a crash or the Lambda timeout); it was not"
    " retried, so no model was called twice"
)


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def new_job_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    status: str
    created_at: str
    updated_at: str
    deadline_at: str  # when a job still queued or running is ended failed (model_timeout)
    attempts: int = 0
    lease_until: str | None = None  # a running job's worker is alive at most until then
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    etag: str = field(default="", compare=False)

    def as_state(self) -> dict[str, Any]:
        state = asdict(self)
        state.pop("etag")
        return state

    def public(self) -> dict[str, Any]:
        """``GET /jobs/{id}``: what a client sees (no attempts, no deadline bookkeeping)."""
        shown: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.result is not None:
            shown["result"] = self.result
        if self.error is not None:
            shown["error"] = self.error
        return shown


class JobStore:
    """Jobs in the image bucket under ``prefix``; ``clock`` gives aware UTC datetimes."""

    def __init__(self, s3, bucket: str, prefix: str, clock: Callable[[], datetime]) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self._clock = clock

    def _key(self, job_id: str, name: str) -> str:
        return f"{self.prefix}{job_id}/{name}.json"

    def _put(self, key: str, payload: dict[str, Any], **condition: str) -> str:
        """Write JSON under a condition; its ETag, or None if the condition failed."""
        try:
            answer = self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(payload, separators=(",", ":")).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return ""
            raise StorageFailed(f"could not write the job ({code or 'S3 error'})") from exc
        except BotoCoreError as exc:
            raise StorageFailed("could not reach job storage") from exc
        return answer["ETag"]

    def _get(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StorageFailed("could not read the job") from exc
        except BotoCoreError as exc:
            raise StorageFailed("could not reach job storage") from exc
        with answer["Body"] as body:
            return json.loads(body.read()), answer["ETag"]

    def create(self, kind: str, body: dict[str, Any], time_limit_seconds: float) -> Job:
        """A queued job holding ``body``; the request is written first, so a state that exists
        always has its request."""
        now = self._clock()
        job = Job(
            job_id=new_job_id(),
            kind=kind,
            status=QUEUED,
            created_at=timestamp(now),
            updated_at=timestamp(now),
            deadline_at=timestamp(now + timedelta(seconds=time_limit_seconds)),
        )
        if not self._put(self._key(job.job_id, "request"), body, IfNoneMatch="*"):
            raise StorageFailed("could not create the job (its id was taken)")
        etag = self._put(self._key(job.job_id, "state"), job.as_state(), IfNoneMatch="*")
        if not etag:
            raise StorageFailed("could not create the job (its id was taken)")
        return replace(job, etag=etag)

    def get(self, job_id: str) -> Job:
        """The job; 404 if unknown. An unfinished job is ended ``failed`` when read after its
        worker's lease (it crashed) or its deadline (it never ran)."""
        found = self._get(self._key(job_id, "state"))
        if found is None:
            raise NotFound(f"no job {job_id!r} (jobs expire like images)", field="id")
        job = Job(**found[0], etag=found[1])
        now = self._clock()
        if self.crashed(job):
            return self.finish(job, error=WorkerFailed(CRASHED)) or self.get(job_id)
        late = timestamp(now - timedelta(seconds=DEADLINE_GRACE_SECONDS)) > job.deadline_at
        if job.status in (QUEUED, RUNNING) and late:
            timeout = ModelTimeout("the job did not finish within its time limit")
            return self.finish(job, error=timeout) or self.get(job_id)
        return job

    def crashed(self, job: Job) -> bool:
        """Running past its worker's lease: the worker is gone."""
        return (
            job.status == RUNNING
            and job.lease_until is not None
            and timestamp(self._clock()) > job.lease_until
        )

    def request(self, job: Job) -> dict[str, Any]:
        found = self._get(self._key(job.job_id, "request"))
        if found is None:
            raise StorageFailed(f"job {job.job_id!r} has lost its request")
        return found[0]

    def claim(self, job_id: str, lease_seconds: float) -> Job | None:
        """Move a queued job to running for this delivery, leased for ``lease_seconds`` (the
        worker's own time left); None if it is not queued any more (another delivery has it,
        or it ended) or another delivery won the race."""
        job = self.get(job_id)
        if job.status != QUEUED:
            return None
        now = self._clock()
        running = replace(
            job,
            status=RUNNING,
            attempts=job.attempts + 1,
            updated_at=timestamp(now),
            lease_until=timestamp(now + timedelta(seconds=lease_seconds)),
        )
        etag = self._put(self._key(job_id, "state"), running.as_state(), IfMatch=job.etag)
        return replace(running, etag=etag) if etag else None

    def finish(
        self,
        job: Job,
        *,
        result: dict[str, Any] | None = None,
        error: ImageGenError | None = None,
    ) -> Job | None:
        """End ``job`` (as last read) with its result or error; None if its state changed since
        (someone else ended it)."""
        ended = replace(
            job,
            status=SUCCEEDED if error is None else FAILED,
            updated_at=timestamp(self._clock()),
            result=result,
            error=None if error is None else error.to_body()["error"],
        )
        etag = self._put(self._key(job.job_id, "state"), ended.as_state(), IfMatch=job.etag)
        return replace(ended, etag=etag) if etag else None
