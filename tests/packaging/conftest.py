"""The distribution as users get it: the sdist and wheel `python -m build` makes, installed with
one set of extras each into a fresh venv. Installs go through pip and its cache, so reruns do
not download again; they all start together, and each test waits only for the venv it uses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
SERVER = json.loads((ROOT / "server.json").read_text())
# What the build does not need from the working tree (the venv alone is 750 MB).
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", "generated", ".*_cache"
)


def arguments(listed: list[dict]) -> list[str]:
    """server.json's ``runtimeArguments`` or ``packageArguments`` on a command line, as registry
    clients put them there: a named one as its name then its value, a positional one as its
    value."""
    words: list[str] = []
    for argument in listed:
        if argument["type"] == "named":
            words.append(argument["name"])
        words.append(argument["value"])
    return words


def registry_command() -> list[str]:
    """What an MCP registry client starts once uvx has installed the package (``uvx
    RUNTIME-ARGUMENTS imagegen==VERSION PACKAGE-ARGUMENTS``): the console script named like the
    package, which is uvx's default, with server.json's package arguments."""
    (package,) = SERVER["packages"]
    return [package["identifier"], *arguments(package.get("packageArguments", []))]


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``command``; its output is in the failure message when it fails."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path
    source: Path  # the copy of the tree they were built from, as a clone has it


@dataclass(frozen=True)
class Venv:
    path: Path

    def command(self, name: str) -> Path:
        return self.path / "bin" / name

    def importable(self, *modules: str) -> set[str]:
        """Which of ``modules`` this venv's Python finds."""
        probe = (
            "import importlib.util, json, sys; "
            "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m)]))"
        )
        return set(json.loads(run(self.command("python"), "-c", probe, *modules).stdout))


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """Built from a copy of the source tree (the build writes egg-info into its source); the
    wheel is built from the sdist, so it also proves the sdist complete."""
    work = tmp_path_factory.mktemp("build")
    shutil.copytree(ROOT, work / "source", ignore=NOT_SOURCE)
    run(sys.executable, "-m", "build", "--outdir", work / "dist", work / "source")
    return Dist(
        wheel=next((work / "dist").glob("*.whl")),
        sdist=next((work / "dist").glob("*.tar.gz")),
        source=work / "source",
    )


def install(directory: Path, requirement: str) -> Venv:
    """A venv without pip of its own (the test run's pip installs into it) holding
    ``requirement``."""
    run(sys.executable, "-m", "venv", "--without-pip", directory)
    pip = [sys.executable, "-m", "pip", "--python", directory / "bin" / "python", "install"]
    run(*pip, "--quiet", "--no-compile", "--disable-pip-version-check", requirement)
    return Venv(directory)


@pytest.fixture(scope="session")
def venvs(
    dist: Dist, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Venv]]]:
    """Every venv the tests use, installing side by side (pip spends much of its time waiting on
    the index, so together they take little longer than the slowest): the small ones are ready
    first, and their tests run while `infra` and `dev` (the two heaviest, whose tests come last)
    still install. Removed at the end."""
    wheel, sdist = dist.wheel.as_uri(), dist.sdist.as_uri()
    requirements = {
        "base": f"imagegen @ {wheel}",
        "mcp": f"imagegen[mcp] @ {wheel}",
        "local": f"imagegen[local] @ {sdist}",  # built from source, as from a git URL
        "mcp,local": f"imagegen[mcp,local] @ {wheel}",
        "infra": f"imagegen[infra] @ {wheel}",
        "dev": f"imagegen[dev] @ {wheel}",
    }
    root = tmp_path_factory.mktemp("venvs")
    pool = ThreadPoolExecutor(len(requirements))
    try:
        yield {
            name: pool.submit(install, root / name, requirement)
            for name, requirement in requirements.items()
        }
    finally:
        pool.shutdown(cancel_futures=True)  # waits for any install still running
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def base_venv(venvs: dict[str, Future[Venv]]) -> Venv:
    """``pip install imagegen``: the CLI and the REST client, no dependencies (no boto3)."""
    return venvs["base"].result()


@pytest.fixture
def mcp_venv(venvs: dict[str, Future[Venv]]) -> Venv:
    """What an MCP client's one-liner installs to use a deployed API (no boto3)."""
    return venvs["mcp"].result()


@pytest.fixture
def local_venv(venvs: dict[str, Future[Venv]]) -> Venv:
    """`make run`'s extra alone."""
    return venvs["local"].result()


@pytest.fixture
def mcp_local_venv(venvs: dict[str, Future[Venv]]) -> Venv:
    """The MCP server with a local stack of its own: works without any API."""
    return venvs["mcp,local"].result()


@pytest.fixture
def infra_venv(venvs: dict[str, Future[Venv]]) -> Venv:
    """What `make doctor` installs: the Pulumi program's packages and the doctor's."""
    return venvs["infra"].result()


@pytest.fixture
def dev_venv(venvs: dict[str, Future[Venv]]) -> Venv:
    """The test and lint tools alone (`make test` adds every other extra to them)."""
    return venvs["dev"].result()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
