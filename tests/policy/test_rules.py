"""Each policy against good and bad resources shaped like pulumi-aws 7.51's inputs (camelCase)."""

from __future__ import annotations

import json

import pytest
import yaml
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policy.rules import (
    BUCKET_POLICY,
    FUNCTION,
    LOG_GROUP,
    POLICIES,
    PUBLIC_ACCESS_BLOCK,
    REST_API,
    ROLE,
    STAGE,
)
from tests.policy.fakes import resource, violations

BUCKET = "aws:s3/bucket:Bucket"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ARN = "arn:aws:s3:::images-abc123"
ALL_BLOCKED = {
    "bucket": "images-abc123",
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
LAMBDA_URI = (
    "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-west-2:123456789012:function:fn/invocations"
)
API_KEY_SCHEME = {"type": "apiKey", "name": "x-api-key", "in": "header"}
# A cross-Region inference profile and its model in each destination region, as AWS requires.
PROFILE_GRANT = [
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.stability.m-v1:0",
    *(
        f"arn:aws:bedrock:{r}::foundation-model/stability.m-v1:0"
        for r in ("us-east-1", "us-west-2")
    ),
]


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="arn:aws:s3:::images-abc123/images/*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# -- S3: public access, encryption, TLS only, and every bucket guarded ----------------------


def test_a_public_access_block_must_turn_on_all_four_settings():
    assert (
        violations("s3-public-access-blocked", [resource(PUBLIC_ACCESS_BLOCK, ALL_BLOCKED)]) == []
    )
    partial = {**ALL_BLOCKED, "blockPublicPolicy": False}
    del partial["restrictPublicBuckets"]
    assert violations("s3-public-access-blocked", [resource(PUBLIC_ACCESS_BLOCK, partial)]) == [
        "res: public access is not fully blocked: set blockPublicPolicy, restrictPublicBuckets"
        " to true"
    ]


@pytest.mark.parametrize(
    "default",
    [{"sseAlgorithm": "AES256"}, {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:aws:kms:k"}],
)
def test_sse_s3_and_sse_kms_are_default_encryption(default):
    config = {"bucket": "images-abc123", "rules": [{"applyServerSideEncryptionByDefault": default}]}
    assert violations("s3-encrypted-by-default", [resource(ENCRYPTION, config)]) == []


def test_an_encryption_configuration_without_a_default_algorithm_is_refused():
    config = {"bucket": "images-abc123", "rules": [{"bucketKeyEnabled": True}]}
    (message,) = violations("s3-encrypted-by-default", [resource(ENCRYPTION, config)])
    assert "no default encryption" in message and "AES256" in message


@pytest.mark.parametrize(
    "statement",
    [
        TLS_DENY,
        {**TLS_DENY, "Principal": {"AWS": "*"}, "Action": ["s3:*"]},
        {**TLS_DENY, "Resource": "*", "Condition": {"Bool": {"aws:securetransport": False}}},
    ],
)
def test_a_bucket_policy_that_denies_plain_http_passes(statement):
    policy = resource(BUCKET_POLICY, {"bucket": "images-abc123", "policy": document(statement)})
    assert violations("s3-tls-only", [policy]) == []


@pytest.mark.parametrize(
    "statement",
    [
        {**TLS_DENY, "Effect": "Allow"},
        {**TLS_DENY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        {**TLS_DENY, "Condition": {}},
        {**TLS_DENY, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
        {**TLS_DENY, "Action": "s3:GetObject"},
        {**TLS_DENY, "Resource": [f"{ARN}/*"]},  # the bucket itself (listing) stays open
        {**TLS_DENY, "Resource": [ARN]},  # the objects stay open
    ],
)
def test_a_bucket_policy_that_lets_plain_http_through_is_refused(statement):
    policy = resource(BUCKET_POLICY, {"bucket": "images-abc123", "policy": document(statement)})
    (message,) = violations("s3-tls-only", [policy])
    assert "no statement denies plain HTTP" in message


@pytest.mark.parametrize("text", ["", "not: [valid", '["a list"]'])
def test_an_unreadable_bucket_policy_proves_nothing(text):
    policy = resource(BUCKET_POLICY, {"bucket": "images-abc123", "policy": text})
    assert violations("s3-tls-only", [policy])


def guarded_bucket(by_dependency: bool) -> list:
    """A bucket with its three companions, naming it by dependency or by its name."""
    bucket = resource(BUCKET, {"bucket": "images-abc123", "arn": ARN}, "images")

    def companion(typ: str, props: dict, name: str):
        if by_dependency:
            props = {**props, "bucket": "id-from-an-output"}
            return resource(typ, props, name, {"bucket": [bucket]})
        return resource(typ, props, name)

    return [
        bucket,
        companion(PUBLIC_ACCESS_BLOCK, ALL_BLOCKED, "block"),
        companion(ENCRYPTION, {"bucket": "images-abc123", "rules": []}, "sse"),
        companion(BUCKET_POLICY, {"bucket": "images-abc123", "policy": "{}"}, "tls"),
    ]


@pytest.mark.parametrize("by_dependency", [True, False])
def test_a_bucket_with_its_companions_is_guarded(by_dependency):
    assert violations("s3-bucket-guarded", guarded_bucket(by_dependency)) == []


def test_a_bucket_without_its_companions_is_refused():
    bucket, _, sse, _ = guarded_bucket(by_dependency=False)
    elsewhere = resource(BUCKET_POLICY, {"bucket": "another-bucket", "policy": "{}"}, "other")
    assert violations("s3-bucket-guarded", [bucket, sse, elsewhere]) == [
        "bucket images has no public access block, bucket policy"
    ]
    assert violations("s3-bucket-guarded", [bucket]) == [
        "bucket images has no public access block, default encryption configuration, bucket policy"
    ]


# -- IAM: no wildcard actions, no Resource "*" but X-Ray's, no opaque AWS-managed policies ----


@pytest.mark.parametrize(
    "statements",
    [
        [allow(["s3:PutObject", "s3:GetObject"])],
        [allow("bedrock:InvokeModel", ["arn:aws:bedrock:us-west-2::foundation-model/m"])],
        [allow("bedrock:InvokeModel", PROFILE_GRANT)],
        [allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])],
        [{"Effect": "Deny", "Action": "*", "Resource": "*"}],  # denying broadly is fine
    ],
)
def test_scoped_statements_pass(statements):
    policy = resource(ROLE_POLICY, {"role": "fn-role", "policy": document(*statements)})
    assert violations("iam-statements-scoped", [policy]) == []


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (allow("*"), "wildcard action '*'"),
        (allow(["s3:GetObject", "s3:*"]), "wildcard action 's3:*'"),
        (allow("s3:Get*"), "wildcard action 's3:Get*'"),
        (allow("s3:GetObject", "*"), "Resource '*' for s3:GetObject (only X-Ray may use it)"),
        (
            allow(["xray:PutTraceSegments", "logs:PutLogEvents"], ["*"]),
            "Resource '*' for xray:PutTraceSegments, logs:PutLogEvents (only X-Ray may use it)",
        ),
        (
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": ARN},
            "an Allow with NotAction/NotResource grants everything not listed",
        ),
        (
            allow("bedrock:InvokeModel", "arn:aws:bedrock:*::foundation-model/*"),
            "wildcard Bedrock resource 'arn:aws:bedrock:*::foundation-model/*': name each model"
            " and inference profile",
        ),
        (
            allow(
                "bedrock:InvokeModel", [*PROFILE_GRANT[:1], "arn:aws:bedrock:*::foundation-model/m"]
            ),
            "wildcard Bedrock resource 'arn:aws:bedrock:*::foundation-model/m': name each model"
            " and inference profile",
        ),
        (
            allow(
                "bedrock:InvokeModel",
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.*",
            ),
            "wildcard Bedrock resource 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "us.*': name each model and inference profile",
        ),
    ],
)
def test_wildcard_grants_are_refused(statement, problem):
    policy = resource(ROLE_POLICY, {"policy": document({"Sid": "Broad", **statement})}, "p")
    assert violations("iam-statements-scoped", [policy]) == [
        f"p: policy, statement Broad: {problem}"
    ]


def test_a_roles_trust_and_inline_policies_are_checked_too():
    trust = document(
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:*"}
    )
    role = resource(
        ROLE,
        {
            "assumeRolePolicy": trust,
            "inlinePolicies": [{"name": "extra", "policy": document(allow("s3:*"))}],
        },
        "fn-role",
    )
    assert violations("iam-statements-scoped", [role]) == [
        "fn-role: trust policy, statement: wildcard action 'sts:*'",
        "fn-role: inline policy 'extra', statement: wildcard action 's3:*'",
    ]


def test_aws_managed_policies_are_refused_because_the_pack_cannot_read_them():
    managed = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    own = "arn:aws:iam::123456789012:policy/imagegen-logs"
    resources = [
        resource(ROLE, {"assumeRolePolicy": "{}", "managedPolicyArns": [managed]}, "role"),
        resource(ATTACHMENT, {"role": "role", "policyArn": managed}, "attach"),
        resource(ATTACHMENT, {"role": "role", "policyArn": own}, "own"),
    ]
    found = violations("iam-no-aws-managed-policies", resources)
    assert [m.split(":")[0] for m in found] == ["role", "attach"]
    assert all(f"AWS-managed policy {managed}" in m for m in found)


# -- API Gateway: every method that reaches a backend needs a key or an authorizer -----------


def api(security: list | None, *, schemes: dict | None = None, **operations) -> dict:
    """An OpenAPI 3 body with POST /images and API Gateway's catch-all method on it."""
    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": LAMBDA_URI}
    operation = {"x-amazon-apigateway-integration": integration}
    if security is not None:
        operation["security"] = security
    return {
        "openapi": "3.0.1",
        "paths": {
            "/images": {
                "post": dict(operation),
                "x-amazon-apigateway-any-method": dict(operation),
                **operations,
            }
        },
        "components": {"securitySchemes": {"api_key": API_KEY_SCHEME, **(schemes or {})}},
    }


def api_violations(body: dict | str) -> list[str]:
    text = body if isinstance(body, str) else json.dumps(body)
    return violations(
        "apigateway-methods-keyed-or-authorized", [resource(REST_API, {"body": text})]
    )


def test_methods_behind_the_api_key_pass():
    assert api_violations(api([{"api_key": []}])) == []


@pytest.mark.parametrize(
    "security",
    [
        [],  # what the program writes when apiKeyRequired is false
        None,  # no security at all
        [{}],  # an empty alternative lets anyone in
        [{"api_key": []}, {}],  # so does any open alternative
        [{"undeclared": []}],
    ],
)
def test_methods_anyone_may_call_are_refused(security):
    assert api_violations(api(security)) == [
        "res: anyone may call POST /images, ANY /images: give each method `security` with the"
        " x-api-key apiKey scheme, or an IAM (awsSigv4) or JWT/Lambda authorizer"
    ]


def test_the_catch_all_method_counts_and_mock_integrations_do_not():
    body = api(
        [{"api_key": []}],
        options={"x-amazon-apigateway-integration": {"type": "mock"}},  # CORS preflight
    )
    body["paths"]["/images"]["x-amazon-apigateway-any-method"]["security"] = []
    (message,) = api_violations(body)
    assert "anyone may call ANY /images:" in message


def test_security_only_at_the_root_does_not_count():
    """API Gateway's import reads security per method, so a root-level one proves nothing."""
    body = {**api(None), "security": [{"api_key": []}]}
    assert "POST /images" in api_violations(body)[0]


@pytest.mark.parametrize(
    "scheme",
    [
        {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        },
        {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "cognito_user_pools",
            "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": []},
        },
        {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": LAMBDA_URI},
        },
    ],
    ids=["iam-sigv4", "cognito-jwt", "lambda-authorizer"],
)
def test_an_iam_or_jwt_authorizer_guards_a_method(scheme):
    assert api_violations(api([{"auth": []}], schemes={"auth": scheme})) == []


