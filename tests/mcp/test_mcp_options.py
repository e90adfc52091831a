"""``imagegen-mcp``'s command line as a user meets it: a bad option or setting is refused at
start in one line (status 1, before serving), not on every later call."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error
from tests.mcp.conftest import clean_env

IMAGEGEN_MCP = [sys.executable, "-m", "mcp_server"]
IMAGEGEN_CLI_MCP = [sys.executable, "-m", "devstack.cli", "mcp"]  # `imagegen mcp`


def imagegen_mcp(
    *args: str, env: dict[str, str] | None = None, command: list[str] = IMAGEGEN_MCP
) -> subprocess.CompletedProcess:
    """The server with stdin closed: if it starts at all, stdio ends at once and it exits."""
    return subprocess.run(
        [*command, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env or clean_env(),
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--timeout", "nan"], "argument --timeout: 'nan' is not a finite number of seconds"),
        (["--timeout", "-5"], "argument --timeout: must be more than 0 seconds, not -5"),
        (["--timeout", "0"], "argument --timeout: must be more than 0 seconds, not 0"),
        (["--api", "notaurl"], "the API URL 'notaurl' is not an http or https URL"),
        (["--api", "http://[::1"], "the API URL 'http://[::1' is not a valid URL"),
        (["--transport", "http", "--port", "70000"], "argument --port: 70000 is not a port"),
        (["--transport", "http", "--port", "-1"], "argument --port: -1 is not a port"),
        (["--promt", "x"], "unrecognized arguments: --promt x"),
    ],
)
def test_bad_options_are_refused_at_start_in_one_line(args: list[str], expected: str):
    result = imagegen_mcp(*args)
    assert_one_line_error(result, f"imagegen-mcp: error: {expected}")
    assert result.stdout == ""  # it never served


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"IMAGEGEN_MAX_IMAGES": "0"}, "IMAGEGEN_MAX_IMAGES=0 must be between 1 and 10"),
        ({"IMAGEGEN_MAX_IMAGES": "abc"}, "IMAGEGEN_MAX_IMAGES='abc' is not"),
        ({"IMAGEGEN_API_URL": "http://[::1"}, "the API URL from IMAGEGEN_API_URL 'http://[::1'"),
    ],
)
def test_bad_settings_are_refused_at_start_naming_the_variable(setting, expected):
    result = imagegen_mcp(env=clean_env(**setting))
    assert_one_line_error(result, expected)
    assert result.stderr.startswith("imagegen-mcp: error: ")


def test_an_output_dir_that_is_a_file_is_refused_at_start(tmp_path: Path):
    blocker = tmp_path / "images"
    blocker.write_text("a file")
    result = imagegen_mcp("--output-dir", str(blocker))
    assert_one_line_error(result, f"argument --output-dir: {blocker} exists and is not a dir")


def test_a_missing_output_dir_is_created_at_start(tmp_path: Path):
    wanted = tmp_path / "new" / "images"
    result = imagegen_mcp("--output-dir", str(wanted))
    assert result.returncode == 0, result.stderr
    assert wanted.is_dir()


def test_version_comes_from_the_installed_package():
    result = imagegen_mcp("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"imagegen-mcp {version('imagegen')}"


def test_help_is_plain_text_and_shows_the_timeout_default():
    help_text = imagegen_mcp("--help", env=clean_env(COLUMNS="300")).stdout
    assert "``" not in help_text and "generate_image" in help_text
    assert "--timeout SECONDS" in help_text and "(default: 60.0)" in help_text


def test_imagegen_mcp_is_the_same_server_under_the_clis_name(tmp_path: Path):
    """``imagegen mcp ARGS``, what MCP registry clients run (the package's default command is
    the CLI), hands ARGS to the server and names itself in its messages."""
    wanted = tmp_path / "images"
    started = imagegen_mcp("--output-dir", str(wanted), command=IMAGEGEN_CLI_MCP)
    assert started.returncode == 0 and wanted.is_dir(), started.stderr
    refused = imagegen_mcp("--promt", "x", command=IMAGEGEN_CLI_MCP)
    assert_one_line_error(refused, "imagegen mcp: error: unrecognized arguments: --promt x")
    shown = imagegen_mcp("--version", command=IMAGEGEN_CLI_MCP).stdout
    assert shown == f"imagegen mcp {version('imagegen')}\n"
