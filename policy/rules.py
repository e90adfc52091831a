"""The policies: each a plain validate function wrapped in a CrossGuard policy object.

Resource policies see a resource's inputs before it is created or updated, so ``pulumi up``
stops before an unsafe resource exists. Stack policies see every resource's outputs at the end
and check what one resource alone cannot show (a bucket without its public-access block). A
value still unknown during a preview raises the SDK's ``UnknownValueError``, which it reports as
"can't run during preview", never as a pass; ``pulumi up`` checks it once known.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.documents import (
    as_list,
    is_tls_deny,
    load,
    statement_problems,
    statements,
    unguarded_methods,
)

BUCKETS = frozenset(("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"))
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = frozenset(
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    )
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
SSE_ALGORITHMS = frozenset(("AES256", "aws:kms", "aws:kms:dsse"))
ROLE = "aws:iam/role:Role"
# Resources whose ``policy`` input is a whole identity-policy document.
POLICY_DOCUMENTS = frozenset(
    (
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    )
)
ATTACHMENTS = frozenset(
    (
        "aws:iam/policyAttachment:PolicyAttachment",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    )
)
REST_API = "aws:apigateway/restApi:RestApi"
STAGE = "aws:apigateway/stage:Stage"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def public_access_blocked(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != PUBLIC_ACCESS_BLOCK:
        return
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if args.props.get(flag) is not True]
    if off:
        report(f"public access is not fully blocked: set {', '.join(off)} to true")


def encrypted_by_default(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in ENCRYPTION:
        return
    algorithms = [
        (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
        for rule in as_list(args.props.get("rules"))
    ]
    if not any(algorithm in SSE_ALGORITHMS for algorithm in algorithms):
        report(
            "no default encryption: give a rule applyServerSideEncryptionByDefault with"
            f" sseAlgorithm one of {', '.join(sorted(SSE_ALGORITHMS))}"
        )


def tls_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != BUCKET_POLICY:
        return
    if not any(is_tls_deny(s) for s in statements(load(args.props.get("policy")))):
        report(
            'no statement denies plain HTTP: Deny "s3:*" to Principal "*" on the bucket and'
            ' "<bucket>/*" with Condition {"Bool": {"aws:SecureTransport": "false"}}'
        )


def _documents(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    """(label, document) of every policy document the resource carries inline."""
    if args.resource_type in POLICY_DOCUMENTS:
        return [("policy", args.props.get("policy"))]
    if args.resource_type != ROLE:
        return []
    inline = [
        (f"inline policy {p.get('name')!r}", p.get("policy"))
        for p in as_list(args.props.get("inlinePolicies"))
    ]
    return [("trust policy", args.props.get("assumeRolePolicy")), *inline]


def iam_statements_scoped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for label, document in _documents(args):
        for statement in statements(load(document)):
            for problem in statement_problems(statement):
                sid = f" {statement['Sid']}" if statement.get("Sid") else ""
                report(f"{label}, statement{sid}: {problem}")


def no_aws_managed_policies(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == ROLE:
        arns = as_list(args.props.get("managedPolicyArns"))
    elif args.resource_type in ATTACHMENTS:
        arns = [args.props.get("policyArn")]
    else:
        return
    for arn in arns:
        if ":iam::aws:policy/" in str(arn):
            report(
                f"attaches the AWS-managed policy {arn}, whose statements this pack cannot see"
                " (many use Resource '*'); attach a scoped policy document instead"
            )


def methods_need_key_or_authorizer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != REST_API or not args.props.get("body"):
        return
    open_methods = unguarded_methods(load(args.props["body"]))
    if open_methods:
        report(
            f"anyone may call {', '.join(open_methods)}: give each method `security` with the"
            " x-api-key apiKey scheme, or an IAM (awsSigv4) or JWT/Lambda authorizer"
        )


def log_retention_set(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LOG_GROUP:
        return
    days = args.props.get("retentionInDays")
    if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
        report("the log group keeps events forever: set retentionInDays")


def _of_type(resources: Iterable[PolicyResource], types: Collection[str]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _names_bucket(resource: PolicyResource, bucket: PolicyResource) -> bool:
    """The resource's ``bucket`` is this bucket: by dependency, or by its id or name."""
    if bucket in resource.property_dependencies.get("bucket", []):
        return True
    value = resource.props.get("bucket")
    return value is not None and value in (bucket.props.get("id"), bucket.props.get("bucket"))


def buckets_guarded(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = {
        "public access block": {PUBLIC_ACCESS_BLOCK},
        "default encryption configuration": ENCRYPTION,
        "bucket policy": {BUCKET_POLICY},
    }
    for bucket in _of_type(args.resources, BUCKETS):
        missing = [
            label
            for label, types in companions.items()
            if not any(_names_bucket(r, bucket) for r in _of_type(args.resources, types))
        ]
        if missing:
            report(f"bucket {bucket.name} has no {', '.join(missing)}", bucket.urn)


def _log_group_name(arn: str) -> str:
    return arn.split(":log-group:", 1)[-1].removesuffix(":*")


def logs_go_to_managed_groups(args: StackValidationArgs, report: ReportViolation) -> None:
    """A group nobody manages is created by AWS on first write, without retention."""
    managed = {r.props.get("name") for r in _of_type(args.resources, {LOG_GROUP})}
    for function in _of_type(args.resources, {FUNCTION}):
        logging = function.props.get("loggingConfig") or {}
        group = logging.get("logGroup") or f"/aws/lambda/{function.props.get('name')}"
        if group not in managed:
            report(
                f"function {function.name} logs to {group}, not a log group of this stack",
                function.urn,
            )
    for stage in _of_type(args.resources, {STAGE}):
        destination = (stage.props.get("accessLogSettings") or {}).get("destinationArn")
        if destination and _log_group_name(destination) not in managed:
            report(
                f"stage {stage.name} writes access logs to {destination}, not a log group here",
                stage.urn,
            )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        "s3-public-access-blocked",
        "S3 public access blocks turn on all four settings.",
        public_access_blocked,
    ),
    ResourceValidationPolicy(
        "s3-encrypted-by-default",
        "S3 encryption configurations set a default SSE algorithm.",
        encrypted_by_default,
    ),
    ResourceValidationPolicy(
        "s3-tls-only",
        "S3 bucket policies deny every request made without TLS.",
        tls_only,
    ),
    StackValidationPolicy(
        "s3-bucket-guarded",
        "Every S3 bucket has a public access block, default encryption and a bucket policy.",
        buckets_guarded,
    ),
    ResourceValidationPolicy(
        "iam-statements-scoped",
        "IAM Allow statements name their actions (no wildcards) and resources (only X-Ray '*';"
        " Bedrock models and inference profiles without wildcards).",
        iam_statements_scoped,
    ),
    ResourceValidationPolicy(
        "iam-no-aws-managed-policies",
        "No AWS-managed policies: their statements cannot be checked for wildcards.",
        no_aws_managed_policies,
    ),
    ResourceValidationPolicy(
        "apigateway-methods-keyed-or-authorized",
        "Every REST API method with an integration needs an API key or an IAM/JWT authorizer.",
        methods_need_key_or_authorizer,
    ),
    ResourceValidationPolicy(
        "logs-retention-set",
        "CloudWatch log groups expire their events.",
        log_retention_set,
    ),
    StackValidationPolicy(
        "logs-in-managed-groups",
        "Lambda functions and API stages log to log groups this stack manages (with retention).",
        logs_go_to_managed_groups,
    ),
]
