"""Hands a job to its worker through SQS.

SQS rather than an asynchronous self-invoke: the worker is a separate function with Lambda's
whole 15 minutes (the API's function stays short, within API Gateway's 29 s); a queue's
visibility timeout and redrive policy give every job a dead-letter path that ends it ``failed``
when its worker crashes, and the message carries only the job id (the request stays in S3).
"""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from service.errors import StorageFailed


class JobQueue:
    def __init__(self, sqs, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def send(self, job_id: str) -> None:
        try:
            self._sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps({"job_id": job_id}))
        except (ClientError, BotoCoreError) as exc:
            raise StorageFailed("could not queue the job") from exc
