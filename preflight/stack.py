"""A stack's effective settings, read as Pulumi reads them: ``Pulumi.yaml`` schema defaults,
overridden by ``Pulumi.<stack>.yaml``.

The doctor runs before any deploy and must not need the Pulumi SDK or the infra program, so it
reads the two files itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


class StackError(Exception):
    """The stack's settings cannot be read; the message names the file and key to fix."""


@dataclass(frozen=True)
class StackSettings:
    """The settings the checks need, with defaults applied."""

    name: str
    file: str  # Pulumi.<stack>.yaml, for messages that say where to change a value
    region: str
    default_model: str
    allowed_models: tuple[str, ...]
    enabled_retired_models: tuple[str, ...]
    allowed_operations: tuple[str, ...]  # empty: every one offered in the region, not retired
    reserved_concurrency: int
    manages_api_gateway_account: bool


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"cannot read {path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise StackError(f"{path.name} is not a YAML mapping")
    return data


def _names(key: str, value: Any, file: str) -> tuple[str, ...]:
    """A list setting; ``pulumi config set`` without ``--path`` stores it as a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise StackError(f"{file}: {key} must be a list of names")
    return tuple(value)


def _integer(key: str, value: Any, file: str) -> int:
    """An integer setting; ``pulumi config set`` stores numbers as strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StackError(f"{file}: {key} must be an integer, not {value!r}") from None


def load(stack: str, root: Path = ROOT, env: Mapping[str, str] = os.environ) -> StackSettings:
    """Read ``stack``'s settings; ``aws:region`` falls back to AWS_REGION as the provider's does."""
    stack_path = root / f"Pulumi.{stack}.yaml"
    if not stack_path.is_file():
        known = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")
        )
        raise StackError(
            f"no {stack_path.name} in {root}; stacks here: {', '.join(known) or 'none'}"
        )
    project = _read(root / "Pulumi.yaml")
    prefix = f"{project.get('name', '')}:"
    values = {
        key: spec.get("default") if isinstance(spec, dict) else spec
        for key, spec in (project.get("config") or {}).items()
    }
    config = _read(stack_path).get("config") or {}
    values.update({k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)})
    region = config.get("aws:region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise StackError(
            f"{stack_path.name} sets no aws:region and AWS_REGION is unset"
            f" (pulumi config set aws:region us-west-2 -s {stack})"
        )
    file = stack_path.name
    return StackSettings(
        name=stack,
        file=file,
        region=str(region),
        default_model=str(values.get("defaultModel") or ""),
        allowed_models=_names("allowedModels", values.get("allowedModels", []), file),
        enabled_retired_models=_names(
            "enabledRetiredModels", values.get("enabledRetiredModels", []), file
        ),
        allowed_operations=_names("allowedOperations", values.get("allowedOperations", []), file),
        reserved_concurrency=_integer(
            "reservedConcurrency", values.get("reservedConcurrency", -1), file
        ),
        manages_api_gateway_account=str(values.get("manageApiGatewayAccount", False)).lower()
        == "true",
    )
