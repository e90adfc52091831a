"""Resources as the engine hands them to a policy pack, and a runner that collects violations.

Props go behind the SDK's own unknown-checking proxy, so the policies meet the same read-only
``Mapping``/``Sequence`` values (and preview unknowns) they meet under ``pulumi preview``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import POLICIES

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
BY_NAME = {p.name: p for p in POLICIES}


def resource(
    resource_type: str,
    props: Mapping[str, Any],
    name: str = "res",
    dependencies: Mapping[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(dict(props)),
        f"urn:pulumi:test::imagegen::{resource_type}::{name}",
        name,
        OPTIONS,
        None,
        None,
        [],
        dict(dependencies or {}),
    )


def violations(policy_name: str, resources: Sequence[PolicyResource]) -> list[str]:
    """Every message the policy reports: a resource policy's prefixed with the resource name."""
    policy, found = BY_NAME[policy_name], []
    if isinstance(policy, StackValidationPolicy):
        policy.validate(StackValidationArgs(list(resources)), lambda m, urn=None: found.append(m))
        return found
    for r in resources:
        args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None)
        policy.validate(args, lambda m, urn=None, name=r.name: found.append(f"{name}: {m}"))
    return found
