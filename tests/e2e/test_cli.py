"""The ``imagegen`` console script as a user runs it: real processes, real HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import fresh_data_dir, http, interrupt, post_json

IMAGEGEN = [sys.executable, "-m", "devstack.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """A newcomer's environment (no AWS, no imagegen settings) plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEGEN_", "AWS_"))}
    env["IMAGEGEN_DATA_DIR"] = fresh_data_dir()  # no serve there: commands start their own stack
    return {**env, **settings}


def imagegen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*IMAGEGEN, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env or clean_env(),
    )


def assert_one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    """Exit status 1, one error line naming the problem, no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and expected in errors[0], result.stderr


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``imagegen serve --port 0 ARGS``: its URL (the first line), stopped with SIGTERM."""
    with subprocess.Popen(
        [*IMAGEGEN, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or clean_env(),
    ) as proc:
        try:
            first = proc.stdout.readline()
            assert first, proc.stderr.read()
            yield first.rsplit(" ", 1)[-1].strip()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0


def test_serve_prints_its_url_serves_and_stops_cleanly_on_sigterm():
    with serving() as url:
        assert url.startswith("http://127.0.0.1:")
        status, _, raw = http("GET", f"{url}/health")
        assert status == 200 and json.loads(raw)["emulated"] is True
        status, _, answer = post_json(f"{url}/images", {"prompt": "a cat"})
        assert status == 200 and http("GET", answer["image_url"])[0] == 200


def test_serve_reads_imagegen_settings_from_the_environment():
    env = clean_env(IMAGEGEN_CACHE_SEEDED="true", IMAGEGEN_URL_EXPIRY_SECONDS="60")
    with serving(env=env) as url:
        first = post_json(f"{url}/images", {"prompt": "a fox", "seed": 5})[2]
        second = post_json(f"{url}/images", {"prompt": "a fox", "seed": 5})[2]
    assert first["images"][0]["cached"] is False and second["images"][0]["cached"] is True
    assert "X-Amz-Expires=60&" in second["image_url"]


def test_serve_retired_makes_retired_models_usable_end_to_end():
    with serving("--serve-retired") as url:
        status, _, answer = post_json(f"{url}/images", {"prompt": "a fox", "model": "sdxl"})
        assert status == 200, answer
        assert answer["model"] == "sdxl" and http("GET", answer["image_url"])[0] == 200


def test_ctrl_c_on_serve_exits_130_without_a_traceback_from_any_process():
    """Ctrl-C in a terminal signals the whole foreground process group: serve and its backing
    process (S3 + emulator) both get SIGINT."""
    with subprocess.Popen(
        [*IMAGEGEN, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        start_new_session=True,  # a process group of its own, as a terminal's foreground job
    ) as proc:
        try:
            assert proc.stdout.readline().startswith("imagegen local stack listening on ")
        finally:
            stderr = interrupt(proc)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode == 130 and stderr.splitlines()[-1] == "stopped"


def test_serve_region_emulates_the_models_offered_there():
    with serving("--serve-retired", "--region", "us-east-1") as url:
        assert json.loads(http("GET", f"{url}/health")[2])["region"] == "us-east-1"
        status, _, answer = post_json(f"{url}/images", {"prompt": "a fox", "model": "nova-canvas"})
        assert status == 200 and http("GET", answer["image_url"])[0] == 200
        status, _, refused = post_json(f"{url}/images", {"prompt": "a fox"})
    assert status == 503 and refused["error"]["code"] == "model_unavailable"  # us-west-2 only


def test_serve_with_api_keys_requires_one_of_them():
    with serving("--api-key", "k1", "--api-key", "k2") as url:
        body = json.dumps({"prompt": "a fox"}).encode()
        headers = {"Content-Type": "application/json"}
        # No key is API Gateway's 401 (the authorizer refuses it), a wrong one too (invalid key).
        assert http("POST", f"{url}/images", body, headers)[0] == 401
        assert http("POST", f"{url}/images", body, {**headers, "x-api-key": "k3"})[0] == 401
        assert http("POST", f"{url}/images", body, {**headers, "x-api-key": "k2"})[0] == 200
        bearer = {**headers, "Authorization": "Bearer k1"}
        assert http("POST", f"{url}/images", body, bearer)[0] == 200


def test_serve_on_a_busy_port_says_so_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = imagegen("serve", "--port", port)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "99999"],
        ["serve", "--port", "-1"],
        ["serve", "--port", "eighty"],
        ["serve", "--latency", "-1"],
        ["serve", "--region", "mars"],
        ["models", "--timeout", "0"],
        ["generate"],
    ],
)
def test_usage_mistakes_are_one_line_errors(args: list[str]):
    assert_one_line_error(imagegen(*args), f"imagegen {args[0]}: error: ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["models", "--timeout", "0"], "--timeout: must be more than 0 seconds, not 0"),
        (["models", "--timeout", "-1"], "--timeout: must be more than 0 seconds, not -1"),
        (["url", "k", "--timeout", "nan"], "--timeout: 'nan' is not a finite number of seconds"),
        (["models", "--timeout", "inf"], "--timeout: 'inf' is not a finite number of seconds"),
        (["models", "--timeout", "soon"], "--timeout: 'soon' is not a finite number of seconds"),
        (["serve", "--latency", "-1"], "--latency: must be 0 seconds or more, not -1"),
        (["serve", "--latency", "nan"], "--latency: 'nan' is not a finite number of seconds"),
        (["generate", "a", "--cfg-scale", "nan"], "--cfg-scale: 'nan' is not a finite number"),
        (["generate", "a", "--cfg-scale", "inf"], "--cfg-scale: 'inf' is not a finite number"),
    ],
)
def test_number_options_are_finite_and_checked_one_way(args: list[str], expected: str):
    assert_one_line_error(imagegen(*args), f"imagegen {args[0]}: error: argument {expected} (see")


