"""``imagegen`` against APIs that are mistyped, down, broken or hostile, and Ctrl-C: one line on
stderr and a clear exit status, never a traceback, and nothing written that should not be."""

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from devstack import cli
from devstack.options import MissingExtra
from devstack.stack import LocalStack
from tests.e2e.stub_api import Answer, images_answer, images_payload, json_answer, stub_api
from tests.e2e.test_cli import IMAGEGEN, assert_one_line_error, clean_env, imagegen

HTML = {"Content-Type": "text/html"}


@pytest.mark.parametrize("api", ["foo", "file:///etc", "ftp://example.com/prod"])
def test_an_api_that_is_not_an_http_url(api: str, tmp_path: Path):
    out = tmp_path / "generated"
    result = imagegen("generate", "a cat", "--api", api, "--out", str(out))
    assert_one_line_error(result, f"the API URL '{api}' is not an http or https URL")
    assert not out.exists()  # refused before --out is created


@pytest.mark.parametrize(
    "command", [["generate", "a cat"], ["edit", "upscale-fast", "--image", "images/a.png"]]
)
def test_without_the_local_extra_nothing_is_created(command, monkeypatch, capsys, tmp_path):
    """Without --api the command needs the local stack; an install without it (the base
    install, ``tests/packaging`` runs it for real) refuses before creating --out."""
    missing = "the local stack needs the 'local' extra: pip install \"imagegen[local]\""

    def local_stack() -> None:
        raise MissingExtra(missing)

    monkeypatch.setattr(cli, "local_stack", local_stack)
    monkeypatch.delenv("IMAGEGEN_API_URL", raising=False)
    out = tmp_path / "out"
    assert cli.main([*command, "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"imagegen: {missing}\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("api", "reason"),
    [("http://[::1", "Invalid IPv6 URL"), ("http://127.0.0.1:99999", "Port out of range 0-65535")],
)
def test_an_api_url_that_does_not_parse(api: str, reason: str):
    result = imagegen("models", "--api", api)
    assert_one_line_error(result, f"invalid_url: the API URL '{api}' is not a valid URL ({reason})")


def test_a_bad_api_url_from_the_environment_says_where_it_came_from():
    result = imagegen("models", env=clean_env(IMAGEGEN_API_URL="http://[::1"))
    assert_one_line_error(result, "the API URL from IMAGEGEN_API_URL 'http://[::1' is not a valid")


IMAGE = images_payload("http://x")["images"][0]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(200, b"<html>Welcome to nginx</html>", HTML), "answered text/html, not JSON"),
        (Answer(502, b"<html>Bad Gateway</html>", HTML), "502 http_error: Bad Gateway"),
        (json_answer({"foo": 1}), "is not a JSON object with image_url"),
        (json_answer([1, 2]), "is not a JSON object"),
        (json_answer({**images_payload("http://x"), "images": []}), "non-empty list"),
        (
            json_answer({**images_payload("http://x"), "images": [{**IMAGE, "key": 5}]}),
            "an image from",
        ),
        (
            json_answer({**images_payload("http://x"), "images": [{**IMAGE, "url": None}]}),
            "an image from",
        ),
    ],
)
def test_an_api_that_answers_something_else(answer: Answer, expected: str, tmp_path: Path):
    with stub_api({"/images": answer}) as api:
        result = imagegen("generate", "a cat", "--api", api.url, "--out", str(tmp_path))
    assert_one_line_error(result, expected)


@pytest.mark.parametrize("command", [["models"], ["url", "images/x.png"]])
def test_models_and_url_against_an_api_that_answers_something_else(command: list[str]):
    answer = Answer(200, b"<html>login</html>", HTML)
    with stub_api({"/models": answer, "/images/url": answer}) as api:
        result = imagegen(*command, "--api", api.url)
    assert_one_line_error(result, "answered text/html, not JSON")


def test_an_unreachable_api():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = imagegen("models", "--api", url)
    assert_one_line_error(result, f"unreachable: cannot reach {url}")