def test_iam_auth_by_extension_and_a_key_in_the_query_string():
    body = api(None)
    for operation in body["paths"]["/images"].values():
        operation["x-amazon-apigateway-auth"] = {"type": "AWS_IAM"}
    assert api_violations(body) == []
    query_key = {"type": "apiKey", "name": "x-api-key", "in": "query"}  # not API Gateway's key
    assert api_violations(api([{"q": []}], schemes={"q": query_key}))


def test_swagger_2_and_yaml_bodies_are_read():
    body = api([{"api_key": []}])
    swagger = {"swagger": "2.0", "paths": body["paths"]}
    swagger["securityDefinitions"] = {"api_key": API_KEY_SCHEME}
    assert api_violations(yaml.safe_dump(swagger)) == []
    del swagger["securityDefinitions"]
    assert api_violations(yaml.safe_dump(swagger))


def test_a_rest_api_without_a_body_is_left_to_its_method_resources():
    assert api_violations("") == []


# -- Logs: every log group expires, and Lambda and API logs go to such a group ---------------


@pytest.mark.parametrize("days", [7, 7.0])  # the engine sends numbers as floats
def test_a_log_group_with_retention_passes(days):
    group = resource(LOG_GROUP, {"name": "/aws/lambda/fn", "retentionInDays": days})
    assert violations("logs-retention-set", [group]) == []


