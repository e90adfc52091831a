"""The REST API over real HTTP: gateway -> handler -> emulator -> moto S3 -> presigned GET."""

import io
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from devstack.stack import LocalStack
from tests.conftest import http, post_json


def fetch_raw(url: str) -> bytes:
    status, _, data = http("GET", url)
    assert status == 200
    return data


def http_json(method: str, url: str) -> tuple[int, object, dict]:
    status, headers, raw = http(method, url)
    return status, headers, json.loads(raw)


def fetch_image(url: str) -> tuple[Image.Image, str]:
    status, headers, data = http("GET", url)
    assert status == 200
    image = Image.open(io.BytesIO(data))
    image.load()
    return image, headers["Content-Type"]


def test_health_names_the_endpoints_and_bucket(stack):
    status, _, raw = http("GET", f"{stack.url}/health")
    health = json.loads(raw)
    assert status == 200
    assert health["s3_endpoint"] == stack.s3_url and health["bedrock_endpoint"] == stack.bedrock_url
    assert health["bucket"] == stack.bucket and health["emulated"] is True


@pytest.mark.parametrize(
    ("body", "size", "fmt"),
    [
        ({"prompt": "a lighthouse"}, (1024, 1024), "PNG"),
        (
            {"prompt": "a lighthouse", "aspect_ratio": "16:9", "output_format": "jpeg"},
            (1344, 768),
            "JPEG",
        ),
        (
            {
                "prompt": "a lighthouse",
                "model": "sd3.5-large",
                "width": 768,
                "height": 1344,
                "output_format": "webp",
            },
            (768, 1344),
            "WEBP",
        ),
    ],
)
def test_post_then_download_an_image_of_the_requested_size_and_format(stack, body, size, fmt):
    status, _, answer = post_json(f"{stack.url}/images", body)
    assert status == 200, answer
    image, content_type = fetch_image(answer["image_url"])
    assert (image.size, image.format) == (size, fmt)
    assert content_type == answer["images"][0]["content_type"] == f"image/{fmt.lower()}"
    assert (answer["images"][0]["width"], answer["images"][0]["height"]) == size


def test_answer_shape_keeps_image_url_and_adds_details(stack):
    _, _, answer = post_json(
        f"{stack.url}/images", {"prompt": "a fox", "seed": 1234, "number_of_images": 2}
    )
    assert answer["model"] == "stable-image-core"
    assert answer["model_id"] == "stability.stable-image-core-v1:1"
    assert [i["seed"] for i in answer["images"]] == [1234, 1235]
    assert answer["expires_at"].endswith("Z") and answer["cost"]["estimated_usd"] == 0.08
    key = answer["images"][0]["key"]
    assert key.startswith("images/") and key.endswith(".png")


def test_seed_zero_returns_the_seed_the_model_chose(stack):
    _, _, answer = post_json(f"{stack.url}/images", {"prompt": "a fox", "seed": 0})
    assert answer["images"][0]["seed"] != 0


def test_stored_object_is_private_typed_and_carries_a_prompt_hash_not_the_prompt(stack):
    _, _, answer = post_json(f"{stack.url}/images", {"prompt": "secret plans", "seed": 3})
    key = answer["images"][0]["key"]
    head = stack.s3_client().head_object(Bucket=stack.bucket, Key=key)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"]["seed"] == "3" and "prompt-sha256" in head["Metadata"]
    assert "secret plans" not in json.dumps(head["Metadata"])
    unsigned, _, _ = http("GET", answer["image_url"].split("?")[0])
    assert unsigned == 403


def test_presigned_url_is_sigv4_with_the_configured_expiry(stack):
    _, _, answer = post_json(f"{stack.url}/images", {"prompt": "a fox"})
    query = parse_qs(urlsplit(answer["image_url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert "/us-west-2/s3/aws4_request" in query["X-Amz-Credential"][0]


def test_twenty_concurrent_posts_store_twenty_distinct_retrievable_images(stack):
    s3 = stack.s3_client()
    prefix = "images/"
    before = s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("KeyCount", 0)
    with ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda i: post_json(f"{stack.url}/images", {"prompt": "same prompt", "seed": 42}),
                range(20),
            )
        )
    assert all(status == 200 for status, _, _ in answers)
    keys = {answer["images"][0]["key"] for _, _, answer in answers}
    assert len(keys) == 20
    after = s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix).get("KeyCount", 0)
    assert after - before == 20
    for _, _, answer in answers:
        assert fetch_image(answer["image_url"])[0].size == (1024, 1024)


def raw_post(stack, body: bytes, content_type: str = "application/json"):
    status, headers, raw = http("POST", f"{stack.url}/images", body, {"Content-Type": content_type})
    return status, headers, json.loads(raw)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"not json", 400, "invalid_json", "body"),
        (b"[1, 2]", 400, "invalid_field", "body"),
        (b"{}", 400, "invalid_field", "prompt"),
        (b'{"prompt": ""}', 400, "invalid_field", "prompt"),
        (json.dumps({"prompt": "x" * 10_001}).encode(), 400, "invalid_field", "prompt"),
        (b'{"prompt": ["a"]}', 400, "invalid_field", "prompt"),
        (b'{"prompt": "a", "width": "1024", "height": 1024}', 400, "invalid_field", "width"),
        (b'{"prompt": "a", "model": "midjourney"}', 400, "invalid_field", "model"),
        (b'{"prompt": "a", "model": "sdxl"}', 400, "model_retired", "model"),
        (b'{"prompt": "a", "width": 99999, "height": 1024}', 400, "invalid_field", "width"),
        (b'{"prompt": "a", "seed": 4294967296}', 400, "invalid_field", "seed"),
        (b'{"prompt": "a", "cfg_scale": 50}', 400, "invalid_field", "cfg_scale"),
        (b'{"prompt": "a", "number_of_images": 0}', 400, "invalid_field", "number_of_images"),
        (json.dumps({"prompt": "a" * 70_000}).encode(), 413, "payload_too_large", "body"),
    ],
)
def test_bad_input_gets_its_documented_4xx_with_the_field_named(stack, body, status, code, field):
    got, _, answer = raw_post(stack, body)
    assert (got, answer["error"]["code"], answer["error"]["field"]) == (status, code, field)
    assert "Traceback" not in answer["error"]["message"]


