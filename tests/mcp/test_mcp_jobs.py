"""Generating and editing as asynchronous jobs, through the official ``mcp`` client (in memory,
over stdio and over HTTP): the local stack's model is slowed past the synchronous route's budget,
so only a job can answer. Progress notifications name the job while it runs, the answer is the
synchronous call's, ``get_job`` fetches a job that outlived its call, and a failed job is the
synchronous call's error."""

import re
import sys
from collections.abc import Iterator
from functools import partial

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from devstack import stack as stack_module
from devstack.stack import LocalStack
from mcp_server import server as mcp_module
from mcp_server.backends import GENERATE, DirectBackend
from mcp_server.server import server
from service import config
from tests.mcp.conftest import clean_env
from tests.mcp.test_mcp_edits import data_uri, png
from tests.mcp.test_mcp_http import TOKEN, mcp_over_http

pytestmark = pytest.mark.anyio
LATENCY_SECONDS = 1.5  # each model call; the synchronous route has 1 s
SLOW = {
    "IMAGEGEN_LOG_LEVEL": "ERROR",
    config.TIME_BUDGET_SECONDS: "1",
    config.RETRY_AFTER_SECONDS: "1",
}
# "generating: job <id> running (2s)": the progress message while a job runs.
JOB_PROGRESS = re.compile(r": job (\S+) (queued|running) \(\d+s\)$")
GET_JOB_HINT = re.compile(r"call get_job with job_id '([^']+)'")

UNKNOWN = "A" * 22  # the shape of a job id, but no job's


@pytest.fixture(scope="module")
def slow() -> Iterator[LocalStack]:
    with LocalStack(env=SLOW, latency_seconds=LATENCY_SECONDS) as running:
        yield running


@pytest.fixture(scope="module")
def without_jobs() -> Iterator[LocalStack]:
    """A deployment without a jobs queue: it answers ``Prefer: respond-async`` synchronously."""
    env = {"IMAGEGEN_LOG_LEVEL": "ERROR", config.JOBS_QUEUE_URL: ""}
    with LocalStack(env=env) as running:
        yield running


