"""Seeded requests answered from S3 instead of a paid Bedrock call, over real HTTP."""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.stack import LocalStack
from tests.conftest import http, post_json


@pytest.fixture(scope="module")
def cache_stack():
    env = {"IMAGEGEN_LOG_LEVEL": "WARNING", "IMAGEGEN_CACHE_SEEDED": "true"}
    with LocalStack(env=env) as running:
        yield running


def generate(stack, **body):
    before = stack.bedrock.calls["total"]
    status, _, answer = post_json(f"{stack.url}/images", {"prompt": "a kingfisher", **body})
    assert status == 200, answer
    return answer, stack.bedrock.calls["total"] - before


def test_a_repeated_seeded_request_is_served_from_s3_without_calling_bedrock(cache_stack):
    first, first_calls = generate(cache_stack, seed=4242, number_of_images=2)
    again, again_calls = generate(cache_stack, seed=4242, number_of_images=2)
    assert (first_calls, again_calls) == (2, 0)
    assert [i["key"] for i in again["images"]] == [i["key"] for i in first["images"]]
    assert [i["cached"] for i in again["images"]] == [True, True]
    assert again["cost"]["estimated_usd"] == 0 and again["cost"]["saved_usd"] == 0.08
    assert [(i["width"], i["height"], i["seed"]) for i in again["images"]] == [
        (i["width"], i["height"], i["seed"]) for i in first["images"]
    ]
    assert http("GET", again["image_url"])[2] == http("GET", first["image_url"])[2]


def test_requests_without_a_seed_or_with_the_random_seed_are_never_cached(cache_stack):
    for body in ({}, {}, {"seed": 0}, {"seed": 0}):
        answer, calls = generate(cache_stack, **body)
        assert calls == 1 and not answer["images"][0]["cached"]


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "a heron"},
        {"aspect_ratio": "16:9"},
        {"output_format": "jpeg"},
        {"negative_prompt": "blur"},
    ],
)
def test_any_different_parameter_misses_the_cache(cache_stack, change):
    generate(cache_stack, seed=77)
    answer, calls = generate(cache_stack, seed=77, **change)
    assert calls == 1 and not answer["images"][0]["cached"]


def test_cache_is_off_unless_the_deployment_enables_it(stack):
    generate(stack, seed=5)
    answer, calls = generate(stack, seed=5)
    assert calls == 1 and not answer["images"][0]["cached"]


def test_identical_seeded_requests_at_once_all_succeed_with_one_image(cache_stack):
    """Racing writes of one cache key: S3 answers 409 or 412 to all but one; none may fail."""
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: generate(cache_stack, seed=9090)[0], range(6)))
    assert len({a["images"][0]["key"] for a in answers}) == 1
    assert all(http("GET", a["image_url"])[0] == 200 for a in answers)


def test_cache_keys_are_not_a_plain_hash_of_what_a_caller_sent(cache_stack):
    """Someone who guesses the prompt and seed cannot compute the key of another's image."""
    answer, _ = generate(cache_stack, seed=31337)
    body = {"prompt": "a kingfisher", "aspect_ratio": "1:1", "seed": 31337, "output_format": "png"}
    canonical = json.dumps(
        ["stability.stable-image-core-v1:1", body, 0], sort_keys=True, separators=(",", ":")
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() not in answer["images"][0]["key"]


def test_a_repeated_seeded_edit_is_served_from_s3_and_another_input_is_not(cache_stack):
    source, _ = generate(cache_stack, seed=7)
    other, _ = generate(cache_stack, seed=8)

    def edit(key: str) -> tuple[dict, int]:
        before = cache_stack.bedrock.calls["total"]
        body = {"operation": "outpaint", "image": {"key": key}, "left": 16, "seed": 99}
        status, _, answer = post_json(f"{cache_stack.url}/images/edits", body)
        assert status == 200, answer
        return answer, cache_stack.bedrock.calls["total"] - before

    first, first_calls = edit(source["images"][0]["key"])
    again, again_calls = edit(source["images"][0]["key"])
    changed, changed_calls = edit(other["images"][0]["key"])
    assert (first_calls, again_calls, changed_calls) == (1, 0, 1)
    assert again["images"][0]["cached"] and again["images"][0]["key"] == first["images"][0]["key"]
    assert changed["images"][0]["key"] != first["images"][0]["key"]
