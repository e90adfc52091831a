"""The MCP server's streamable HTTP transport as clients reach it: a real process, real
addresses, the official client with a bearer token."""

import argparse
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_server.http import allowed_host, build_app
from mcp_server.server import server
from tests.conftest import interrupt
from tests.e2e.test_cli import assert_one_line_error
from tests.mcp.conftest import clean_env
from tests.mcp.test_mcp_edits import data_uri, png

pytestmark = pytest.mark.anyio
TOKEN = "s3cret"


MCP_HTTP = [sys.executable, "-m", "mcp_server", "--transport", "http"]


@contextmanager
def mcp_over_http(*args: str) -> Iterator[str]:
    """``imagegen-mcp --transport http --port 0 ARGS``; yields the URL it prints."""
    with subprocess.Popen(
        [*MCP_HTTP, "--port", "0", *args],
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = ""
            while "listening on" not in line:
                line = proc.stderr.readline()
                assert line, "server exited"
            yield line.rsplit(" ", 1)[-1].strip()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """One server for the tests that only make requests (it keeps no state between them)."""
    with mcp_over_http("--token", TOKEN) as url:
        yield url


async def tool_names(url: str, headers: dict[str, str]) -> set[str]:
    """What the official client sees at ``url`` when it sends ``headers``."""
    http = create_mcp_http_client(headers=headers)
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_http_transport_with_the_token(http_server):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http, Client(streamable_http_client(http_server, http_client=http)) as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "seed": 2})
    assert not result.is_error and result.structured_content["images"][0]["seed"] == 2


async def test_http_transport_edits_a_data_uri_but_refuses_a_file_path(http_server, tmp_path):
    """The server's own files are not a remote assistant's to read, even with the token."""
    path = tmp_path / "photo.png"
    path.write_bytes(png())
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http, Client(streamable_http_client(http_server, http_client=http)) as client:
        inline = await client.call_tool("upscale_image", {"image": data_uri(path.read_bytes())})
        from_file = await client.call_tool("upscale_image", {"image": str(path)})
    assert not inline.is_error and inline.structured_content["operation"] == "upscale-fast"
    refusal = (
        "'image' is a file path, and this server reads local files only over stdio: a remote"
        " assistant must not read the server's files"
    )
    assert from_file.is_error and refusal in from_file.content[0].text


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
async def test_the_bearer_scheme_is_case_insensitive(http_server, scheme):
    tools = await tool_names(http_server, {"Authorization": f"{scheme} {TOKEN}"})
    assert "generate_image" in tools


def test_http_transport_refuses_requests_without_the_token(http_server):
    request = urllib.request.Request(
        http_server, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 401
    health = http_server.replace("/mcp", "/health")
    assert urllib.request.urlopen(health).status == 200


def test_a_busy_port_is_one_line_before_serving():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*MCP_HTTP, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=clean_env(),
        )
    expected = f"imagegen-mcp: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert_one_line_error(result, expected)
    assert "listening on" not in result.stderr


def test_ctrl_c_stops_the_http_server_cleanly_with_status_130():
    with subprocess.Popen(
        [*MCP_HTTP, "--port", "0"],
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's foreground job
    ) as proc:
        try:
            while "listening on" not in (line := proc.stderr.readline()):
                assert line, "server exited"
        finally:
            stderr = interrupt(proc)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode == 130 and stderr.splitlines()[-1] == "interrupted"


def test_non_loopback_http_needs_a_token():
    with pytest.raises(SystemExit, match="without --token"):
        build_app(server, "0.0.0.0", None)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Bearer s3cre"}, 401),
        ({"Authorization": "Basic s3cret"}, 401),
        ({"Authorization": "Bearers3cret"}, 401),
        ({"Authorization": "Bearer s3cret", "Host": "evil.example:80"}, 421),
        ({"Authorization": "Bearer s3cret", "Origin": "http://evil.example"}, 403),
    ],
)
def test_http_transport_refuses_wrong_tokens_hosts_and_origins(http_server, headers, status):
    request = urllib.request.Request(
        http_server,
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == status


def machine_addresses() -> list[str]:
    """How another machine would name this one: its host name and the addresses it has."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)}
    return [name, *sorted(addresses)]


@pytest.mark.parametrize("address", machine_addresses())
async def test_bound_to_every_interface_it_serves_the_machine_s_names(address):
    with mcp_over_http("--host", "0.0.0.0", "--token", TOKEN) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        tools = await tool_names(
            f"http://{address}:{port}/mcp", {"Authorization": f"Bearer {TOKEN}"}
        )
    assert "generate_image" in tools


async def test_allowed_host_admits_a_name_the_server_cannot_know():
    """A reverse proxy's name reaches the server in Host and Origin."""
    with mcp_over_http("--token", TOKEN, "--allowed-host", "imagegen.example") as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Host": f"imagegen.example:{port}",
            "Origin": "https://imagegen.example",
        }
        assert "generate_image" in await tool_names(url, headers)


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")
async def test_ipv6_addresses_are_bracketed_in_the_url_and_accepted_in_host():
    with mcp_over_http("--host", "::1") as url:
        assert url.startswith("http://[::1]:") and url.endswith("/mcp")
        assert "generate_image" in await tool_names(url, {})


@pytest.mark.parametrize(
    ("given", "spelled"),
    [
        ("imagegen.example", "imagegen.example"),
        ("imagegen.example:8765", "imagegen.example:8765"),
        ("10.0.0.5:8765", "10.0.0.5:8765"),
        ("::1", "[::1]"),
        ("[::1]", "[::1]"),
        ("[::1]:8765", "[::1]:8765"),
    ],
)
def test_allowed_host_spells_ipv6_with_brackets(given, spelled):
    assert allowed_host(given) == spelled


@pytest.mark.parametrize("given", ["", ":8765", "host:99999", "host:http", "[::1", "[::1]8765"])
def test_allowed_host_refuses_what_is_not_host_and_port(given):
    with pytest.raises(argparse.ArgumentTypeError):
        allowed_host(given)
