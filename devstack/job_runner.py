"""The local stand-in for Lambda's SQS event source mapping: pollers that hand each message of
the jobs queue (and of its dead-letter queue) to the real worker handler, as an SQS event.

As the mapping does (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): long polling,
batch size 1, the message deleted only when the handler returns, left to reappear after its
visibility timeout when the handler raises; SQS (moto) then moves it to the dead-letter queue
after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from devstack.gateway import LambdaContext

logger = logging.getLogger("imagegen.local")
WORKER_TIMEOUT_SECONDS = 900.0  # the worker function's timeout deployed: Lambda's maximum
POLL_SECONDS = 1  # long-poll wait: how long stop() may wait for a poller
Handler = Callable[[dict, Any], None]


def sqs_event(message: dict, queue_arn: str, region: str) -> dict:
    """One received message as the Lambda event the mapping sends (batch size 1)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        ]
    }


class QueuePoller:
    """``workers`` threads polling one queue; ``start()``, then ``stop()``."""

    def __init__(
        self, sqs, queue_url: str, queue_arn: str, region: str, handler: Handler, workers: int
    ) -> None:
        self._sqs, self._url, self._arn, self._region = sqs, queue_url, queue_arn, region
        self._handler = handler
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, name=f"job-worker-{i}", daemon=True)
            for i in range(workers)
        ]

    def start(self) -> QueuePoller:
        for thread in self._threads:
            thread.start()
        return self

    def signal_stop(self) -> None:
        """Let the threads end after their current poll (``stop`` then waits for them)."""
        self._stopping.set()

    def stop(self) -> None:
        self.signal_stop()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                answer = self._sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=POLL_SECONDS,
                    MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                )
            except Exception:  # the queue server is stopping
                if not self._stopping.is_set():
                    logger.exception("receiving from the jobs queue failed")
                return
            for message in answer.get("Messages", []):
                self._deliver(message)

    def _deliver(self, message: dict) -> None:
        try:
            self._handler(
                sqs_event(message, self._arn, self._region), LambdaContext(WORKER_TIMEOUT_SECONDS)
            )
        except Exception:  # as Lambda: the message stays, to be received again
            logger.exception("the job worker failed; the message will be delivered again")
            return
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