@pytest.mark.parametrize("props", [{}, {"retentionInDays": 0}, {"retentionInDays": True}])
def test_a_log_group_kept_forever_is_refused(props):
    group = resource(LOG_GROUP, {"name": "/aws/lambda/fn", **props}, "logs")
    assert violations("logs-retention-set", [group]) == [
        "logs: the log group keeps events forever: set retentionInDays"
    ]


def log_groups(*names: str) -> list:
    return [resource(LOG_GROUP, {"name": n, "retentionInDays": 7}, n) for n in names]


def test_lambda_and_access_logs_in_managed_groups_pass():
    function = resource(FUNCTION, {"name": "fn", "loggingConfig": {"logGroup": "/custom/fn"}})
    default = resource(FUNCTION, {"name": "other"})  # Lambda's default group name
    destination = "arn:aws:logs:us-west-2:123456789012:log-group:/aws/apigateway/api"
    stage = resource(STAGE, {"accessLogSettings": {"destinationArn": destination}})
    groups = log_groups("/custom/fn", "/aws/lambda/other", "/aws/apigateway/api")
    assert violations("logs-in-managed-groups", [function, default, stage, *groups]) == []


def test_logs_in_groups_nobody_manages_are_refused():
    function = resource(FUNCTION, {"name": "fn"}, "fn")
    destination = "arn:aws:logs:us-west-2:123456789012:log-group:/elsewhere:*"
    stage = resource(STAGE, {"accessLogSettings": {"destinationArn": destination}}, "stage")
    assert violations("logs-in-managed-groups", [function, stage, *log_groups("/aws/x")]) == [
        "function fn logs to /aws/lambda/fn, not a log group of this stack",
        f"stage stage writes access logs to {destination}, not a log group here",
    ]


