"""The ``imagegen`` console script as a user runs it: real processes, real HTTP."""

import json
import signal
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import http, post_json

IMAGEGEN = [sys.executable, "-m", "devstack.cli"]


def test_serve_prints_its_url_serves_and_stops_cleanly_on_sigterm():
    with subprocess.Popen(
        [*IMAGEGEN, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            first = proc.stdout.readline()
            url = first.rsplit(" ", 1)[-1].strip()
            assert url.startswith("http://127.0.0.1:")
            status, _, raw = http("GET", f"{url}/health")
            assert status == 200 and json.loads(raw)["emulated"] is True
            status, _, answer = post_json(f"{url}/images", {"prompt": "a cat"})
            assert status == 200 and http("GET", answer["image_url"])[0] == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0


def test_generate_without_api_starts_a_local_stack_and_saves_the_image(tmp_path: Path):
    result = subprocess.run(
        [
            *IMAGEGEN,
            "generate",
            "a lighthouse at dusk",
            "--out",
            str(tmp_path),
            "--aspect-ratio",
            "3:2",
            "--seed",
            "11",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    files = list(tmp_path.glob("*.png"))
    assert len(files) == 1 and f"saved {files[0]}" in result.stdout
    assert Image.open(files[0]).size == (1216, 832)


def test_generate_against_an_api_reports_errors_clearly(stack, tmp_path: Path):
    result = subprocess.run(
        [
            *IMAGEGEN,
            "generate",
            "a cat",
            "--api",
            stack.url,
            "--model",
            "nope",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "400 invalid_field" in result.stderr and "Traceback" not in result.stderr


def test_generate_against_an_api_prints_the_url(stack, tmp_path: Path):
    result = subprocess.run(
        [*IMAGEGEN, "generate", "a cat", "--api", stack.url, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "url (expires " in result.stdout and stack.s3_url in result.stdout
