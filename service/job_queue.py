"""Hands a job to its worker through SQS.

SQS rather than an asynchronous self-invoke: the worker is a separate function with Lambda's
whole 15 minutes (the API's function stays short, within API Gateway's 29 s); a queue's
visibility timeout and redrive policy give every job a dead-letter path that ends it ``failed``
when its worker crashes, and the message carries only the job id (the request stays in S3).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from service.errors import StorageFailed


class JobQueue:
    """``sqs`` builds the client on the first job, so a cold start that serves no job (most of
    them) does not pay for it."""

    def __init__(self, sqs: Callable[[], Any], url: str) -> None:
        self._build = sqs
        self._sqs: Any = None
        self._lock = threading.Lock()  # building clients is not thread-safe in botocore
        self.url = url

    def _client(self) -> Any:
        with self._lock:
            if self._sqs is None:
                self._sqs = self._build()
            return self._sqs

    def send(self, job_id: str) -> None:
        try:
            self._client().send_message(
                QueueUrl=self.url, MessageBody=json.dumps({"job_id": job_id})
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageFailed("could not queue the job") from exc
