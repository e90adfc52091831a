"""The parts of the job API that need no stack: the status URL and the async switch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from service.errors import InvalidField
from service.handler import _base_url
from service.job_api import wants_async


def event(path: str, called: str, resource: str = "/images", parameters=None) -> dict:
    return {
        "resource": resource,
        "path": path,
        "pathParameters": parameters,
        "headers": {"Host": "api.example.com", "X-Forwarded-Proto": "https"},
        "requestContext": {"path": called},
    }


@pytest.mark.parametrize(
    ("shape", "base"),
    [
        # execute-api URL: the stage comes before the resource
        (event("/images", "/prod/images"), "https://api.example.com/prod"),
        # a custom domain with a base path: API Gateway puts it in path and requestContext.path
        (event("/v2/images", "/v2/images"), "https://api.example.com/v2"),
        # a custom domain mapped at its root, and the local stack
        (event("/images", "/images"), "https://api.example.com"),
        (
            event("/prod/jobs/x", "/prod/jobs/abc", "/jobs/{id}", {"id": "abc"}),
            "https://api.example.com/prod",
        ),
    ],
)
def test_the_status_url_keeps_the_stage_or_base_path(shape, base):
    assert _base_url(shape) == base


QUEUE = SimpleNamespace(queue=object())
NO_QUEUE = SimpleNamespace(queue=None)


@pytest.mark.parametrize(
    ("service", "body", "prefer", "wanted"),
    [
        (QUEUE, {"async": True}, None, True),
        (QUEUE, {"async": False}, "respond-async", False),  # the body's explicit answer wins
        (QUEUE, {}, "wait=5, respond-async", True),
        (QUEUE, {}, "RESPOND-ASYNC;x=1", True),
        (QUEUE, {}, None, False),
        (NO_QUEUE, {}, "respond-async", False),  # a preference, answered synchronously
    ],
)
def test_async_comes_from_the_body_or_the_prefer_header(service, body, prefer, wanted):
    assert wants_async(service, body, prefer) is wanted
    assert "async" not in body


def test_an_explicit_async_without_jobs_is_a_400():
    with pytest.raises(InvalidField) as caught:
        wants_async(NO_QUEUE, {"async": True}, None)
    assert caught.value.field == "async"
