import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from service import bedrock
from service.errors import (
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


def call(client):
    return bedrock.invoke(
        client,
        "stability.stable-image-core-v1:1",
        {"prompt": "a"},
        region="us-west-2",
        retry_after=7,
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
        ("AccessDeniedException", 403, "no access", ModelUnavailable),
        ("ResourceNotFoundException", 404, "end of its life", ModelUnavailable),
        ("ModelTimeoutException", 408, "timed out", ModelTimeout),
        ("ModelErrorException", 424, "failed", ModelFailed),
        ("InternalServerException", 500, "oops", ModelFailed),
    ],
)
def test_bedrock_errors_map_to_documented_answers(client, code, status, message, expected):
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", code, message, status)
        with pytest.raises(expected) as caught:
            call(client)
    if expected is Throttled:
        assert caught.value.retry_after == 7


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
