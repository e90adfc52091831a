"""Bedrock failures injected in the emulator, seen through the real HTTP API."""

import pytest

from devstack.stack import LocalStack
from tests.conftest import post_json


@pytest.fixture(scope="module")
def fault_stack():
    # Room for the bounded backoff between three attempts.
    env = {
        "IMAGEGEN_LOG_LEVEL": "WARNING",
        "IMAGEGEN_TIME_BUDGET_SECONDS": "10",
        "IMAGEGEN_RETRY_AFTER_SECONDS": "3",
    }
    with LocalStack(env=env) as running:
        yield running


def objects(stack) -> int:
    s3 = stack.s3_client()
    return s3.list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0)


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        (["throttle"] * 3, 429, "throttled"),
        (["content_filter"], 422, "content_filtered"),
        (["server_error"] * 3, 502, "model_error"),
        (["model_error"], 502, "model_error"),
        (["malformed"], 502, "model_error"),
        (["bad_base64"], 502, "model_error"),
        (["not_image"], 502, "model_error"),
        (["empty"], 502, "model_error"),
        (["access_denied"], 503, "model_unavailable"),
        (["unavailable"] * 3, 503, "bedrock_unavailable"),
        (["rejected"], 502, "model_rejected_request"),
    ],
)
def test_each_fault_maps_to_its_documented_answer_and_stores_nothing(
    fault_stack, faults, status, code
):
    before = objects(fault_stack)
    fault_stack.bedrock.inject(*faults)
    got, headers, answer = post_json(f"{fault_stack.url}/images", {"prompt": "a cat"})
    assert (got, answer["error"]["code"]) == (status, code)
    if code in ("throttled", "bedrock_unavailable"):
        assert headers["Retry-After"] == "3"
    assert objects(fault_stack) == before


def test_banned_words_are_a_422(fault_stack):
    status, _, answer = post_json(f"{fault_stack.url}/images", {"prompt": "something forbidden"})
    assert (status, answer["error"]["code"]) == (422, "content_filtered")


def test_throttling_is_retried_with_a_bound(fault_stack):
    before = fault_stack.bedrock.calls["total"]
    fault_stack.bedrock.inject("throttle")
    status, _, _ = post_json(f"{fault_stack.url}/images", {"prompt": "a cat"})
    assert status == 200
    assert fault_stack.bedrock.calls["total"] - before == 2


def test_enabled_retired_model_the_account_cannot_reach_is_503():
    env = {"IMAGEGEN_LOG_LEVEL": "WARNING", "IMAGEGEN_ENABLED_RETIRED_MODELS": "sdxl"}
    with LocalStack(env=env, serve_retired=False) as stack:
        status, _, answer = post_json(f"{stack.url}/images", {"prompt": "a", "model": "sdxl"})
    assert (status, answer["error"]["code"]) == (503, "model_unavailable")


def test_a_hanging_model_answers_504_and_no_paid_call_follows():
    """The read timeout fits the time left and is not retried: one model call, then 504."""
    env = {"IMAGEGEN_LOG_LEVEL": "WARNING", "IMAGEGEN_TIME_BUDGET_SECONDS": "3"}
    with LocalStack(env=env) as stack:
        stack.bedrock.inject("hang", "throttle", "throttle")
        status, _, answer = post_json(f"{stack.url}/images", {"prompt": "a cat"})
        assert (status, answer["error"]["code"]) == (504, "model_timeout")
        stack.generator.close()  # wait for the worker still reading the hung call
        assert stack.bedrock.calls["total"] == 1
        assert objects(stack) == 0


def test_a_blocked_image_among_several_is_left_out_with_a_note(fault_stack):
    fault_stack.bedrock.inject("content_filter")
    status, _, answer = post_json(
        f"{fault_stack.url}/images", {"prompt": "a cat", "number_of_images": 3}
    )
    assert status == 200 and len(answer["images"]) == 2
    assert "1 of 3 images were blocked" in answer["notes"][0]
