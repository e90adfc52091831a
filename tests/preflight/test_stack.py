"""Stack settings as Pulumi resolves them: schema defaults, then the stack file's values."""

from pathlib import Path

import pytest

from preflight.doctor import rerun_command
from preflight.stack import StackError, load

PROJECT = """\
name: imagegen
config:
  defaultModel: {type: string, default: stable-image-core}
  allowedModels: {type: array, default: [stable-image-core]}
  enabledRetiredModels: {type: array, default: []}
  allowedOperations: {type: array, default: []}
  reservedConcurrency: {type: integer, default: -1}
"""


def project(tmp_path: Path, stack_yaml: str, name: str = "test") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(PROJECT)
    (tmp_path / f"Pulumi.{name}.yaml").write_text(stack_yaml)
    return tmp_path


def test_defaults_apply_when_the_stack_file_is_silent(tmp_path: Path) -> None:
    root = project(tmp_path, "config:\n  aws:region: eu-west-1\n")
    stack = load("test", root, env={})
    assert stack.region == "eu-west-1"
    assert stack.allowed_models == ("stable-image-core",)
    assert stack.allowed_operations == ()  # every one offered in the region
    assert stack.reserved_concurrency == -1
    assert stack.file == "Pulumi.test.yaml"


def test_stack_values_override_defaults_in_pulumi_cli_forms(tmp_path: Path) -> None:
    """`pulumi config set` stores numbers as strings and lists (without --path) as JSON."""
    root = project(
        tmp_path,
        "config:\n  aws:region: us-west-2\n  imagegen:reservedConcurrency: '20'\n"
        '  imagegen:allowedModels: \'["stable-image-ultra", "sd3.5-large"]\'\n'
        "  imagegen:allowedOperations: [erase, upscale-fast]\n"
        "  other:allowedModels: [ignored]\n",
    )
    stack = load("test", root, env={})
    assert stack.reserved_concurrency == 20
    assert stack.allowed_models == ("stable-image-ultra", "sd3.5-large")
    assert stack.allowed_operations == ("erase", "upscale-fast")


def test_region_falls_back_to_the_environment_like_the_provider(tmp_path: Path) -> None:
    root = project(tmp_path, "config: {}\n")
    assert load("test", root, env={"AWS_REGION": "us-east-1"}).region == "us-east-1"
    with pytest.raises(StackError, match="sets no aws:region"):
        load("test", root, env={})


def test_unknown_stack_names_the_stacks_that_exist(tmp_path: Path) -> None:
    root = project(tmp_path, "config: {}\n", name="dev")
    with pytest.raises(StackError, match=r"no Pulumi\.prod\.yaml .*stacks here: dev"):
        load("prod", root, env={})


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("imagegen:reservedConcurrency: lots", "reservedConcurrency must be an integer"),
        ("imagegen:allowedModels: stable-image-core", "allowedModels must be a list"),
        ("imagegen:allowedOperations: erase", "allowedOperations must be a list"),
    ],
)
def test_malformed_values_name_the_key(tmp_path: Path, line: str, match: str) -> None:
    root = project(tmp_path, f"config:\n  aws:region: us-west-2\n  {line}\n")
    with pytest.raises(StackError, match=match):
        load("test", root, env={})


def test_the_repository_stacks_load() -> None:
    for name in ("dev", "prod"):
        stack = load(name, env={})
        assert stack.region and stack.allowed_models


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["--stack", "prod"], "make doctor STACK=prod"),
        (["--stack=prod", "--no-invoke"], "make doctor STACK=prod ARGS=--no-invoke"),
        (
            ["--no-invoke", "--stack", "prod", "--skip", "logging"],
            "make doctor STACK=prod ARGS='--no-invoke --skip logging'",
        ),
    ],
)
def test_the_rerun_hint_keeps_every_option(argv, command):
    """Dropping --no-invoke from the hint would make the next run pay for images."""
    assert rerun_command("prod", argv) == command
