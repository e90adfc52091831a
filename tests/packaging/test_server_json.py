"""``server.json``, the MCP registry's description of ``imagegen-mcp``: valid against the
registry's published schema (``server.schema.json`` here; its ``$comment`` names the source), at
the package's version, listing the environment variables the server reads."""

import ast
import copy
import json
import re

import pytest
from jsonschema import Draft7Validator
from packaging.requirements import Requirement

from service import config
from tests.packaging.conftest import PROJECT, ROOT, arguments

SERVER = json.loads((ROOT / "server.json").read_text())
SCHEMA = json.loads((ROOT / "tests" / "packaging" / "server.schema.json").read_text())
# Read only by the HTTP transport's --token; server.json describes the stdio package.
HTTP_ONLY = {"IMAGEGEN_MCP_TOKEN"}


def errors(document: dict) -> list[str]:
    return [error.message for error in Draft7Validator(SCHEMA).iter_errors(document)]


def variables_read() -> set[str]:
    """The variables mcp_server names in its code (help texts included), and those it imports
    from ``service.config`` by name."""
    names = set()
    for path in (ROOT / "mcp_server").glob("*.py"):
        source = path.read_text()
        names |= set(re.findall(r"\bIMAGEGEN_[A-Z_]+\b", source))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module == "service.config":
                values = (getattr(config, alias.name) for alias in node.names)
                names |= {v for v in values if isinstance(v, str) and v.isupper()}
    return names - HTTP_ONLY


def test_the_schema_is_the_registrys_release():
    Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SERVER["$schema"]
    assert SCHEMA["$id"].endswith("/schemas/2025-12-11/server.schema.json")


def test_server_json_is_valid_against_the_registry_schema():
    assert errors(SERVER) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "imagegen"),  # no namespace
        (("description",), "x" * 101),
        (("packages", 0, "version"), "latest"),
        (("packages", 0, "transport"), {"type": "carrier-pigeon"}),
    ],
)
def test_the_schema_refuses_what_the_registry_refuses(path: tuple, value: object):
    document = copy.deepcopy(SERVER)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert errors(document)


def test_server_and_package_versions_are_pyprojects():
    (package,) = SERVER["packages"]
    assert SERVER["version"] == package["version"] == PROJECT["version"]
    assert (package["registryType"], package["identifier"]) == ("pypi", PROJECT["name"])
    assert package["transport"] == {"type": "stdio"}


def test_registry_clients_start_the_mcp_server_with_its_extra():
    """Clients run ``uvx RUNTIME-ARGUMENTS imagegen==VERSION PACKAGE-ARGUMENTS``. uvx runs the
    command named like the package, the CLI, so ``mcp`` picks the server (``imagegen mcp``, which
    test_install.py drives in the installed wheel), and ``--with`` adds the 'mcp' extra at the
    same version: the package alone has no MCP SDK."""
    (package,) = SERVER["packages"]
    assert package["runtimeHint"] == "uvx"
    assert PROJECT["scripts"][package["identifier"]] == "devstack.cli:main"
    option, requirement = arguments(package["runtimeArguments"])
    extra = Requirement(requirement)
    assert (option, extra.name, extra.extras) == ("--with", package["identifier"], {"mcp"})
    assert str(extra.specifier) == f"=={PROJECT['version']}"
    assert arguments(package["packageArguments"]) == ["mcp"]


def test_every_variable_the_server_reads_is_listed():
    (package,) = SERVER["packages"]
    listed = [variable["name"] for variable in package["environmentVariables"]]
    assert sorted(listed) == sorted(variables_read())


def test_the_readme_names_the_server_for_pypi_ownership():
    """The registry proves a PyPI package is ours by an ``mcp-name:`` line in its description,
    which is the README."""
    assert f"mcp-name: {SERVER['name']}" in (ROOT / PROJECT["readme"]).read_text()
