import io
import json
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from service import bedrock
from service.errors import (
    BedrockUnavailable,
    ContentFiltered,
    ModelFailed,
    ModelRejectedRequest,
    ModelTimeout,
    ModelUnavailable,
    Throttled,
)


@pytest.fixture
def client():
    return boto3.client(
        "bedrock-runtime", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )


def call(client, seconds: float = 10.0, abandoned: threading.Event | None = None):
    limits = bedrock.CallLimits(time.monotonic() + seconds, abandoned or threading.Event(), 7)
    return bedrock.invoke(
        lambda _: client,
        "stability.stable-image-core-v1:1",
        {"prompt": "a"},
        region="us-west-2",
        limits=limits,
    )


@pytest.mark.parametrize(
    ("code", "status", "message", "expected"),
    [
        ("ThrottlingException", 429, "Too many requests", Throttled),
        ("ServiceQuotaExceededException", 400, "quota", Throttled),
        ("ValidationException", 400, "invalid_prompts", ContentFiltered),
        (
            "ValidationException",
            400,
            "This request has been blocked by our content filters.",
            ContentFiltered,
        ),
        ("ValidationException", 400, "The provided model identifier is invalid.", ModelUnavailable),
        ("ValidationException", 400, "Malformed input request: #/seed", ModelRejectedRequest),
        ("ServiceUnavailableException", 503, "unavailable", BedrockUnavailable),
        ("AccessDeniedException", 403, "no access", ModelUnavailable),
        ("ResourceNotFoundException", 404, "end of its life", ModelUnavailable),
        ("ModelTimeoutException", 408, "timed out", ModelTimeout),
        ("ModelErrorException", 424, "failed", ModelFailed),
        ("InternalServerException", 500, "oops", ModelFailed),
    ],
)
def test_bedrock_errors_map_to_documented_answers(client, code, status, message, expected):
    with Stubber(client) as stub:
        for _ in range(bedrock.MAX_ATTEMPTS):  # retryable errors are tried again
            stub.add_client_error("invoke_model", code, message, status)
        with pytest.raises(expected) as caught:
            call(client)
    if expected in (Throttled, BedrockUnavailable):
        assert caught.value.headers() == {"Retry-After": "7"}
    if expected is ModelRejectedRequest:  # our catalogue allowed it: our bug, a 5xx
        assert caught.value.status_code == 502


def test_a_body_that_is_not_json_is_a_model_failure(client):
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_model", {"body": io.BytesIO(b"{trunc"), "contentType": "application/json"}
        )
        with pytest.raises(ModelFailed, match="not JSON"):
            call(client)


def test_a_json_answer_is_returned_as_a_dict(client):
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_model",
            {
                "body": io.BytesIO(json.dumps({"images": []}).encode()),
                "contentType": "application/json",
            },
        )
        assert call(client) == {"images": []}


class RecordingClient:
    """A bedrock-runtime stand-in that fails each call with the next error in ``errors``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def invoke_model(self, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"body": io.BytesIO(b'{"images": []}')}


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "InvokeModel")


def test_throttling_is_retried_at_most_max_attempts_times():
    fake = RecordingClient(*[throttled()] * 5)
    with pytest.raises(Throttled):
        call(fake)
    assert fake.calls == bedrock.MAX_ATTEMPTS


def test_a_read_timeout_is_not_retried():
    """The model may still be generating (and billing) on the first attempt."""
    fake = RecordingClient(ReadTimeoutError(endpoint_url="http://bedrock"))
    with pytest.raises(ModelTimeout):
        call(fake)
    assert fake.calls == 1


def test_no_attempt_starts_without_time_for_it():
    fake = RecordingClient()
    with pytest.raises(ModelTimeout):
        call(fake, seconds=bedrock.MIN_CALL_SECONDS / 2)
    assert fake.calls == 0


def test_no_attempt_starts_once_the_request_is_abandoned():
    abandoned = threading.Event()
    abandoned.set()
    fake = RecordingClient()
    with pytest.raises(ModelTimeout):
        call(fake, abandoned=abandoned)
    assert fake.calls == 0


def test_each_attempt_gets_a_read_timeout_within_the_time_left():
    asked: list[float] = []

    def client_for(seconds: float) -> RecordingClient:
        asked.append(seconds)
        return RecordingClient()

    limits = bedrock.CallLimits(time.monotonic() + 5, threading.Event(), 7)
    bedrock.invoke(client_for, "m", {}, region="us-west-2", limits=limits)
    assert len(asked) == 1 and 4 < asked[0] <= 5
