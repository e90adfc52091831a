"""IAM policy documents for the image API, as plain dicts so tests can read every statement.

Least privilege: each statement names its exact actions and resources. The only ``*`` resource
is X-Ray's, because AWS offers no narrower resource for trace segments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from infra.settings import catalogue


def assume_role(service: str) -> dict:
    """Trust policy letting one AWS service (e.g. ``lambda.amazonaws.com``) assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def bedrock_model_arns(
    model_ids: Iterable[str], region: str, account: str, partition: str
) -> list[str]:
    """Foundation-model ARNs; for an inference profile, the profile plus the model in each
    destination region (AWS checks both when a profile routes a call)."""
    known = catalogue()
    arns: list[str] = []
    for model_id in model_ids:
        model = known[model_id]
        if model_id in model["inference_profiles"]:
            arns.append(f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}")
            regions = model["inference_profiles"][model_id]
        else:
            regions = [region]
        arns += [f"arn:{partition}:bedrock:{r}::foundation-model/{model['id']}" for r in regions]
    return list(dict.fromkeys(arns))


def lambda_policy(
    *,
    model_arns: list[str],
    bucket_arn: str,
    key_prefix: str,
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
