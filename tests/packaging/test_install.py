"""Each extra installs what its users run and nothing they do not: the built wheel and sdist in
fresh venvs, driven as users drive them (console scripts, the official MCP client over stdio)."""

import base64
import io
import socket
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from tests.e2e.stub_api import Answer, images_answer, stub_api
from tests.mcp.conftest import clean_env
from tests.packaging.conftest import VERSION, Dist, Venv, registry_command

# boto3 too: against a deployed API the MCP server and the CLI speak HTTP only.
NOT_FOR_MCP_USERS = {"boto3", "botocore", "moto", "pulumi", "pulumi_aws", "pytest", "yaml"}
AWS_SDK = ["boto3==1.44.8", "botocore==1.44.8"]
# The two ways to start the MCP server: its own command, and the one MCP registry clients run
# (`imagegen mcp`, from server.json), as (command, the name it gives itself in messages).
MCP_COMMANDS = pytest.mark.parametrize(
    ("server", "prog"),
    [(["imagegen-mcp"], "imagegen-mcp"), (registry_command(), "imagegen mcp")],
    ids=["imagegen-mcp", "imagegen mcp"],
)
TOOLS = {
    "generate_image",
    "edit_image",
    "upscale_image",
    "remove_background",
    "list_models",
    "get_image_url",
    "get_job",
}