def test_a_slow_api_is_a_timeout_not_unreachable():
    with stub_api({"/models": json_answer({})}, hold=True) as api:  # never answers in time
        result = imagegen("models", "--api", api.url, "--timeout", "0.5")
        assert api.received.is_set()
    assert_one_line_error(result, f"timeout: no answer from {api.url} within 0.5 s (--timeout)")


def test_a_missing_or_wrong_key_hints_at_the_api_key():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}, api_keys=("right",)) as stack:
        wrong = imagegen("models", "--api", stack.url, "--api-key", "wrong")
        missing = imagegen("models", "--api", stack.url, env=clean_env())
        right = imagegen("models", "--api", stack.url, env=clean_env(IMAGEGEN_API_KEY="right"))
    assert_one_line_error(wrong, "401 invalid_api_key: ")
    assert_one_line_error(missing, "401 unauthorized: ")
    for refused in (wrong, missing):
        assert refused.stderr.rstrip().endswith("(check --api-key or IMAGEGEN_API_KEY)")
    assert right.returncode == 0, right.stderr


def test_an_out_that_is_a_file_is_refused_before_the_api_is_called(tmp_path: Path):
    out = tmp_path / "generated"
    out.write_text("not a directory")
    with stub_api({"/images": images_answer("http://unused")}) as api:
        result = imagegen("generate", "a cat", "--api", api.url, "--out", str(out))
        assert not api.received.is_set()  # no model call paid for an image that cannot be saved
    assert_one_line_error(result, f"argument --out: {out} exists and is not a directory")
    assert out.read_text() == "not a directory"


@pytest.mark.parametrize(
    "image_url", ["file:///etc/passwd", "FILE:///etc/passwd", "ftp://127.0.0.1/x.png"]
)
def test_only_http_image_urls_are_downloaded(image_url: str, tmp_path: Path):
    with stub_api({"/images": images_answer(image_url)}) as api:
        result = imagegen("generate", "a cat", "--api", api.url, "--out", str(tmp_path))
    assert_one_line_error(result, f"unsafe_url: the image URL '{image_url}' is not an http")
    assert list(tmp_path.iterdir()) == []


def test_redirects_away_from_http_are_not_followed(tmp_path: Path):
    redirect = Answer(302, b"", {"Location": "ftp://127.0.0.1/secret.png"})
    with stub_api({"/redirect": redirect}) as api:
        api.answers["/images"] = images_answer(f"{api.url}/redirect")
        result = imagegen("generate", "a cat", "--api", api.url, "--out", str(tmp_path))
    assert_one_line_error(result, "the redirect target 'ftp://127.0.0.1/secret.png' is not")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_generate_exits_130_in_one_line(tmp_path: Path):
    with (
        stub_api({"/images": images_answer("http://unused")}, hold=True) as api,
        subprocess.Popen(
            [*IMAGEGEN, "generate", "a cat", "--api", api.url, "--out", str(tmp_path)],
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        ) as proc,
    ):
        assert api.received.wait(timeout=60), "the request never reached the API"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert stderr.splitlines()[-1] == "interrupted" and "Traceback" not in stderr


def test_ctrl_c_during_generate_stops_the_local_stack_it_started(monkeypatch, capsys, tmp_path):
    started: list[str] = []

    def interrupted(api: str, *args: object, **kwargs: object) -> dict:
        started.append(api)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "post_images", interrupted)
    for name in ("IMAGEGEN_API_URL", "IMAGEGEN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    try:
        status = cli.main(["generate", "a cat", "--out", str(tmp_path)])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped as a traceback")
    assert status == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted"
    host, port = started[0].removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_an_api_call_is_never_redirected_so_the_key_stays_with_the_api(tmp_path: Path):
    """A redirect would repeat the request, x-api-key and prompt included, to another host."""
    with stub_api({}) as elsewhere:
        moved = Answer(307, b"", {"Location": f"{elsewhere.url}/images"})
        with stub_api({"/images": moved}) as api:
            result = imagegen(
                "generate", "a cat", "--api", api.url, "--api-key", "k", "--out", str(tmp_path)
            )
        assert not elsewhere.received.is_set()
    assert_one_line_error(result, "the API redirected to")