# -- The pack as a whole -------------------------------------------------------------------


def test_a_value_unknown_during_preview_is_never_a_pass():
    """The SDK turns this error into "can't run during preview"; ``pulumi up`` checks it."""
    policy = resource(ROLE_POLICY, {"policy": UNKNOWN_STRING_VALUE})
    with pytest.raises(UnknownValueError):
        violations("iam-statements-scoped", [policy])


def test_policy_names_are_unique():
    assert len({p.name for p in POLICIES}) == len(POLICIES)


def test_only_the_playground_page_may_be_open():
    """GET / serves static HTML that asks for the key itself; POST / or ANY / stays guarded."""
    body = api([{"api_key": []}])
    open_page = {
        "security": [],
        "x-amazon-apigateway-integration": body["paths"]["/images"]["post"][
            "x-amazon-apigateway-integration"
        ],
    }
    body["paths"]["/"] = {"get": dict(open_page)}
    assert api_violations(body) == []
    body["paths"]["/"]["x-amazon-apigateway-any-method"] = dict(open_page)
    (message,) = api_violations(body)
    assert "anyone may call ANY /:" in message


def test_a_cors_preflight_may_be_open_but_nothing_else_on_its_path():
    """Browsers send preflights without credentials (Fetch standard), so a public OPTIONS to the
    Lambda, which grants listed origins only, is not an open method; the others still count."""
    body = api([{"api_key": []}])
    preflight = {
        "security": [],
        "x-amazon-apigateway-integration": body["paths"]["/images"]["post"][
            "x-amazon-apigateway-integration"
        ],
    }
    body["paths"]["/images"]["options"] = dict(preflight)
    assert api_violations(body) == []
    body["paths"]["/images"]["get"] = dict(preflight)
    (message,) = api_violations(body)
    assert "anyone may call GET /images:" in message and "OPTIONS" not in message
