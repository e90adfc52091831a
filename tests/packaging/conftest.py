"""The distribution as users get it: the sdist and wheel `python -m build` makes, installed with
one set of extras each into a fresh venv. Installs go through pip and its cache, so reruns do
not download again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
# What the build does not need from the working tree (the venv alone is 750 MB).
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", "generated", ".*_cache"
)


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``command``; its output is in the failure message when it fails."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


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
        wheel=next((work / "dist").glob("*.whl")), sdist=next((work / "dist").glob("*.tar.gz"))
    )


def install(directory: Path, requirement: str) -> Venv:
    """A venv without pip of its own (the test run's pip installs into it) holding
    ``requirement``."""
    run(sys.executable, "-m", "venv", "--without-pip", directory)
    pip = [sys.executable, "-m", "pip", "--python", directory / "bin" / "python", "install"]
    run(*pip, "--quiet", "--no-compile", "--disable-pip-version-check", requirement)
    return Venv(directory)


@pytest.fixture(scope="session")
def venvs(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Venv]]:
    """Every venv the tests use, installed side by side (pip spends much of its time waiting on
    the index, so together they take little longer than the slowest); removed at the end."""
    wheel, sdist = dist.wheel.as_uri(), dist.sdist.as_uri()
    requirements = {
        "base": f"imagegen @ {wheel}",
        "mcp": f"imagegen[mcp] @ {wheel}",
        "local": f"imagegen[local] @ {sdist}",  # built from source, as from a git URL
        "mcp,local": f"imagegen[mcp,local] @ {wheel}",
    }
    root = tmp_path_factory.mktemp("venvs")
    try:
        with ThreadPoolExecutor(len(requirements)) as pool:
            installing = {
                name: pool.submit(install, root / name, requirement)
                for name, requirement in requirements.items()
            }
        yield {name: future.result() for name, future in installing.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def base_venv(venvs: dict[str, Venv]) -> Venv:
    """``pip install imagegen``: the service, the CLI and the REST client."""
    return venvs["base"]


@pytest.fixture
def mcp_venv(venvs: dict[str, Venv]) -> Venv:
    """What an MCP client's one-liner installs to use a deployed API."""
    return venvs["mcp"]


@pytest.fixture
def local_venv(venvs: dict[str, Venv]) -> Venv:
    """`make run`'s extra alone."""
    return venvs["local"]


@pytest.fixture
def mcp_local_venv(venvs: dict[str, Venv]) -> Venv:
    """The MCP server with a local stack of its own: works without any API."""
    return venvs["mcp,local"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