def command(
    venv: Venv, name: str, *args: str, cwd: Path, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv.command(name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env=clean_env(**env),
    )


def assert_one_line_error(result: subprocess.CompletedProcess, line: str) -> None:
    """Exit status 1 and exactly ``line`` on stderr: no traceback."""
    assert (result.returncode, result.stderr) == (1, line + "\n")


@pytest.fixture
def offline() -> Iterator[dict[str, str]]:
    """Environment that sends any HTTP(S) request off this machine to a closed port: what works
    with it works without a network."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
        yield {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost"}


def png(size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "PNG")
    return out.getvalue()


def test_the_wheel_holds_the_packages_their_data_and_both_commands(dist: Dist):
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = wheel.namelist()
        info = f"imagegen-{VERSION}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    packages = {"api_client", "api_gateway", "devstack", "mcp_server", "preflight", "service"}
    assert {name.split("/")[0] for name in names} == packages | {info}
    data = {"service/catalogue.json", "devstack/bedrock_models.json", "api_gateway/openapi.yaml"}
    assert data <= set(names)
    assert "imagegen = devstack.cli:main" in entry_points
    assert "imagegen-mcp = mcp_server:main" in entry_points
    extras = {"service", "mcp", "local", "infra", "dev", "all"}
    assert set(metadata.get_all("Provides-Extra")) == extras
    requires = metadata.get_all("Requires-Dist")
    assert [r for r in requires if "extra ==" not in r] == []  # the base: standard library only


def extra_requirements(dist: Dist, extra: str) -> list[str]:
    """The requirements ``extra`` adds, as the wheel's metadata lists them."""
    with zipfile.ZipFile(dist.wheel) as wheel:
        info = f"imagegen-{VERSION}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
    suffix = f'; extra == "{extra}"'
    return sorted(
        r.removesuffix(suffix) for r in metadata.get_all("Requires-Dist") if r.endswith(suffix)
    )


def test_boto3_comes_with_the_service_extra_and_whatever_runs_the_service(dist: Dist):
    """The 'service' extra is boto3 (what the Lambda ships); the local stack (the service
    in-process) and `make doctor` (the 'infra' extra) pin the same; the MCP server does not."""
    assert extra_requirements(dist, "service") == AWS_SDK
    for extra in ("local", "infra"):
        assert [r for r in extra_requirements(dist, extra) if r.startswith("boto")] == AWS_SDK
    assert not [r for r in extra_requirements(dist, "mcp") if r.startswith("boto")]


def test_the_sdist_holds_the_project_file_and_the_readme(dist: Dist):
    """The wheel above was built from it, so its sources are complete."""
    with tarfile.open(dist.sdist) as sdist:
        names = set(sdist.getnames())
    top = f"imagegen-{VERSION}"
    assert {f"{top}/pyproject.toml", f"{top}/README.md", f"{top}/PKG-INFO"} <= names


def test_the_base_install_is_the_cli_alone(base_venv: Venv, tmp_path: Path):
    assert not base_venv.importable("boto3", "botocore", "mcp", "PIL", "moto", "yaml", "pulumi")
    result = command(base_venv, "imagegen", "--version", cwd=tmp_path)
    assert result.stdout == f"imagegen {VERSION}\n"


def test_the_base_install_generates_through_a_deployed_api(base_venv: Venv, tmp_path: Path):
    """No dependencies at all: the CLI and the REST client are the standard library."""
    with stub_api({}) as api:
        api.answers["/images"] = images_answer(f"{api.url}/image.png")
        api.answers["/image.png"] = Answer(200, png(), {"Content-Type": "image/png"})
        result = command(
            base_venv, "imagegen", "generate", "a lighthouse", "--api", api.url, "--out", "out",
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "saved out/stub.png (64x64, seed 1; key images/2026/11/25/stub.png)" in result.stdout
    assert (tmp_path / "out" / "stub.png").read_bytes() == png()


def test_the_base_install_names_the_infra_extra_for_the_doctor(base_venv: Venv, tmp_path: Path):
    result = command(base_venv, "python", "-m", "preflight", "--help", cwd=tmp_path)
    assert_one_line_error(
        result,
        "python -m preflight: the pre-deploy doctor needs the 'infra' extra: "
        'pip install "imagegen[infra]"',
    )


def test_the_base_install_names_the_local_extra_for_the_local_stack(
    base_venv: Venv, tmp_path: Path
):
    result = command(base_venv, "imagegen", "generate", "x", cwd=tmp_path)
    assert_one_line_error(
        result,
        "imagegen: the local stack needs the 'local' extra: pip install \"imagegen[local]\"",
    )
    assert list(tmp_path.iterdir()) == []  # no empty generated/ left behind


@MCP_COMMANDS
def test_the_base_install_names_the_mcp_extra_for_the_mcp_server(
    base_venv: Venv, tmp_path: Path, server: list[str], prog: str
):
    result = command(base_venv, *server, cwd=tmp_path)
    assert_one_line_error(
        result, f"{prog}: the MCP server needs the 'mcp' extra: pip install \"imagegen[mcp]\""
    )


def test_the_mcp_extra_leaves_out_boto3_the_local_stack_infra_and_tests(mcp_venv: Venv):
    wanted = {"mcp", "PIL", "uvicorn"}
    assert mcp_venv.importable(*wanted, *NOT_FOR_MCP_USERS) == wanted


def test_both_commands_report_the_version_from_the_package_metadata(mcp_venv: Venv, tmp_path: Path):
    assert command(mcp_venv, "imagegen-mcp", "--version", cwd=tmp_path).stdout == (
        f"imagegen-mcp {VERSION}\n"
    )
    assert command(mcp_venv, "imagegen", "--version", cwd=tmp_path).stdout == (
        f"imagegen {VERSION}\n"
    )
    assert command(mcp_venv, "imagegen", "mcp", "--version", cwd=tmp_path).stdout == (
        f"imagegen mcp {VERSION}\n"
    )


def test_without_an_api_the_mcp_extra_names_the_local_extra(mcp_venv: Venv, tmp_path: Path):
    result = command(mcp_venv, "imagegen-mcp", cwd=tmp_path)
    assert_one_line_error(
        result,
        "imagegen-mcp: the local stack needs the 'local' extra: "
        'pip install "imagegen[mcp,local]", or use a deployed API '
        "(--api URL or IMAGEGEN_API_URL)",
    )


def test_in_process_the_mcp_extra_names_the_service_extra(mcp_venv: Venv, tmp_path: Path):
    """``IMAGEGEN_BUCKET`` without an API runs the service in-process, which needs boto3."""
    result = command(mcp_venv, "imagegen-mcp", cwd=tmp_path, IMAGEGEN_BUCKET="my-images")
    assert_one_line_error(
        result,
        "imagegen-mcp: the in-process service (IMAGEGEN_BUCKET) needs the 'service' extra: "
        'pip install "imagegen[mcp,service]", or use a deployed API '
        "(--api URL or IMAGEGEN_API_URL)",
    )


@pytest.mark.anyio
@MCP_COMMANDS
async def test_the_installed_server_generates_through_a_deployed_api(
    mcp_venv: Venv, tmp_path: Path, server: list[str], prog: str
):
    """Also as MCP registry clients start it: their `uvx --with "imagegen[mcp]==VERSION"
    imagegen==VERSION mcp` installs what this venv holds, then runs `imagegen mcp`."""
    with stub_api({}) as api:
        api.answers["/images"] = images_answer(f"{api.url}/image.png")
        api.answers["/image.png"] = Answer(200, png(), {"Content-Type": "image/png"})
        parameters = StdioServerParameters(
            command=str(mcp_venv.command(server[0])),
            args=server[1:],
            env=clean_env(IMAGEGEN_API_URL=api.url),
            cwd=tmp_path,
        )
        async with Client(parameters) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("generate_image", {"prompt": "a lighthouse"})
    assert tools == TOOLS
    assert not result.is_error, result.content[0].text
    text, preview, link = result.content
    assert "key images/2026/11/25/stub.png" in text.text and link.uri == f"{api.url}/image.png"
    assert Image.open(io.BytesIO(base64.b64decode(preview.data))).size == (64, 64)


def test_the_local_extra_alone_runs_make_runs_command_offline(
    local_venv: Venv, tmp_path: Path, offline: dict[str, str]
):
    assert not local_venv.importable("mcp", "pulumi", "pytest")
    assert local_venv.importable("boto3") == {"boto3"}  # the service runs in-process
    result = command(
        local_venv, "imagegen", "generate", "a lighthouse", "--out", "generated",
        cwd=tmp_path, **offline,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (saved,) = (tmp_path / "generated").iterdir()
    assert Image.open(saved).size == (1024, 1024)


@pytest.mark.anyio
async def test_the_installed_server_with_its_local_stack_works_offline(
    mcp_local_venv: Venv, tmp_path: Path, offline: dict[str, str]
):
    server = StdioServerParameters(
        command=str(mcp_local_venv.command("imagegen-mcp")),
        env=clean_env(**offline),
        cwd=tmp_path,
    )
    async with Client(server) as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse", "seed": 7})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["images"][0]["seed"] == 7


# The two heaviest extras last: their venvs are still installing while the tests above run.


def test_the_infra_extra_alone_runs_the_doctor_and_imports_the_pulumi_program(
    infra_venv: Venv, dist: Dist, tmp_path: Path
):
    """What `make doctor` and `pulumi up` need, with only the 'infra' extra: the doctor's
    command line, and every module of the Pulumi program (infra/, which the wheel leaves out:
    Pulumi runs it from the clone; it imports nothing lazily) with its imports."""
    wanted = {"pulumi", "pulumi_aws", "pulumi_random", "yaml", "boto3"}
    assert infra_venv.importable(*wanted, "mcp", "PIL", "moto", "pytest") == wanted
    doctor = command(infra_venv, "python", "-m", "preflight", "--help", cwd=tmp_path)
    assert doctor.returncode == 0 and doctor.stdout.startswith("usage: python -m preflight")
    program = sorted(p.stem for p in (dist.source / "infra").glob("*.py") if p.stem != "__main__")
    probe = "import importlib, sys; [importlib.import_module(f'infra.{m}') for m in sys.argv[1:]]"
    imported = command(infra_venv, "python", "-c", probe, *program, cwd=dist.source)
    assert imported.returncode == 0, imported.stderr
    assert {"image_api", "monitoring", "settings"} <= set(program)


def test_the_dev_extra_alone_runs_the_test_and_lint_tools(dev_venv: Venv, tmp_path: Path):
    """The tools `make test` and `make lint` run, and the libraries the tests import for their
    own sake (moto's whole server, the openai SDK, Pulumi's policy SDK)."""
    assert not dev_venv.importable("mcp", "PIL", "pulumi_aws")
    for tool in (["pytest", "--version"], ["ruff", "--version"], ["pyproject-build", "--version"]):
        assert command(dev_venv, *tool, cwd=tmp_path).returncode == 0, tool
    libraries = "import hypothesis, moto.server, openai, pulumi_policy, schemathesis"
    imported = command(dev_venv, "python", "-c", libraries, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
