"""`pulumi install` finds and installs exactly what the program and `make doctor` (which runs in
the same .venv) import, at pyproject's pins."""

import ast
import importlib.metadata
import re
import sys
import tomllib

from infra.settings import ROOT, project

PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^]]*\])?==(\S+)$")  # name[extras]==version
LOCAL = {"infra", "api_gateway", "preflight", "service", "devstack"}
# Besides the Pulumi program (infra/ and the API definition it reads): the doctor, whose checks
# call AWS with boto3 before the first deploy.
SCANNED = ("infra", "api_gateway", "preflight")


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"not an exact pin: {line!r}"
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def requirements() -> dict[str, str]:
    """Where Pulumi's pip toolchain reads it: the program directory, `main` in Pulumi.yaml."""
    path = ROOT / project()["main"] / "requirements.txt"
    return pins(path.read_text().splitlines())


def imported_modules() -> set[str]:
    """Top-level modules the program's own files import (infra/ and the API definition), and
    the doctor's (preflight/)."""
    modules = set()
    for path in (path for package in SCANNED for path in (ROOT / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - LOCAL - {"__future__"}


def test_pulumi_installs_with_pip_into_the_project_virtualenv():
    runtime = project()["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"] == {"toolchain": "pip", "virtualenv": ".venv"}


def extra_pins(*extras: str) -> dict[str, str]:
    """The pins of pyproject's ``extras``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, str] = {}
    for extra in extras:
        found |= pins(project["optional-dependencies"][extra])
    return found


def test_the_requirements_are_the_infra_extra():
    """`pulumi install` and `pip install "imagegen[infra]"` install the same, at the same pins."""
    assert requirements() == extra_pins("infra")


def test_every_module_the_program_imports_is_required():
    distributions = importlib.metadata.packages_distributions()
    needed = {
        name.lower().replace("_", "-") for m in imported_modules() for name in distributions[m]
    }
    assert needed == set(requirements())


def test_the_policy_pack_installs_what_it_runs_at_pyprojects_pins():
    """`pulumi preview --policy-pack policy` runs in ../.venv without installing anything."""
    pack = pins((ROOT / "policy" / "requirements.txt").read_text().splitlines())
    assert {"pulumi", "pulumi-policy"} <= set(pack)
    assert pack.items() <= extra_pins("infra", "dev").items()
