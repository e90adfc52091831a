"""Run the real Pulumi program offline under Pulumi's mocks, once per stack file."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict
    protect: bool = False


@dataclass
class StackRun:
    stack: str
    region: str
    resources: list[Resource] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Resource:
        (found,) = self.of_type(typ)
        return found


class RecordingMocks(pulumi.runtime.Mocks):
    """Fakes the computed outputs AWS would return and records every resource's inputs."""

    def __init__(self, run: StackRun) -> None:
        self.run = run

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        name, region = args.inputs.get("name", args.name), self.run.region
        outputs = dict(args.inputs)
        computed = {
            "aws:s3/bucket:Bucket": {
                "bucket": f"{name}-abc123",
                "arn": f"arn:aws:s3:::{name}-abc123",
            },
            "aws:cloudwatch/logGroup:LogGroup": {
                "arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{args.inputs.get('name')}"
            },
            "aws:kms/key:Key": {"arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/k-1"},
            "aws:iam/role:Role": {"arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"},
            "aws:lambda/function:Function": {
                "arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}",
                "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
                f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}/invocations",
            },
            "aws:apigateway/restApi:RestApi": {
                "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT}:api123"
            },
            "aws:apigateway/stage:Stage": {
                "invokeUrl": f"https://api123.execute-api.{region}.amazonaws.com/"
                f"{args.inputs.get('stageName')}"
            },
            "aws:apigateway/apiKey:ApiKey": {"value": "secret-api-key-value"},
            "random:index/randomPassword:RandomPassword": {
                "result": "r" * int(args.inputs.get("length", 16))
            },
        }.get(args.typ, {})
        outputs.update(computed)
        self.run.resources.append(Resource(args.typ, args.name, dict(args.inputs)))
        return [f"{name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                "userId": "x",
            },
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
            },
            "aws:index/getRegion:getRegion": {"region": self.run.region, "name": self.run.region},
        }.get(args.token, {})


def stack_config(stack: str) -> dict[str, str]:
    """The stack file's config as the CLI would pass it (objects as JSON)."""
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()
    }


def run_program(stack: str, config: dict[str, str] | None = None) -> StackRun:
    from infra.program import build

    # Pulumi's runtime uses the thread's current event loop; tests that ran asyncio.run() before
    # (the MCP tests) leave none, so give this run its own.
    asyncio.set_event_loop(asyncio.new_event_loop())
    config = config if config is not None else stack_config(stack)
    run = StackRun(stack, config["aws:region"])
    pulumi.runtime.set_mocks(RecordingMocks(run), project="imagegen", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def program():
        api = build(stack, run.region)
        protected = {
            id(r)
            for r in (api.bucket, api.log_group, api.access_log_group, api.kms_key)
            if r is not None and r._protect
        }
        run.protected_names = sorted(
            r._name
            for r in (api.bucket, api.log_group, api.access_log_group, api.kms_key)
            if r is not None and id(r) in protected
        )
        return pulumi.Output.all(
            api.api_url,
            api.api_key.value,
            api.role_policy.policy,
            api.rest_api.body,
            api.permission.source_arn,
        ).apply(
            lambda values: run.outputs.update(
                api_url=values[0],
                api_key=values[1],
                policy=json.loads(values[2]),
                body=json.loads(values[3]),
                source_arn=values[4],
            )
        )

    program()
    return run


@pytest.fixture(scope="session")
def dev() -> StackRun:
    return run_program("dev")


@pytest.fixture(scope="session")
def prod() -> StackRun:
    return run_program("prod")
