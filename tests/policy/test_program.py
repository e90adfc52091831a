"""The real program's resources (the offline mock run of tests/infra) through every policy."""

from __future__ import annotations

import pytest
from pulumi_policy import PolicyResource

from policy.rules import POLICIES
from tests.infra.conftest import Resource, run_program, stack_config
from tests.policy.fakes import resource, violations


def as_policy_resource(recorded: Resource) -> PolicyResource:
    """The recorded inputs plus the ``id`` output, which the stack policies match companions by.

    The id is the one ``RecordingMocks`` returned: the resource's ``name`` input, or its Pulumi
    name, with ``-id``; a bucket's companions got it as their ``bucket`` input.
    """
    props = {**recorded.inputs, "id": f"{recorded.inputs.get('name', recorded.name)}-id"}
    return resource(recorded.type, props, recorded.name)


OWNER = {  # a stack that also owns the account-wide API Gateway logging role
    "imagegen:manageApiGatewayAccount": "true",
}


@pytest.fixture(scope="module", params=["dev", "prod", "prod-owning-account-settings"])
def resources(request) -> list[PolicyResource]:
    if request.param == "prod-owning-account-settings":
        run = run_program("prod", {**stack_config("prod"), **OWNER})
    else:
        run = run_program(request.param)
    return [as_policy_resource(r) for r in run.resources]


def test_the_stack_passes_every_policy(resources):
    found = {p.name: violations(p.name, resources) for p in POLICIES}
    assert {name: messages for name, messages in found.items() if messages} == {}
