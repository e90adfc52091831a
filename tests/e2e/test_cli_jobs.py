"""``imagegen generate --async``, ``imagegen edit --async`` and ``imagegen job`` as a user runs
them: real processes against a local stack whose model is slowed past the synchronous route's
budget (only a job can answer there), compared with the synchronous commands against a fast one."""

import base64
import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_client import ApiError
from devstack import cli
from devstack.stack import LocalStack
from service import config
from tests.conftest import post_json
from tests.e2e.stub_api import json_answer, stub_api
from tests.e2e.test_cli import IMAGEGEN, assert_one_line_error, clean_env, imagegen
from tests.e2e.test_cli_edit import png

SLOW = {
    "IMAGEGEN_LOG_LEVEL": "ERROR",
    config.TIME_BUDGET_SECONDS: "1",
    config.RETRY_AFTER_SECONDS: "1",
}
KEY_NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|webp)")
URL = re.compile(r"https?://\S+")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
JOB = {"created_at": "2026-11-26T06:00:00Z", "updated_at": "2026-11-26T06:00:01Z"}


@pytest.fixture(scope="module")
def slow() -> Iterator[LocalStack]:
    """Model calls take 1.5 s; the synchronous route has 1 s."""
    with LocalStack(env=SLOW, latency_seconds=1.5) as running:
        yield running


def masked(text: str) -> str:
    """Output without what differs between two runs of a command: image names, URLs and
    their expiry."""
    return TIME.sub("<time>", KEY_NAME.sub("<name>", URL.sub("<url>", text)))


def files(directory: Path) -> list[bytes]:
    return sorted(path.read_bytes() for path in directory.iterdir())


def test_generate_async_saves_and_prints_what_the_synchronous_command_does(slow, stack, tmp_path):
    args = ["generate", "a lighthouse", "--seed", "11", "--aspect-ratio", "3:2", "-n", "2"]
    synchronous = imagegen(*args, "--api", stack.url, "--out", str(tmp_path / "sync"))
    job = imagegen(*args, "--async", "--api", slow.url, "--out", str(tmp_path / "job"))
    assert synchronous.returncode == 0, synchronous.stderr
    assert job.returncode == 0, job.stderr
    assert masked(job.stdout) == masked(synchronous.stdout.replace("/sync/", "/job/"))
    assert files(tmp_path / "job") == files(tmp_path / "sync")  # the emulator is deterministic
    # stderr is not a terminal: the progress line is a line per status, naming the job
    assert re.search(r"generating with the default model: job \S+ queued \(\d+s\)", job.stderr)


def test_generate_async_json_is_the_synchronous_answer(slow, stack, tmp_path: Path):
    args = ["generate", "a fox", "--seed", "3", "--json"]
    synchronous = json.loads(imagegen(*args, "--api", stack.url, "--out", str(tmp_path)).stdout)
    result = imagegen(*args, "--async", "--api", slow.url, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert sorted(answer) == sorted(synchronous)
    assert [sorted(image) for image in answer["images"]] == [
        sorted(image) for image in synchronous["images"]
    ]
    (image,) = answer["images"]
    assert Path(image["path"]) == tmp_path / Path(image["key"]).name
    assert Path(image["path"]).read_bytes() == Path(synchronous["images"][0]["path"]).read_bytes()


def test_edit_async_saves_what_the_synchronous_command_does(slow, stack, tmp_path: Path):
    image = png(tmp_path / "photo.png", (200, 150))
    args = ["edit", "upscale-fast", "--image", str(image)]
    synchronous = imagegen(*args, "--api", stack.url, "--out", str(tmp_path / "sync"))
    job = imagegen(*args, "--async", "--api", slow.url, "--out", str(tmp_path / "job"))
    assert job.returncode == 0, job.stderr
    assert masked(job.stdout) == masked(synchronous.stdout.replace("/sync/", "/job/"))
    assert "operation upscale-fast (model stable-fast-upscale)" in job.stdout
    assert files(tmp_path / "job") == files(tmp_path / "sync")
    assert "editing with upscale-fast: job " in job.stderr


def test_job_waits_for_a_job_and_saves_its_images_as_generate_would(slow, tmp_path: Path):
    status, _, accepted = post_json(
        f"{slow.url}/images", {"prompt": "a fox", "seed": 5, "async": True}
    )
    assert status == 202, accepted
    waited = imagegen("job", accepted["status_url"], "--wait", "--out", str(tmp_path / "a"))
    assert waited.returncode == 0, waited.stderr
    (saved,) = (tmp_path / "a").iterdir()
    assert f"saved {saved} (1024x1024, seed 5; key images/" in waited.stdout
    assert "model stable-image-core, estimated cost $0.040" in waited.stdout

    # Ended: checked again by id, it saves the images once more, in generate's JSON
    again = imagegen("job", accepted["job_id"], "--api", slow.url, "--json", "--out", str(tmp_path))
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)
    assert answer["model"] == "stable-image-core" and answer["images"][0]["seed"] == 5
    assert Path(answer["images"][0]["path"]).read_bytes() == saved.read_bytes()


