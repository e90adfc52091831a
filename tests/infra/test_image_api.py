"""What ``ImageApi`` leaves behind and owns: retained data, the account-wide role, ARNs."""

import importlib
import json

import pytest

from infra.package import AUTHORIZER_HANDLER
from infra.settings import schema_defaults
from tests.infra.conftest import AUTONAMED, StackRun, run_program, stack_config

ACCOUNT_SETTINGS = "aws:apigateway/account:Account"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
BUCKET = "aws:s3/bucket:Bucket"


def walk_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)


@pytest.fixture(scope="module")
def owner() -> StackRun:
    """A stack that owns the account-wide settings, and everything optional switched on, in a
    partition that is not ``aws``."""
    config = {
        **stack_config("prod"),
        "imagegen:manageApiGatewayAccount": "true",
        "imagegen:authorization": "iam",
        "imagegen:alarmEmail": "ops@example.com",
        "imagegen:monthlyBudgetUsd": "100",
    }
    return run_program("prod", config, partition="aws-us-gov")


def test_retained_resources_have_generated_names(prod: StackRun):
    """A fixed name would collide with the retained resource on the next `pulumi up`."""
    retained = [r for r in prod.resources if r.retain_on_delete and r.type in AUTONAMED]
    assert {r.type for r in retained} >= {BUCKET, "aws:cloudwatch/logGroup:LogGroup"}
    assert [r.name for r in retained if not r.autonamed] == []


def test_a_retained_bucket_keeps_what_makes_it_private_and_encrypted(prod: StackRun):
    guards = [r for r in prod.resources if r.inputs.get("bucket") == prod.one(BUCKET).id]
    assert {r.type.rsplit(":", 1)[1] for r in guards} == {
        "BucketPublicAccessBlock",
        "BucketPolicy",
        "BucketLifecycleConfiguration",
        "BucketServerSideEncryptionConfiguration",
        "BucketOwnershipControls",
    }
    assert all(r.retain_on_delete for r in guards)


def test_dev_retains_nothing(dev: StackRun):
    assert [r.name for r in dev.resources if r.retain_on_delete] == []


def test_no_stack_owns_the_account_wide_role_unless_asked(dev: StackRun, prod: StackRun):
    assert schema_defaults()["manageApiGatewayAccount"] is False
    assert dev.of_type(ACCOUNT_SETTINGS) == prod.of_type(ACCOUNT_SETTINGS) == []


def test_destroying_the_owner_leaves_the_account_setting_and_its_role_in_place(owner: StackRun):
    """pulumi-aws 7 resets the account setting on delete: every stage would stop logging."""
    names = ["imagegen-prod-apigw-account", "imagegen-prod-apigw-logs-role"]
    names.append("imagegen-prod-apigw-logs-policy")
    assert all(owner.named(name).retain_on_delete for name in names)


def test_the_owners_logging_role_is_scoped_to_its_account_and_region(owner: StackRun):
    """AWS's managed AmazonAPIGatewayPushToCloudWatchLogs allows its actions on "*"; the inline
    policy allows the same actions on this account's log groups in this region only."""
    (account,) = owner.of_type(ACCOUNT_SETTINGS)
    push_role = owner.named("imagegen-prod-apigw-logs-role")
    assert account.inputs["cloudwatchRoleArn"].endswith(f":role/{push_role.inputs['name']}")
    trust = json.loads(push_role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert owner.of_type(ATTACHMENT) == []
    policy = owner.named("imagegen-prod-apigw-logs-policy")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert "logs:PutLogEvents" in statement["Action"]
    assert all(
        r.startswith(f"arn:aws-us-gov:logs:{owner.region}:123456789012:log-group:")
        for r in statement["Resource"]
    )


def test_no_role_uses_the_deprecated_managed_policy_arns(owner: StackRun):
    assert all("managedPolicyArns" not in r.inputs for r in owner.of_type(ROLE))


def test_every_arn_is_in_the_providers_partition(owner: StackRun):
    """No `arn:aws:` literal: the program takes the partition from the provider."""
    strings = [s for r in owner.resources for s in walk_strings(r.inputs)]
    strings += list(walk_strings(owner.outputs))
    assert any(s.startswith("arn:aws-us-gov:") for s in strings)
    assert [s for s in strings if "arn:aws:" in s] == []


def test_the_key_authorizer_is_a_small_function_from_the_services_archive(run: StackRun):
    authorizer = run.named(f"imagegen-{run.stack}-authorizer").inputs
    assert authorizer["handler"] == AUTHORIZER_HANDLER == "service.authorizer.handler"
    module, function = AUTHORIZER_HANDLER.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), function))
    assert (authorizer["runtime"], authorizer["architectures"]) == ("python3.13", ["arm64"])
    assert authorizer["memorySize"] == 128 and authorizer["timeout"] <= 3
    assert set(authorizer["code"].assets) == set(run.function.inputs["code"].assets)
    log_group = run.named(f"imagegen-{run.stack}-authorizer-logs")
    assert authorizer["loggingConfig"]["logGroup"] == log_group.inputs["name"]
    function_logs = run.named(f"imagegen-{run.stack}-function-logs")
    assert log_group.inputs["retentionInDays"] == function_logs.inputs["retentionInDays"]


def test_the_key_authorizers_role_may_only_write_its_own_logs(run: StackRun):
    role = run.named(f"imagegen-{run.stack}-authorizer-role")
    authorizer = run.named(f"imagegen-{run.stack}-authorizer").inputs
    assert authorizer["role"].endswith(f":role/{role.inputs['name']}")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    policy = run.named(f"imagegen-{run.stack}-authorizer-policy")
    assert policy.inputs["role"] == role.id
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    log_group = run.named(f"imagegen-{run.stack}-authorizer-logs").inputs["name"]
    assert statement == {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [f"arn:aws:logs:{run.region}:123456789012:log-group:{log_group}:*"],
    }
    assert {r.name for r in run.of_type(ROLE)} == {
        f"imagegen-{run.stack}-function-role",
        f"imagegen-{run.stack}-authorizer-role",
        f"imagegen-{run.stack}-worker-role",  # the job worker's own (test_jobs.py)
    }


def test_an_iam_stack_has_no_key_authorizer(owner: StackRun):
    assert [r.name for r in owner.resources if "authorizer" in r.name] == []
