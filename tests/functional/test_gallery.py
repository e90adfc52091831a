"""GET /images (the gallery) and GET / (the playground) as proxy events into the handler, against
this module's own local stack (a fresh bucket), and the 405 of the path GET and POST share."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from service.bootstrap import get_generator
from service.handler import lambda_handler
from tests.conftest import lambda_context

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f0d2f10000000049454e44ae426082"
)
# Three days (one in an earlier year), several images on one of them.
DATED = [
    "images/2025/12/31/aa.png",
    "images/2026/01/02/b1.png",
    "images/2026/01/02/b2.png",
    "images/2026/01/02/b3.png",
    "images/2026/01/02/b4.png",
    "images/2026/02/10/c1.png",
]
NOT_LISTED = ["images/cache/0123abcd.png", "uploads/2026/02/10/up.png", "images/2026/02/x.png"]


@pytest.fixture(autouse=True)
def lambda_environment(stack, monkeypatch):
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    get_generator.cache_clear()
    yield
    get_generator.cache_clear()


@pytest.fixture(scope="module")
def stored(stack) -> list[str]:
    """The dated keys in the order the gallery must list them: day folders newest first, then
    LastModified newest first, then key (S3 keeps whole seconds)."""
    s3 = stack.s3_client()
    for i, key in enumerate(DATED):
        metadata = {"model": "m", "seed": str(i), "width": "1", "height": "1"}
        s3.put_object(
            Bucket=stack.bucket, Key=key, Body=PNG, ContentType="image/png", Metadata=metadata
        )
    for key in NOT_LISTED:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG, ContentType="image/png")
    listed = s3.list_objects_v2(Bucket=stack.bucket, Prefix="images/2")["Contents"]
    modified = {item["Key"]: item["LastModified"] for item in listed}

    within_day = sorted(DATED, key=lambda k: (-modified[k].timestamp(), k))
    return sorted(within_day, key=lambda k: k.split("/")[1:4], reverse=True)  # stable


def event(method: str, path: str, query: dict | None = None) -> dict:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "localhost"},
        "queryStringParameters": query,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"path": path},
    }


def call(method: str, path: str, query: dict | None = None) -> tuple[int, dict, str]:
    response = lambda_handler(event(method, path, query), lambda_context("gallery"))
    return response["statusCode"], response["headers"], response["body"]


def page(query: dict | None = None) -> dict:
    status, _, body = call("GET", "/images", query)
    assert status == 200, body
    return json.loads(body)


def test_pages_walk_every_image_newest_first_without_gaps(stored):
    seen, cursor, pages = [], None, 0
    while True:
        answer = page({"limit": "2", **({"cursor": cursor} if cursor else {})})
        assert len(answer["images"]) <= 2
        seen += [image["key"] for image in answer["images"]]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == stored
    assert pages == 3


def test_items_carry_metadata_and_a_fresh_url(stack, stored):
    (image,) = page({"limit": "1"})["images"]
    assert image["key"] == stored[0] == "images/2026/02/10/c1.png"
    assert (image["model"], image["seed"], image["width"], image["height"]) == ("m", 5, 1, 1)
    assert (image["content_type"], image["bytes"]) == ("image/png", len(PNG))
    datetime.fromisoformat(image["created_at"].replace("Z", "+00:00"))
    assert image["url"].startswith(f"{stack.s3_url}/{stack.bucket}/{stored[0]}?")
    assert "prompt" not in json.dumps(image)


def test_default_page_holds_everything_here_and_no_cursor(stored):
    answer = page()
    assert [i["key"] for i in answer["images"]] == stored
    assert answer["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", ""])
def test_a_bad_limit_is_a_400_naming_it(stored, limit):
    status, _, body = call("GET", "/images", {"limit": limit})
    assert status == 400 and json.loads(body)["error"]["field"] == "limit"


@pytest.mark.parametrize("cursor", ["nope", "W10", "eyJhIjoxfQ", "x" * 3000])
def test_a_bad_cursor_is_a_400_naming_it(stored, cursor):
    status, _, body = call("GET", "/images", {"cursor": cursor})
    assert status == 400 and json.loads(body)["error"]["field"] == "cursor"


@pytest.mark.parametrize(("method", "allow"), [("DELETE", "GET, POST"), ("PUT", "GET, POST")])
def test_the_shared_path_refuses_other_methods_with_both_allowed(method, allow):
    status, headers, body = call(method, "/images")
    assert (status, headers["Allow"]) == (405, allow)
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_the_playground_is_html_with_a_strict_policy(stack):
    status, headers, body = call("GET", "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<label for="prompt">Prompt</label>' in body
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    s3 = urlsplit(stack.s3_url)
    assert policy["img-src"] == f"'self' data: {s3.scheme}://{s3.netloc}"
    assert policy["connect-src"] == "'self'" and policy["default-src"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert policy["script-src"].startswith("'sha256-")
    assert "http" not in body.split("<script>")[0].split("</title>")[1]  # nothing external