def test_job_defaults_to_the_directory_of_the_command_that_started_it(slow, tmp_path: Path):
    _, _, accepted = post_json(
        f"{slow.url}/images/edits",
        {"operation": "remove-background", "image": {"data": _base64_png(tmp_path)}, "async": True},
    )
    result = subprocess.run(
        [*IMAGEGEN, "job", accepted["job_id"], "--api", slow.url, "--wait"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [path.suffix for path in (tmp_path / "edited").iterdir()] == [".png"]
    assert "operation remove-background (model stable-image-remove-background)" in result.stdout


def _base64_png(tmp_path: Path) -> str:
    return base64.b64encode(png(tmp_path / "input.png", (128, 128)).read_bytes()).decode()


def test_job_wait_polls_with_a_progress_line_until_the_job_ends(stack, tmp_path: Path):
    """Against a stand-in whose job ends when the test says so: the command polls it."""
    result = post_json(f"{stack.url}/images", {"prompt": "a fox", "seed": 9})[2]
    running = {"job_id": "j1", "status": "running", **JOB}
    with (
        stub_api({"/jobs/j1": json_answer(running)}) as api,
        subprocess.Popen(
            [*IMAGEGEN, "job", "j1", "--api", api.url, "--wait", "--out", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        ) as proc,
    ):
        try:
            line = ""
            while not line.startswith("waiting: job j1 running ("):  # it has polled the job
                line = proc.stderr.readline()
                assert line, "the command ended before polling"
            ended = {**running, "status": "succeeded", "result": result}
            api.answers["/jobs/j1"] = json_answer(ended)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, stderr
    (saved,) = tmp_path.iterdir()
    assert f"saved {saved} (1024x1024, seed 9; key images/" in stdout


def test_job_shows_a_job_that_has_not_ended():
    running = {"job_id": "j1", "status": "running", **JOB}
    with stub_api({"/jobs/j1": json_answer(running)}) as api:
        text = imagegen("job", "j1", "--api", api.url)
        as_json = imagegen("job", f"{api.url}/jobs/j1", "--json")
    assert text.returncode == 0, text.stderr
    assert text.stdout == "job j1: running (created 2026-11-26T06:00:00Z)\n"
    assert "job j1 has not ended: add --wait to wait for it" in text.stderr
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == running


def test_a_failed_job_is_the_error_the_synchronous_command_prints(slow, stack, tmp_path: Path):
    args = ["generate", "a heron", "--out", str(tmp_path)]
    stack.bedrock.inject("content_filter")
    synchronous = imagegen(*args, "--api", stack.url)
    slow.bedrock.inject("content_filter")
    job = imagegen(*args, "--async", "--api", slow.url)
    assert_one_line_error(job, "error: 422 content_filtered: ")
    error_line = next(line for line in job.stderr.splitlines() if line.startswith("error: "))
    assert error_line == synchronous.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_async_against_a_deployment_without_jobs_says_so_in_one_line(tmp_path: Path):
    env = {"IMAGEGEN_LOG_LEVEL": "ERROR", config.JOBS_QUEUE_URL: ""}
    with LocalStack(env=env) as stack:
        result = imagegen(
            "generate", "a fox", "--async", "--api", stack.url, "--out", str(tmp_path)
        )
    assert_one_line_error(
        result, "400 invalid_field: asynchronous jobs are not enabled in this deployment"
    )


def test_ctrl_c_while_polling_names_the_job_and_how_to_resume_it(tmp_path: Path):
    accepted = {"job_id": "j1", "status": "queued", "status_url": "-", "created_at": "-"}
    answers = {
        "/images": json_answer(accepted, status=202),
        "/jobs/j1": json_answer({"job_id": "j1", "status": "running", **JOB}),
    }
    out = tmp_path / "out"
    with (
        stub_api(answers) as api,
        subprocess.Popen(
            [*IMAGEGEN, "generate", "a cat", "--async", "--api", api.url, "--out", str(out)],
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        ) as proc,
    ):
        try:
            line = ""
            while "job j1 running" not in line:  # it has polled the job
                line = proc.stderr.readline()
                assert line, "the command ended before polling"
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == cli.EXIT_INTERRUPTED and "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        "interrupted: job j1 keeps running; to save its images later:"
        f" imagegen job j1 --wait --out {out} --api {api.url}"
    )


def test_ctrl_c_while_polling_a_local_stack_says_the_job_ends_with_it(
    monkeypatch, capsys, tmp_path
):
    def interrupted(*args: object, **kwargs: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "get_job", interrupted)
    monkeypatch.setattr(cli, "poll_delays", lambda: iter(lambda: 0.0, None))
    for name in ("IMAGEGEN_API_URL", "IMAGEGEN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["generate", "a cat", "--async", "--out", str(tmp_path)]) == 130
    last = capsys.readouterr().err.splitlines()[-1]
    assert re.fullmatch(
        r"interrupted: job \S+ ended with the local stack this command started \(for jobs that"
        r" outlive the command, run imagegen serve first\)",
        last,
    ), last


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["job", "j1"], "error: needs --api URL, IMAGEGEN_API_URL, the job's status URL or a"),
        (
            ["job", "http://127.0.0.1:1/jobs/j1", "--api", "http://127.0.0.1:2"],
            "invalid_url: the status URL 'http://127.0.0.1:1/jobs/j1' is not of the API",
        ),
        (["job", "http://127.0.0.1:1/images/j1"], "is not <API URL>/jobs/<job id>"),
    ],
)
def test_job_mistakes_are_one_line_errors(args: list[str], expected: str):
    result = imagegen(*args)
    assert_one_line_error(result, expected)
    assert "starting a local stack" not in result.stderr


def test_a_synchronous_timeout_points_to_async():
    error = ApiError(504, "model_timeout", "the model did not answer in time")
    assert cli._explain(error).endswith("(--async runs it as a job, which is not cut off at 29 s)")
