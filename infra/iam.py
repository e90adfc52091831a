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


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _finish(
    statements: list[Mapping],
    *,
    log_group_arn: str,
    kms_key_arn: str | None,
    tracing: bool,
) -> dict:
    """What every function role ends with: its own logs, the stack's key, X-Ray."""
    statements = [
        *statements,
        _allow(
            "WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]
        ),
    ]
    if kms_key_arn:
        # The stack's key encrypts the bucket (SSE-KMS) and the job queues (SQS SSE-KMS): S3
        # and SQS call KMS as the caller, so writers need GenerateDataKey and readers Decrypt
        # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
        # sqs-key-management.html: "specify the required permissions in an IAM policy assigned to
        # the principals that produce and consume encrypted messages"; the key's default policy
        # lets IAM policies grant its use).
        statements.append(
            _allow("UseStackKey", ["kms:GenerateDataKey", "kms:Decrypt"], [kms_key_arn])
        )
    if tracing:
        statements.append(
            _allow("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _jobs_access(bucket_arn: str, job_prefix: str) -> dict:
    """A job's request and state (service/jobs.py), which both functions read and write."""
    return _allow(
        "ReadAndWriteJobs", ["s3:PutObject", "s3:GetObject"], [f"{bucket_arn}/{job_prefix}*"]
    )


def _tell_missing(bucket_arn: str) -> dict:
    # Without ListBucket, S3 answers HEAD or GET of a missing key with 403 instead of 404, and
    # cache misses, get_image_url and unknown jobs would look like permission errors.
    return _allow("TellMissingImages", ["s3:ListBucket"], [bucket_arn])


def lambda_policy(
    *,
    model_arns: list[str],
    bucket_arn: str,
    key_prefix: str,
    upload_prefix: str | None,
    job_prefix: str,
    jobs_queue_arn: str,
    log_group_arn: str,
    kms_key_arn: str | None,
    tracing: bool,
) -> dict:
    """The API function: generates and edits synchronously, creates and reads jobs, and hands
    each new job to the jobs queue (send only: it never receives or deletes a job)."""
    statements: list[Mapping] = [
        _allow("InvokeConfiguredModels", ["bedrock:InvokeModel"], model_arns),
        _allow(
            "WriteAndReadImages",
            ["s3:PutObject", "s3:GetObject"],
            [f"{bucket_arn}/{key_prefix}*"],
        ),
    ]
    if upload_prefix is not None:  # None: editing is off, so are uploads
        # POST /uploads hands out presigned POST forms, and S3 authorizes such an upload as the
        # principal whose key signed the form's policy (the form carries its x-amz-credential;
        # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html and
        # .../API/sigv4-HTTPPOSTConstructPolicy.html): the role needs PutObject here although
        # the Lambda itself never writes an upload. It reads them back as edit inputs.
        statements.append(
            _allow(
                "SignUploadFormsAndReadUploads",
                ["s3:PutObject", "s3:GetObject"],
                [f"{bucket_arn}/{upload_prefix}*"],
            )
        )
    statements += [
        _tell_missing(bucket_arn),
        # Creates jobs (If-None-Match), reads them for GET /jobs/{id}, ends those past their time
        # or their worker's lease (If-Match).
        _jobs_access(bucket_arn, job_prefix),
        _allow("QueueJobs", ["sqs:SendMessage"], [jobs_queue_arn]),
    ]
    return _finish(
        statements, log_group_arn=log_group_arn, kms_key_arn=kms_key_arn, tracing=tracing
    )


# What a Lambda event source mapping reads an SQS queue with, as the function's execution role:
# the actions of AWS's AWSLambdaSQSQueueExecutionRole (sqs:ReceiveMessage, sqs:DeleteMessage,
# sqs:GetQueueAttributes; https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). The
# mapping leaves a failed message to reappear after the visibility timeout, and the worker
# makes no SQS call itself, so ChangeMessageVisibility is not granted.
SQS_CONSUMER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]


def worker_policy(
    *,
    model_arns: list[str],
    bucket_arn: str,
    key_prefix: str,
    upload_prefix: str | None,
    job_prefix: str,
    queue_arns: list[str],
    log_group_arn: str,
    kms_key_arn: str | None,
    tracing: bool,
) -> dict:
    """The job worker: runs a job's generation or edit (the same models as the API function),
    writes its images, reads uploads named as inputs, moves the job's state, and consumes the
    jobs queue and its dead-letter queue through its event source mappings. It signs no upload
    forms (no PutObject on uploads) and sends no messages."""
    statements: list[Mapping] = [
        _allow("InvokeConfiguredModels", ["bedrock:InvokeModel"], model_arns),
        _allow(
            "WriteAndReadImages",
            ["s3:PutObject", "s3:GetObject"],
            [f"{bucket_arn}/{key_prefix}*"],
        ),
    ]
    if upload_prefix is not None:
        statements.append(
            _allow("ReadUploads", ["s3:GetObject"], [f"{bucket_arn}/{upload_prefix}*"])
        )
    statements += [
        _tell_missing(bucket_arn),
        # Claims and ends jobs with conditional writes (If-Match) and reads their requests.
        _jobs_access(bucket_arn, job_prefix),
        _allow("ConsumeJobQueues", list(SQS_CONSUMER_ACTIONS), list(queue_arns)),
    ]
    return _finish(
        statements, log_group_arn=log_group_arn, kms_key_arn=kms_key_arn, tracing=tracing
    )


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


def _deny_insecure_transport(action: str, resource: str | list[str]) -> dict:
    """A resource policy that refuses any request made without TLS, whoever makes it; it grants
    nothing (same-account roles get their access from their own policies)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": action,
                "Resource": resource,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def tls_only_queue_policy(queue_arn: str) -> dict:
    """The SQS counterpart of the bucket's (SQS Developer Guide, "Amazon SQS security best
    practices": "Enforce encryption of data in transit", https://docs.aws.amazon.com/
    AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-security-best-practices.html)."""
    return _deny_insecure_transport("sqs:*", queue_arn)


def tls_only_bucket_policy(bucket_arn: str) -> dict:
    return _deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"])
