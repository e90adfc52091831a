"""The commands load an extra's packages only when they use it, and a missing extra is named in
one line (the installed venvs in ``test_install.py`` show both for real)."""

import importlib
import subprocess
import sys

import pytest

from devstack.options import MissingExtra, extra_needed

# The local stack's packages (moto's S3 with its Flask half, PyYAML for the API definition), the
# infrastructure program's, and the service's AWS SDK (the 'service' extra: the MCP server and
# the CLI reach a deployed API over HTTP without it).
LOCAL_STACK = {"moto", "flask", "werkzeug", "yaml"}
INFRA = {"pulumi", "pulumi_aws", "pulumi_random"}
AWS_SDK = {"boto3", "botocore", "s3transfer"}


def loaded_by(module: str) -> set[str]:
    """Top-level modules a fresh interpreter holds after importing ``module``."""
    probe = f"import sys, {module}; print(' '.join({{m.partition('.')[0] for m in sys.modules}}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


@pytest.mark.parametrize("module", ["devstack.cli", "mcp_server.server"])
def test_the_commands_load_neither_the_local_stack_nor_infra_nor_boto3(module: str):
    assert loaded_by(module).isdisjoint(LOCAL_STACK | INFRA | AWS_SDK)


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        (
            "from mcp_server.backends import DirectBackend; DirectBackend()",
            "the in-process service (IMAGEGEN_BUCKET) needs the 'service' extra: "
            'pip install "imagegen[mcp,service]"',
        ),
        (
            "sys.argv[1:] = ['--help']; import preflight.__main__",  # --help: never calls AWS
            "python -m preflight: the pre-deploy doctor needs the 'infra' extra: "
            'pip install "imagegen[infra]"',
        ),
    ],
    ids=["mcp in-process backend", "doctor"],
)
def test_without_boto3_what_needs_it_names_the_extra(probe: str, message: str):
    """As in an install without boto3 (``None`` in ``sys.modules``: not installed, to the import
    system and to ``extra_needed``): one line, not an import traceback."""
    hidden = "import sys; sys.modules.update(boto3=None, botocore=None); "
    result = subprocess.run(
        [sys.executable, "-c", hidden + probe], capture_output=True, text=True, timeout=60
    )
    assert message in result.stderr.splitlines()[-1]


def test_the_cli_loads_neither_the_mcp_sdk_nor_pillow():
    assert loaded_by("devstack.cli").isdisjoint({"mcp", "PIL", "jsonschema"})


def test_a_missing_third_party_module_names_the_extra_to_install():
    with (
        pytest.raises(MissingExtra) as raised,
        extra_needed("the local stack", "local", 'pip install "imagegen[local]"'),
    ):
        importlib.import_module("imagegen_test_no_such_module")
    assert str(raised.value) == (
        "the local stack needs the 'local' extra: pip install \"imagegen[local]\""
    )


def test_a_missing_module_of_our_own_is_a_bug_not_a_missing_extra():
    with (
        pytest.raises(ModuleNotFoundError),
        extra_needed("the local stack", "local", 'pip install "imagegen[local]"'),
    ):
        importlib.import_module("devstack.no_such_module")