def test_wrong_content_type_is_415(stack):
    status, _, answer = raw_post(stack, b"prompt=a", "application/x-www-form-urlencoded")
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")


def test_retired_model_answer_names_end_of_life_and_replacement(stack):
    _, _, answer = raw_post(stack, b'{"prompt": "a", "model": "stability.stable-diffusion-xl-v1"}')
    assert "2025-05-20" in answer["error"]["message"]
    assert "stable-image-core" in answer["error"]["message"]


def test_the_classic_recipe_request_works_where_sdxl_is_still_served(retired_stack):
    recipe = {
        "prompt": "a cat",
        "model": "stability.stable-diffusion-xl-v1",
        "cfg_scale": 10,
        "steps": 30,
        "seed": 0,
    }
    status, _, answer = post_json(f"{retired_stack.url}/images", recipe)
    assert status == 200, answer
    assert fetch_image(answer["image_url"])[0].size == (1024, 1024)


def test_titan_gives_several_images_at_an_exact_size(retired_stack):
    status, _, answer = post_json(
        f"{retired_stack.url}/images",
        {
            "prompt": "a cat",
            "model": "titan-image-v2",
            "width": 1152,
            "height": 768,
            "number_of_images": 2,
            "seed": 9,
        },
    )
    assert status == 200, answer
    assert len(answer["images"]) == 2
    for image in answer["images"]:
        assert fetch_image(image["url"])[0].size == (1152, 768)


@pytest.mark.parametrize("model", ["titan-image-v2", "stable-image-core"])
def test_every_seed_in_an_answer_reproduces_its_own_image(retired_stack, model):
    body = {"prompt": "a cat", "model": model, "number_of_images": 3, "seed": 9}
    status, _, answer = post_json(f"{retired_stack.url}/images", body)
    assert status == 200, answer
    seeds = [image["seed"] for image in answer["images"]]
    assert len(set(seeds)) == 3
    for image in answer["images"]:
        single = {**body, "number_of_images": 1, "seed": image["seed"]}
        _, _, again = post_json(f"{retired_stack.url}/images", single)
        assert fetch_raw(again["image_url"]) == fetch_raw(image["url"])


def test_models_advertise_the_deployments_image_cap(stack):
    """Titan could make 5 images, but this deployment caps requests at 4."""
    _, _, answer = http_json("GET", f"{stack.url}/models")
    caps = {m["alias"]: m["limits"]["max_images"] for m in answer["models"]}
    assert caps["titan-image-v2"] == 4 and max(caps.values()) == 4


def test_a_model_not_offered_in_the_region_is_503(retired_stack):
    status, _, answer = post_json(
        f"{retired_stack.url}/images", {"prompt": "a cat", "model": "nova-canvas"}
    )
    assert (status, answer["error"]["code"]) == (503, "model_unavailable")


def test_nova_canvas_in_its_region_gives_free_sizes():
    env = {
        "IMAGEGEN_LOG_LEVEL": "WARNING",
        "IMAGEGEN_ENABLED_RETIRED_MODELS": "nova-canvas",
        "IMAGEGEN_DEFAULT_MODEL": "nova-canvas",
    }
    with LocalStack(env=env, region="us-east-1", serve_retired=True) as stack:
        status, _, answer = post_json(
            f"{stack.url}/images",
            {"prompt": "a cat", "width": 1280, "height": 720, "number_of_images": 3},
        )
        assert status == 200, answer
        assert [fetch_image(i["url"])[0].size for i in answer["images"]] == [(1280, 720)] * 3


def test_openapi_document_is_served(stack):
    status, _, raw = http("GET", f"{stack.url}/openapi.yaml")
    assert status == 200 and b"/images:" in raw


def test_a_fresh_url_for_an_earlier_image(stack):
    _, _, answer = post_json(f"{stack.url}/images", {"prompt": "a fox"})
    key = answer["images"][0]["key"]
    status, _, raw = http("GET", f"{stack.url}/images/url?key={key}")
    fresh = json.loads(raw)
    assert status == 200 and fresh["key"] == key and fresh["expires_at"].endswith("Z")
    assert fetch_image(fresh["url"])[0].size == (1024, 1024)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "invalid_field"),
        ("?key=", 400, "invalid_field"),
        ("?key=other/secret.png", 400, "invalid_field"),
        ("?key=images/../other/secret.png", 400, "invalid_field"),
        ("?key=images/2026/01/01/nope.png", 404, "not_found"),
    ],
)
def test_fresh_url_refuses_foreign_and_unknown_keys(stack, query, status, code):
    got, _, raw = http("GET", f"{stack.url}/images/url{query}")
    assert (got, json.loads(raw)["error"]["code"]) == (status, code)
