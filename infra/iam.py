"""IAM policy documents for the image API, as plain dicts so tests can read every statement.

Least privilege: each statement names its exact actions and resources. The only ``*`` resource
is X-Ray's, because AWS offers no narrower resource for trace segments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from infra.settings import Invocation


def assume_role(service: str) -> dict:
    """Trust policy letting one AWS service (e.g. ``lambda.amazonaws.com``) assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def bedrock_model_arns(
    invocations: Iterable[Invocation], region: str, account: str, partition: str
) -> list[str]:
    """What ``bedrock:InvokeModel`` must allow for each target, models' and operations' alike.

    In-Region: the foundation model in ``region``. Through a cross-Region inference profile: the
    profile in ``region`` (the source region) and the foundation model in every destination
    region the profile may route the call to; a grant naming the profile must also name the
    model in each of its regions (Bedrock User Guide, "Prerequisites for inference profiles",
    https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html).
    """
    bedrock = f"arn:{partition}:bedrock"
    arns: list[str] = []
    for target in invocations:
        if target.destinations:
            arns.append(f"{bedrock}:{region}:{account}:inference-profile/{target.invoke_id}")
        regions = target.destinations or (region,)
        arns += [f"{bedrock}:{r}::foundation-model/{target.model_id}" for r in regions]
    return list(dict.fromkeys(arns))


def lambda_policy(
    *,
    model_arns: list[str],
    bucket_arn: str,
    key_prefix: str,
    upload_prefix: str | None,
    log_group_arn: str,
    kms_key_arn: str | None,
    tracing: bool,
) -> dict:
    statements: list[Mapping] = [
        {
            "Sid": "InvokeConfiguredModels",
            "Effect": "Allow",
            "Action": ["bedrock:InvokeModel"],
            "Resource": model_arns,
        },
        {
            "Sid": "WriteAndReadImages",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": [f"{bucket_arn}/{key_prefix}*"],
        },
        # Without ListBucket, S3 answers HEAD of a missing key with 403 instead of 404, and
        # cache misses and get_image_url would look like permission errors.
        {
            "Sid": "TellMissingImages",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{log_group_arn}:*"],
        },
    ]
    if upload_prefix is not None:  # None: editing is off, so are uploads
        # POST /uploads hands out presigned POST forms, and S3 authorizes such an upload as the
        # principal whose key signed the form's policy (the form carries its x-amz-credential;
        # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html and
        # .../API/sigv4-HTTPPOSTConstructPolicy.html): the role needs PutObject here although
        # the Lambda itself never writes an upload. It reads them back as edit inputs.
        statements.insert(
            2,
            {
                "Sid": "SignUploadFormsAndReadUploads",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": [f"{bucket_arn}/{upload_prefix}*"],
            },
        )
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": [kms_key_arn],
            }
        )
    if tracing:
        statements.append(
            {
                "Sid": "WriteTraces",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": ["*"],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def authorizer_policy(*, log_group_arn: str) -> dict:
    """The API-key authorizer reads nothing and calls nothing (API Gateway checks the key it
    returns): it may only write its own log group."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{log_group_arn}:*"],
            }
        ],
    }


def api_gateway_logs_policy(partition: str, region: str, account_id: str) -> dict:
    """What API Gateway's account-wide logging role needs: the actions of AWS's managed
    AmazonAPIGatewayPushToCloudWatchLogs policy, on this account's log groups in this region."""
    groups = f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ApiGatewayWritesItsLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogGroups",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:FilterLogEvents",
                ],
                "Resource": [groups, f"{groups}:log-stream:*"],
            }
        ],
    }


def invoke_api_policy(execution_arn: str, stage: str) -> dict:
    """What a SigV4 caller needs when the API uses IAM authorization: every route of one stage."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeImageApi",
                "Effect": "Allow",
                "Action": ["execute-api:Invoke"],
                "Resource": [f"{execution_arn}/{stage}/*/*"],
            }
        ],
    }


def tls_only_bucket_policy(bucket_arn: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
