"""Shared fixtures: a local stack per test module, and small HTTP helpers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from devstack.gateway import LambdaContext
from devstack.stack import LocalStack
from service.catalogue import OperationSpec

EVENTS = Path(__file__).parent / "events"

# Hypothesis keeps caches in the working tree by default: keep them in a temp dir instead.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="imagegen-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


# imagegen serve keeps its data, and other commands look for a running serve, in a data dir that
# defaults to one under the working tree: every test's commands get a fresh one in a temp dir.
_DATA_DIRS = tempfile.mkdtemp(prefix="imagegen-data-")


def fresh_data_dir() -> str:
    return tempfile.mkdtemp(dir=_DATA_DIRS)


os.environ["IMAGEGEN_DATA_DIR"] = fresh_data_dir()  # for commands run in this process
# The key that seals data dirs lives in the user's config folder: the tests' is a temp one.
os.environ["XDG_CONFIG_HOME"] = fresh_data_dir()


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)
    shutil.rmtree(_DATA_DIRS, ignore_errors=True)


# Property-based tests are derandomized: the same examples on every run and machine.
settings.register_profile(
    "imagegen",
    derandomize=True,
    database=None,  # write nothing into the working tree
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("imagegen")


def lambda_context(request_id: str = "test") -> LambdaContext:
    """The Lambda context a 29 s function would get, with a known request id."""
    context = LambdaContext(timeout_seconds=29)
    context.aws_request_id = request_id
    return context


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Message, bytes]:
    """One real HTTP request; returns (status, headers, body) for any status.

    The headers are the case-insensitive ``email.message.Message`` urllib gives.
    """
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def post_json(
    url: str, payload: object, headers: dict[str, str] | None = None
) -> tuple[int, Message, dict]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    status, answered, raw = http("POST", url, json.dumps(payload).encode(), sent)
    return status, answered, json.loads(raw)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The default local stack (only active models), shared by one test module."""
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}) as running:
        yield running


@pytest.fixture(scope="module")
def retired_stack() -> Iterator[LocalStack]:
    """A deployment that enables retired models, on an account that still has access."""
    env = {
        "IMAGEGEN_LOG_LEVEL": "WARNING",
        "IMAGEGEN_ENABLED_RETIRED_MODELS": "sdxl,titan-image-v2,nova-canvas",
    }
    with LocalStack(env=env, serve_retired=True) as running:
        yield running


def minimal_edit(operation: OperationSpec, image: dict) -> dict:
    """The smallest valid ``POST /images/edits`` body: required fields and inputs only."""
    body: dict = {"operation": operation.operation}
    for rule in operation.fields:
        if rule.required:
            body[rule.name] = 0.5 if rule.type == "number" else "a red fox in snow"
    for rule in operation.inputs:
        if rule.required or rule.unless_alpha_in:  # a mask, for an image without alpha
            body[rule.name] = image
    for name in operation.require_any[:1]:
        body[name] = 64
    return body


def emulator_client(url: str, region: str = "us-west-2"):
    """A bedrock-runtime client for an emulator at ``url``, without retries: every call is one
    request, so each injected fault is seen as is."""
    return boto3.client(
        "bedrock-runtime",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


def interrupt(proc: subprocess.Popen) -> str:
    """Ctrl-C as a terminal sends it (SIGINT to the process group); stderr once it has exited."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return stderr