class Progress:
    """A progress callback keeping the messages it was sent."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.named_a_job = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")
        if JOB_PROGRESS.search(message or ""):
            self.named_a_job.set()

    def jobs(self) -> dict[str, set[str]]:
        """Each job the messages named, with the statuses they gave it."""
        named: dict[str, set[str]] = {}
        for message in self.messages:
            if found := JOB_PROGRESS.search(message):
                named.setdefault(found[1], set()).add(found[2])
        return named


def shape(result) -> dict:
    """What a client sees of an image answer, without the values that differ per call."""
    structured = result.structured_content
    return {
        "content": [type(block).__name__ for block in result.content],
        "lead": result.content[0].text.split(";")[0],
        "structured": sorted(structured),
        "images": [sorted(image) for image in structured["images"]],
    }


async def test_a_generation_past_the_synchronous_budget_runs_as_a_job_with_progress(
    slow, without_jobs, monkeypatch
):
    arguments = {"prompt": "a heron", "seed": 4, "aspect_ratio": "3:2"}
    monkeypatch.setenv("IMAGEGEN_API_URL", slow.url)
    progress = Progress()
    async with Client(server) as client:
        result = await client.call_tool("generate_image", arguments, progress_callback=progress)
    assert not result.is_error, result.content[0].text
    ((job_id, statuses),) = progress.jobs().items()  # one job, named while it ran
    assert "running" in statuses and len(job_id) >= 22
    assert progress.messages[0].startswith("generating")
    image = result.structured_content["images"][0]
    assert (image["seed"], image["width"], image["height"]) == (4, 1216, 832)

    monkeypatch.setenv("IMAGEGEN_API_URL", without_jobs.url)
    synchronous_progress = Progress()
    async with Client(server) as client:
        synchronous = await client.call_tool(
            "generate_image", arguments, progress_callback=synchronous_progress
        )
    assert not synchronous.is_error and not synchronous_progress.jobs()  # answered at once
    assert shape(result) == shape(synchronous)
    assert synchronous.structured_content["images"][0]["seed"] == 4


async def test_an_edit_runs_as_a_job_with_the_synchronous_answer(slow, without_jobs, monkeypatch):
    arguments = {"image": data_uri(png((256, 192))), "mode": "fast"}
    results = {}
    for stack in (slow, without_jobs):
        monkeypatch.setenv("IMAGEGEN_API_URL", stack.url)
        progress = Progress()
        async with Client(server) as client:
            results[stack] = await client.call_tool(
                "upscale_image", arguments, progress_callback=progress
            )
        assert not results[stack].is_error, results[stack].content[0].text
        assert bool(progress.jobs()) == (stack is slow)
    assert shape(results[slow]) == shape(results[without_jobs])
    assert results[slow].structured_content["operation"] == "upscale-fast"
    assert results[slow].structured_content["images"][0]["width"] == 1024


async def test_get_job_fetches_the_images_of_a_job_that_outlived_its_call(slow, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", slow.url)
    monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 0.5)
    async with Client(server) as client:
        timed_out = await client.call_tool("generate_image", {"prompt": "a heron", "seed": 8})
        text = timed_out.content[0].text
        assert timed_out.is_error and "timeout: job " in text and " keeps running" in text
        job_id = GET_JOB_HINT.search(text)[1]
        status = await client.call_tool("get_job", {"job_id": job_id, "wait": False})
        assert not status.is_error, status.content[0].text
        assert status.structured_content["job_id"] == job_id
        assert status.structured_content["status"] in ("queued", "running")
        assert f"Job {job_id} is " in status.content[0].text

        monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 30.0)
        progress = Progress()
        done = await client.call_tool("get_job", {"job_id": job_id}, progress_callback=progress)
        again = await client.call_tool("get_job", {"job_id": job_id, "wait": False})
    assert not done.is_error, done.content[0].text
    assert done.content[0].text.startswith("Generated 1 image(s) with stable-image-core")
    assert [type(block).__name__ for block in done.content] == [
        "TextContent",
        "ImageContent",
        "ResourceLink",
    ]
    assert done.structured_content["images"][0]["seed"] == 8
    assert set(progress.jobs()) <= {job_id}
    assert not again.is_error and again.structured_content["images"][0]["seed"] == 8


async def test_get_job_of_an_unknown_job_is_a_tool_error(slow, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_API_URL", slow.url)
    async with Client(server) as client:
        result = await client.call_tool("get_job", {"job_id": UNKNOWN})
        malformed = await client.call_tool("get_job", {"job_id": "no-such-job"})
    assert result.is_error and f"not_found: no job '{UNKNOWN}'" in result.content[0].text
    assert "(field 'job_id')" in result.content[0].text  # the tool's argument, not the route's
    assert malformed.is_error and "'job_id' must be a job id" in malformed.content[0].text
    assert "'id'" not in malformed.content[0].text


async def test_a_failing_job_is_the_synchronous_call_s_error_naming_the_job(
    slow, without_jobs, monkeypatch
):
    texts = {}
    for stack in (slow, without_jobs):
        stack.bedrock.inject("content_filter")
        monkeypatch.setenv("IMAGEGEN_API_URL", stack.url)
        async with Client(server) as client:
            result = await client.call_tool("generate_image", {"prompt": "a heron"})
        assert result.is_error
        texts[stack] = result.content[0].text
    assert "content_filtered: " in texts[without_jobs]
    job_error = re.fullmatch(re.escape(texts[without_jobs]) + r" \(job (\S+) failed\)", texts[slow])
    assert job_error, texts[slow]
    monkeypatch.setenv("IMAGEGEN_API_URL", slow.url)
    async with Client(server) as client:  # and get_job says the same
        fetched = await client.call_tool("get_job", {"job_id": job_error[1]})
    assert fetched.is_error and fetched.content[0].text.endswith(texts[slow].split(": ", 1)[1])


async def test_the_in_process_backend_runs_jobs_on_its_local_stack(monkeypatch):
    """No API: the server's own local stack (slowed here) runs the job in its worker thread."""
    monkeypatch.delenv("IMAGEGEN_API_URL", raising=False)
    monkeypatch.setenv(config.TIME_BUDGET_SECONDS, "1")  # the stack reads the service settings
    monkeypatch.setattr(
        stack_module, "LocalStack", partial(LocalStack, latency_seconds=LATENCY_SECONDS)
    )
    monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 0.5)
    async with Client(server) as client:
        timed_out = await client.call_tool("remove_background", {"image": data_uri(png())})
        assert timed_out.is_error, timed_out.content[0].text
        job_id = GET_JOB_HINT.search(timed_out.content[0].text)[1]
        monkeypatch.setattr(mcp_module.OPTIONS, "timeout_seconds", 30.0)
        progress = Progress()
        done = await client.call_tool("get_job", {"job_id": job_id}, progress_callback=progress)
    assert not done.is_error, done.content[0].text
    assert done.content[0].text.startswith("Edited with remove-background")
    assert done.structured_content["operation"] == "remove-background"
    assert progress.messages[0] == f"checking job {job_id} (0s)"


async def test_a_job_outlives_a_call_its_client_gave_up_on(slow):
    """Over stdio, as an assistant's client: it stops waiting (its own timeout) once the progress
    has named the job; the job runs on, and get_job returns its images."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=clean_env(IMAGEGEN_API_URL=slow.url)
    )
    progress = Progress()
    async with Client(params) as client:
        async with anyio.create_task_group() as calls:
            arguments = {"prompt": "a heron", "seed": 6}
            calls.start_soon(
                partial(client.call_tool, "generate_image", arguments, progress_callback=progress)
            )
            with anyio.fail_after(30):
                await progress.named_a_job.wait()
            calls.cancel_scope.cancel()  # the client gives up: a courtesy cancel to the server
        ((job_id, statuses),) = progress.jobs().items()
        assert statuses <= {"queued", "running"}
        done = await client.call_tool("get_job", {"job_id": job_id})
    assert not done.is_error, done.content[0].text
    assert done.structured_content["images"][0]["seed"] == 6


async def test_progress_notifications_reach_an_http_client(slow):
    with mcp_over_http("--token", TOKEN, "--api", slow.url) as url:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        progress = Progress()
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool(
                "upscale_image", {"image": data_uri(png())}, progress_callback=progress
            )
    assert not result.is_error, result.content[0].text
    assert len(progress.jobs()) == 1


def test_the_in_process_backend_runs_synchronously_without_a_jobs_queue(slow, without_jobs):
    """``IMAGEGEN_BUCKET`` without ``IMAGEGEN_JOBS_QUEUE_URL``: the work is done in the call."""
    body = {"prompt": "a heron", "seed": 2}
    answer = DirectBackend(lambda: without_jobs.generator).start(GENERATE, body, 30)
    assert "job_id" not in answer and answer["images"][0]["seed"] == 2
    job = DirectBackend(lambda: slow.generator).start(GENERATE, body, 30)
    assert job["status"] == "queued" and job["status_url"] == f"/jobs/{job['job_id']}"
