"""Run the real Pulumi program offline under Pulumi's mocks, as Pulumi runs it, once per stack.

``run_program`` executes ``infra/`` the way the language host does (``runpy`` on the program
directory, from that directory, as ``__main__``) and records every resource with its inputs, its
``protect`` / ``retainOnDelete`` options and the stack outputs the program exports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra"
ACCOUNT = "123456789012"
# Physical-name properties the provider generates ("auto-naming") when the program sets none.
AUTONAMED = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:sns/topic:Topic": "name",
    "aws:budgets/budget:Budget": "name",
    "aws:sqs/queue:Queue": "name",
}


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict  # as the provider sees them: generated names filled in
    protect: bool = False
    retain_on_delete: bool = False
    autonamed: bool = False  # the program left the physical name to Pulumi
    id: str = ""  # the id the mocks returned, which other resources receive as an input
    dependencies: list[str] = field(default_factory=list)  # URNs it waits for (depends_on too)

    def waits_for(self, name: str) -> bool:
        """Whether Pulumi creates this resource after the one named ``name``."""
        return any(urn.endswith(f"::{name}") for urn in self.dependencies)


@dataclass
class StackRun:
    stack: str
    region: str
    partition: str = "aws"
    resources: list[Resource] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # the stack outputs, as `pulumi stack output`

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Resource:
        (found,) = self.of_type(typ)
        return found

    def named(self, name: str) -> Resource:
        (found,) = [r for r in self.resources if r.name == name]
        return found

    @property
    def function(self) -> Resource:
        """The service's function; an API-key stack also has the authorizer's."""
        return self.named(f"imagegen-{self.stack}-function")

    @property
    def policy(self) -> dict:
        """The service function's role policy (the authorizer's role has its own)."""
        return json.loads(self.named(f"imagegen-{self.stack}-function-policy").inputs["policy"])

    @property
    def worker(self) -> Resource:
        """The job worker's function (``service.worker``)."""
        return self.named(f"imagegen-{self.stack}-worker")

    @property
    def worker_policy(self) -> dict:
        return json.loads(self.named(f"imagegen-{self.stack}-worker-policy").inputs["policy"])

    @property
    def body(self) -> dict:
        return json.loads(self.one("aws:apigateway/restApi:RestApi").inputs["body"])


class RecordingMocks(pulumi.runtime.Mocks):
    """Fakes the computed outputs AWS would return and records every resource's inputs."""

    def __init__(self, run: StackRun) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        generated = AUTONAMED.get(args.typ)
        autonamed = generated is not None and generated not in inputs
        if autonamed:
            inputs[generated] = f"{args.name}-abc123"
        name, region = inputs.get("name", args.name), self.run.region
        arn = f"arn:{self.run.partition}"
        computed = {
            "aws:s3/bucket:Bucket": {"arn": f"{arn}:s3:::{inputs.get('bucket')}"},
            "aws:cloudwatch/logGroup:LogGroup": {
                "arn": f"{arn}:logs:{region}:{ACCOUNT}:log-group:{name}"
            },
            "aws:kms/key:Key": {"arn": f"{arn}:kms:{region}:{ACCOUNT}:key/k-1"},
            "aws:iam/role:Role": {"arn": f"{arn}:iam::{ACCOUNT}:role/{name}"},
            "aws:iam/policy:Policy": {"arn": f"{arn}:iam::{ACCOUNT}:policy/{name}"},
            "aws:sns/topic:Topic": {"arn": f"{arn}:sns:{region}:{ACCOUNT}:{name}"},
            "aws:lambda/function:Function": {
                "arn": f"{arn}:lambda:{region}:{ACCOUNT}:function:{name}",
                "invokeArn": f"{arn}:apigateway:{region}:lambda:path/2015-03-31/functions/"
                f"{arn}:lambda:{region}:{ACCOUNT}:function:{name}/invocations",
            },
            "aws:apigateway/restApi:RestApi": {
                "executionArn": f"{arn}:execute-api:{region}:{ACCOUNT}:api123"
            },
            "aws:apigateway/stage:Stage": {
                "invokeUrl": f"https://api123.execute-api.{region}.amazonaws.com/"
                f"{inputs.get('stageName')}"
            },
            "aws:apigateway/apiKey:ApiKey": {"value": "secret-api-key-value"},
            "aws:sqs/queue:Queue": {
                "arn": f"{arn}:sqs:{region}:{ACCOUNT}:{name}",
                "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{name}",
            },
            "random:index/randomPassword:RandomPassword": {
                "result": "r" * int(inputs.get("length", 16))
            },
        }.get(args.typ, {})
        resource_id = f"{name}-id"
        self.run.resources.append(
            Resource(args.typ, args.name, inputs, autonamed=autonamed, id=resource_id)
        )
        return [resource_id, {**inputs, **computed}]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT,
                "arn": f"arn:{self.run.partition}:iam::{ACCOUNT}:user/ci",
                "userId": "x",
            },
            "aws:index/getPartition:getPartition": {
                "partition": self.run.partition,
                "dnsSuffix": "amazonaws.com",
            },
            "aws:index/getRegion:getRegion": {"region": self.run.region, "name": self.run.region},
        }.get(args.token, {})


class RecordingMonitor(MockMonitor):
    """The mock engine, also recording the resource options the mocks do not see."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.options: dict[tuple[str, str], tuple[bool, bool]] = {}
        self.dependencies: dict[tuple[str, str], list[str]] = {}

    def RegisterResource(self, request):
        self.options[(request.type, request.name)] = (request.protect, request.retainOnDelete)
        self.dependencies[(request.type, request.name)] = list(request.dependencies)
        return super().RegisterResource(request)


def stack_config(stack: str) -> dict[str, str]:
    """The stack file's config as the CLI would pass it (objects as JSON)."""
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()
    }


def run_program(
    stack: str, config: dict[str, str] | None = None, partition: str = "aws"
) -> StackRun:
    # Pulumi's runtime uses the thread's current event loop; tests that ran asyncio.run() before
    # (the MCP tests) leave none, so give this run its own.
    asyncio.set_event_loop(asyncio.new_event_loop())
    config = config if config is not None else stack_config(stack)
    run = StackRun(stack, config["aws:region"], partition)
    mocks = RecordingMocks(run)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.reset_options()  # a fresh root stack for this run's outputs
    pulumi.runtime.set_mocks(mocks, project="imagegen", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def program():
        with contextlib.chdir(PROGRAM):
            runpy.run_path(str(PROGRAM), run_name="__main__")
        exported = pulumi.runtime.get_root_resource().outputs
        return pulumi.Output.all(**exported).apply(run.outputs.update)

    program()
    for resource in run.resources:
        protect, retain = monitor.options[(resource.type, resource.name)]
        resource.protect, resource.retain_on_delete = protect, retain
        resource.dependencies = monitor.dependencies[(resource.type, resource.name)]
    return run


@pytest.fixture(scope="session")
def dev() -> StackRun:
    return run_program("dev")


@pytest.fixture(scope="session")
def prod() -> StackRun:
    return run_program("prod")


@pytest.fixture(params=["dev", "prod"])
def run(request, dev, prod) -> StackRun:
    return {"dev": dev, "prod": prod}[request.param]
