"""Storage failures, retry storms, load and clean shutdown: the local stack under stress."""

import hashlib
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.stack import LocalStack
from service.bootstrap import build_generator
from service.handler import handle
from tests.conftest import http, lambda_context, post_json


def count_objects(stack: LocalStack) -> int:
    return stack.s3_client().list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0)


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def test_a_missing_bucket_is_a_502_storage_error():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "ERROR"}) as stack:
        generator = build_generator({**stack.env, "IMAGEGEN_BUCKET": "no-such-bucket"})
        event = {"resource": "/images", "httpMethod": "POST", "body": '{"prompt": "a cat"}'}
        response = handle(event, lambda_context("reliability"), lambda: generator)
        body = json.loads(response["body"])
        assert (response["statusCode"], body["error"]["code"]) == (502, "storage_error")
        assert "NoSuchBucket" in body["error"]["message"]
        assert count_objects(stack) == 0


def test_s3_down_is_a_502_and_nothing_is_half_written():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "ERROR"}) as stack:
        stack.s3.stop()
        status, _, answer = post_json(f"{stack.url}/images", {"prompt": "a cat"})
        assert (status, answer["error"]["code"]) == (502, "storage_error")
        assert answer["error"]["message"] == "could not reach image storage"


def test_a_throttled_burst_does_not_multiply_into_a_retry_storm():
    env = {"IMAGEGEN_LOG_LEVEL": "ERROR", "IMAGEGEN_TIME_BUDGET_SECONDS": "15"}
    with LocalStack(env=env) as stack:
        stack.bedrock.inject(*["throttle"] * 1000)
        with ThreadPoolExecutor(10) as pool:
            answers = list(
                pool.map(lambda _: post_json(f"{stack.url}/images", {"prompt": "a cat"}), range(10))
            )
        assert {status for status, _, _ in answers} == {429}
        assert all(headers["Retry-After"] for _, headers, _ in answers)
        assert stack.bedrock.calls["total"] <= 10 * 3  # at most 3 attempts per request
        assert count_objects(stack) == 0


def test_load_200_requests_at_concurrency_16_with_model_latency():
    with LocalStack(
        env={"IMAGEGEN_LOG_LEVEL": "ERROR"}, latency_seconds=0.05, constant_images=False
    ) as stack:

        def one(i: int):
            return post_json(f"{stack.url}/images", {"prompt": f"load test {i}"})

        with ThreadPoolExecutor(16) as pool:
            first = list(pool.map(one, range(100)))
            middle = rss_mb()
            second = list(pool.map(one, range(100, 200)))
            end = rss_mb()
        answers = first + second
        assert [status for status, _, _ in answers] == [200] * 200
        keys = {answer["images"][0]["key"] for _, _, answer in answers}
        assert len(keys) == 200 and count_objects(stack) == 200
        digests = {
            hashlib.sha256(http("GET", answer["image_url"])[2]).hexdigest()
            for _, _, answer in answers
        }
        assert len(digests) == 200
        assert end - middle < 40, f"memory grew {end - middle:.0f} MB in the second half"


def port_is_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def test_stopping_the_stack_closes_every_port_and_thread():
    threads_before = set(threading.enumerate())
    stack = LocalStack(env={"IMAGEGEN_LOG_LEVEL": "ERROR"}).start()
    urls = [stack.url, stack.s3_url, stack.bedrock_url]
    assert post_json(f"{stack.url}/images", {"prompt": "a cat"})[0] == 200
    stack.stop()
    assert all(port_is_closed(url) for url in urls)
    leftover = [
        t
        for t in set(threading.enumerate()) - threads_before
        if t.name in ("gateway", "bedrock-emulator", "moto-s3")
    ]
    assert leftover == []


@pytest.mark.parametrize(
    "prompt", ["一只在雨中的狐狸", "🦊 in the rain 🌧️", "ä" * 10_000, "line one\nline two\ttabbed"]
)
def test_unicode_and_whitespace_prompts_up_to_the_limit_are_accepted(stack, prompt):
    status, _, answer = post_json(f"{stack.url}/images", {"prompt": prompt})
    assert status == 200, answer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "ä" * 10_001}, "prompt"),
        ({"prompt": "bell\u0007"}, "prompt"),
        ({"prompt": "a", "negative_prompt": "\u202e\u0000"}, "negative_prompt"),
        ({"prompt": {"nested": {"deep": ["x"]}}}, "prompt"),
        ({"prompt": "a", "number_of_images": 5}, "number_of_images"),
        ({"prompt": "a", "width": 8193, "height": 1024}, "width"),
    ],
)
def test_limits_are_answered_with_the_field_named(stack, body, field):
    status, _, answer = post_json(f"{stack.url}/images", body)
    assert (status, answer["error"]["field"]) == (400, field)


def test_a_stack_with_a_backing_process_serves_and_stops_it():
    stack = LocalStack(env={"IMAGEGEN_LOG_LEVEL": "ERROR"}, separate_process=True).start()
    try:
        status, _, answer = post_json(f"{stack.url}/images", {"prompt": "a cat"})
        assert status == 200 and http("GET", answer["image_url"])[0] == 200
        child = stack.backing._process
    finally:
        stack.stop()
    assert child.returncode == 0
    assert port_is_closed(stack.s3_url) and port_is_closed(stack.bedrock_url)