def test_an_unknown_option_after_a_command_points_to_that_command_s_help():
    result = imagegen("generate", "a fox", "--promt", "x")
    assert_one_line_error(
        result, "unrecognized arguments: --promt x (see imagegen generate --help)"
    )


def test_serve_names_a_bad_setting_from_the_environment():
    result = imagegen("serve", "--port", "0", env=clean_env(IMAGEGEN_URL_EXPIRY_SECONDS="soon"))
    assert_one_line_error(result, "invalid imagegen configuration: IMAGEGEN_URL_EXPIRY_SECONDS")


def test_version_comes_from_the_installed_package():
    from importlib.metadata import version

    result = imagegen("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"imagegen {version('imagegen')}"


def test_help_shows_choices_defaults_and_units():
    wide = clean_env(COLUMNS="300")  # one line an option, whatever the terminal
    generate = imagegen("generate", "--help", env=wide).stdout
    assert "{jpeg,png,webp}" in generate and "3:2" in generate
    assert "(default: generated)" in generate and "in seconds (default: 60.0)" in generate
    assert "sdxl 0-35" in generate  # --cfg-scale names the models that take it
    serve = imagegen("serve", "--help", env=wide).stdout
    assert "(default: 8080)" in serve and "0 picks a free one" in serve
    assert "{ap-northeast-1,eu-west-1,us-east-1,us-west-2}" in serve  # the catalogue's regions
    assert "(default: us-west-2)" in serve


def test_generate_without_api_starts_a_local_stack_and_saves_the_image(tmp_path: Path):
    result = imagegen(
        "generate",
        "a lighthouse at dusk",
        "--out",
        str(tmp_path),
        "--aspect-ratio",
        "3:2",
        "--seed",
        "11",
    )
    assert result.returncode == 0, result.stderr
    files = list(tmp_path.glob("*.png"))
    assert len(files) == 1 and f"saved {files[0]}" in result.stdout
    assert Image.open(files[0]).size == (1216, 832)


def test_generate_against_an_api_reports_errors_clearly(stack, tmp_path: Path):
    result = imagegen(
        "generate", "a cat", "--api", stack.url, "--model", "nope", "--out", str(tmp_path)
    )
    assert_one_line_error(result, "400 invalid_field")


def test_generate_against_an_api_prints_the_url(stack, tmp_path: Path):
    result = imagegen("generate", "a cat", "--api", stack.url, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "url (expires " in result.stdout and stack.s3_url in result.stdout


def test_generate_json_prints_the_answer_and_the_saved_paths(stack, tmp_path: Path):
    result = imagegen(
        "generate", "a cat", "--api", stack.url, "--out", str(tmp_path), "--json", "-n", "2"
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    paths = [Path(image["path"]) for image in answer["images"]]
    assert len(paths) == 2 and all(p.parent == tmp_path and p.is_file() for p in paths)
    assert answer["model"] == "stable-image-core" and "cost" in answer


def test_models_prints_a_readable_table(stack):
    result = imagegen("models", "--api", stack.url)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["MODEL", "STATUS", "USABLE", "MAX", "IMAGES", "PRICE/IMAGE", "SIZES"]
    core = next(row for row in rows if row.startswith("stable-image-core"))
    assert "(default)" in core and " yes " in core and "$0.040" in core and "16:9" in core
    sdxl = next(row for row in rows if row.startswith("sdxl "))
    assert "retired 2025-05-20" in sdxl and " no " in sdxl and "9 sizes" in sdxl


def test_models_without_api_asks_a_local_stack():
    result = imagegen("models", "--json")
    assert result.returncode == 0, result.stderr
    assert "starting a local stack" in result.stderr
    assert json.loads(result.stdout)["default_model"] == "stable-image-core"


def test_url_prints_a_fresh_url_for_an_earlier_image(stack, tmp_path: Path):
    generated = imagegen("generate", "a cat", "--api", stack.url, "--out", str(tmp_path), "--json")
    key = json.loads(generated.stdout)["images"][0]["key"]
    result = imagegen("url", key, "--api", stack.url)
    assert result.returncode == 0, result.stderr
    assert http("GET", result.stdout.strip())[0] == 200 and "expires " in result.stderr
    as_json = json.loads(imagegen("url", key, "--api", stack.url, "--json").stdout)
    assert as_json["key"] == key


def test_url_without_an_api_explains_why_it_needs_one():
    """A local stack started for the command would be empty: it could only answer 404."""
    result = imagegen("url", "images/2026/11/25/3f9c.png")
    assert_one_line_error(
        result, "imagegen url: error: needs --api URL, IMAGEGEN_API_URL or a running imagegen serve"
    )
    assert "starting a local stack" not in result.stderr


def test_url_for_an_unknown_key_is_a_one_line_error(stack):
    assert_one_line_error(imagegen("url", "images/none.png", "--api", stack.url), "404 not_found")
