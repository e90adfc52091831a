"""``ImageApi``: one component for the whole image API of one environment.

Private, TLS-only, encrypted S3 bucket with lifecycle expiry of images, uploads and jobs; a
least-privilege Lambda running the ``service`` package; an API Gateway REST API built from
``openapi.yaml`` with validation, throttling, access logs and API keys or IAM authorization;
asynchronous jobs: an encrypted, TLS-only SQS queue with a dead-letter queue, both consumed by a
worker Lambda (``service.worker``, same archive, Lambda's full 15 minutes) through event source
mappings. A second environment is a new stack file, not new code.

With API keys, a small Lambda authorizer (``service.authorizer``, same archive) lets clients send
the key as ``Authorization: Bearer <key>`` or ``x-api-key``; the RestApi's key source is
AUTHORIZER, so API Gateway still checks the key the authorizer hands it against the usage plan
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html).

What ``protect`` keeps (bucket, key, log groups) has generated names, so a stack can be destroyed
and brought up again beside what it retained; the bucket's public-access block, TLS-only policy,
encryption, lifecycle and ownership controls are retained with it, so a retained bucket stays
private and encrypted.
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from api_gateway import definition
from infra import iam
from infra.access_log import access_log_format
from infra.package import AUTHORIZER_HANDLER, HANDLER, WORKER_HANDLER, service_archive
from infra.settings import ImageApiSettings
from service import cors

KEY_PREFIX = "images/"
# Input images clients POST straight to S3 (POST /uploads); apart from KEY_PREFIX, so the role's
# grants and the lifecycle can tell generated images from uploads.
UPLOAD_PREFIX = "uploads/"
# The authorizer only reads two headers: the smallest memory (and CPU) Lambda offers is plenty,
# and a short timeout bounds what a stuck invocation adds to a request.
AUTHORIZER_MEMORY_MB = 128
AUTHORIZER_TIMEOUT_SECONDS = 3
# Asynchronous jobs (service/jobs.py): request and state under their own prefix, apart from
# images and uploads, so grants and the lifecycle can tell them apart.
JOB_PREFIX = "jobs/"
# The job worker gets Lambda's maximum timeout, the point of running slow work as a job
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html: up to 900 s).
WORKER_TIMEOUT_SECONDS = 900
# A job's time limit (IMAGEGEN_JOB_TIME_LIMIT_SECONDS, counted from its creation): the worker's
# timeout less a minute to store the images and end the job (the service's default too).
JOB_TIME_LIMIT_SECONDS = WORKER_TIMEOUT_SECONDS - 60
# "set the source queue's visibility timeout to at least six times the configuration timeout on
# your function. The extra time allows Lambda to retry if your function is throttled while
# processing a previous batch" (Lambda Developer Guide, services-sqs-configure.html; the SQS
# guide says "at least six times the function timeout"). 5400 s, within SQS's 12-hour maximum.
# A crashed worker's job reappears only after this; it is ended failed by then anyway (its time
# limit has passed, service/jobs.py), without calling a model again.
JOBS_VISIBILITY_TIMEOUT_SECONDS = 6 * WORKER_TIMEOUT_SECONDS
# Receives before SQS moves a job's message to the dead-letter queue (devstack's too): the
# second delivery of a job whose worker crashed ends it failed, so only deliveries that fail
# before a claim (S3 unreachable) get there.
JOBS_MAX_RECEIVE_COUNT = 3
# A job is worth nothing after its time limit (840 s), but its message must live until it can be
# dead-lettered: maxReceiveCount receives, each followed by a visibility timeout, plus one more
# for the receive that moves it (6 h). Shorter, a failing job's message would expire unseen.
JOBS_RETENTION_SECONDS = (JOBS_MAX_RECEIVE_COUNT + 1) * JOBS_VISIBILITY_TIMEOUT_SECONDS
# "For standard queues, the expiration of a message is always based on its original enqueue
# timestamp ... it is a best practice to always set the retention period of a dead-letter queue
# to be longer than the retention period of the original queue" (SQS Developer Guide,
# setting-up-dead-letter-queue-retention.html). The worker's own mapping ends a dead letter's
# job at once; a message it cannot handle stays (retried after each visibility timeout) for
# SQS's maximum, 14 days, long enough for someone to look.
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# The dead-letter mapping only ends jobs failed (two S3 calls each): the smallest maximum
# concurrency a mapping takes (https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html).
DEAD_LETTER_CONCURRENCY = 2


class ImageApi(pulumi.ComponentResource):
    """The image API of one stack; outputs are attributes, registered at the end."""

    def __init__(
        self, name: str, settings: ImageApiSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagegen:index:ImageApi", name, None, opts)
        self.settings = settings
        child = pulumi.ResourceOptions(parent=self)
        # Data that must survive mistakes: protected and retained in prod.
        keep = pulumi.ResourceOptions(
            parent=self, protect=settings.protect, retain_on_delete=settings.protect
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.account_id = identity.account_id
        self.partition = aws.get_partition_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).partition

        self.kms_key = None
        if settings.kms_encryption:
            # One key for the bucket and the job queues; its default key policy lets each role's
            # IAM policy grant exactly what it does with it (infra/iam.py, UseStackKey).
            self.kms_key = aws.kms.Key(
                f"{name}-images-key",
                description=f"{name} image bucket and job queues",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                opts=keep,
            )
        self._bucket(name, keep)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-function-logs", retention_in_days=settings.log_retention_days, opts=keep
        )
        self._queues(name, child)
        self._function(name, child, identity)
        self._worker(name, child, keep, identity)
        self.authorizer = None
        if settings.authorization != "iam":
            self._authorizer(name, child, keep)
        self._api(name, child, keep)

        self.register_outputs(
            {
                "api_url": self.api_url,
                "api_base_url": self.api_base_url,
                "bucket_name": self.bucket.bucket,
                "function_name": self.function.name,
                "function_log_group": self.log_group.name,
                "worker_name": self.worker.name,
                "worker_log_group": self.worker_log_group.name,
                "jobs_queue_url": self.jobs_queue.url,
                "jobs_dead_letter_queue_url": self.dead_letter_queue.url,
                "authorizer_name": self.authorizer.name if self.authorizer else None,
                "access_log_group": self.access_log_group.name,
                "api_key": self.api_key.value if self.api_key else None,
                "invoke_policy_arn": self.invoke_policy.arn if self.invoke_policy else None,
            }
        )

    def _bucket(self, name: str, keep: pulumi.ResourceOptions) -> None:
        s = self.settings
        self.bucket = aws.s3.Bucket(f"{name}-images", force_destroy=s.force_destroy, opts=keep)
        # What keeps the bucket private and encrypted lives as long as the bucket does.
        guard = pulumi.ResourceOptions(parent=self, retain_on_delete=s.protect)
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-images-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=guard,
        )
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-images-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=guard,
        )
        default = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": self.kms_key.arn}
            if self.kms_key
            else {"sse_algorithm": "AES256"}
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-images-encryption",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default,
                    "bucket_key_enabled": self.kms_key is not None,
                }
            ],
            opts=guard,
        )
        # Uploads live as long as images: the API contract (POST /uploads in openapi.yaml) says
        # they expire like images, a client may edit one upload several times over days, and an
        # edit's output, which shows the input, is kept that long anyway. So do jobs ("jobs
        # expire like images", service/jobs.py): a finished job's result names its images, and
        # GET /jobs/{id} signs fresh URLs for them while they exist. An upload form is one POST,
        # never multipart, but the roles' PutObject would let a multipart upload start there
        # too: abort those.
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-images-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": rule_id,
                    "status": "Enabled",
                    "filter": {"prefix": prefix},
                    "expiration": {"days": s.image_retention_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
                for rule_id, prefix in (
                    ("expire-generated-images", KEY_PREFIX),
                    ("expire-uploads", UPLOAD_PREFIX),
                    ("expire-jobs", JOB_PREFIX),
                )
            ],
            opts=guard,
        )
        # Only for the stack's allowed origins: browser apps there read images and upload.
        rules = cors.bucket_rules(s.allowed_origins)
        self.bucket_cors = (
            aws.s3.BucketCorsConfiguration(
                f"{name}-images-cors",
                bucket=self.bucket.id,
                cors_rules=[
                    {
                        "allowed_methods": rule["AllowedMethods"],
                        "allowed_origins": rule["AllowedOrigins"],
                        "expose_headers": rule["ExposeHeaders"],
                        "max_age_seconds": rule["MaxAgeSeconds"],
                    }
                    for rule in rules
                ],
                # Not retained with the bucket: removing origins must close the bucket too.
                opts=pulumi.ResourceOptions(parent=self),
            )
            if rules
            else None
        )
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-images-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(iam.tls_only_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=s.protect, depends_on=[self.public_access_block]
            ),
        )

    def _queues(self, name: str, child: pulumi.ResourceOptions) -> None:
        """The jobs queue and its dead-letter queue: encrypted at rest (SSE-SQS, or the stack's
        key with ``kmsEncryption``), TLS-only. Their names are generated: nothing in them is kept,
        the jobs themselves live in the bucket."""
        if self.kms_key:
            # SQS reuses a data key for this long before calling KMS again (300 s, its default).
            sse: dict = {
                "kms_master_key_id": self.kms_key.arn,
                "kms_data_key_reuse_period_seconds": 300,
            }
        else:
            sse = {"sqs_managed_sse_enabled": True}
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-jobs-dead-letters",
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            # The worker's dead-letter mapping consumes it too: the same rule applies.
            visibility_timeout_seconds=JOBS_VISIBILITY_TIMEOUT_SECONDS,
            **sse,
            opts=child,
        )
        self.jobs_queue = aws.sqs.Queue(
            f"{name}-jobs",
            visibility_timeout_seconds=JOBS_VISIBILITY_TIMEOUT_SECONDS,
            message_retention_seconds=JOBS_RETENTION_SECONDS,
            redrive_policy=self.dead_letter_queue.arn.apply(
                lambda arn: json.dumps(
                    # An integer, not a string (pulumi-aws's Queue.redrive_policy).
                    {"deadLetterTargetArn": arn, "maxReceiveCount": JOBS_MAX_RECEIVE_COUNT}
                )
            ),
            **sse,
            opts=child,
        )
        self.queue_policies = [
            aws.sqs.QueuePolicy(
                f"{queue_name}-tls-only",
                queue_url=queue.url,
                policy=queue.arn.apply(lambda arn: json.dumps(iam.tls_only_queue_policy(arn))),
                opts=child,
            )
            for queue_name, queue in (
                (f"{name}-jobs", self.jobs_queue),
                (f"{name}-jobs-dead-letters", self.dead_letter_queue),
            )
        ]

    def _service_environment(self) -> dict[str, pulumi.Input[str]]:
        """What the API function and the job worker both read (service/config.py): the same
        bucket, prefixes, models, operations, cache and logging, so a job runs as the
        synchronous request would have."""
        s = self.settings
        cache_env: dict[str, pulumi.Input[str]] = {}
        if self.cache_secret is not None:
            cache_env["IMAGEGEN_CACHE_SECRET"] = self.cache_secret.result
        return {
            "IMAGEGEN_BUCKET": self.bucket.bucket,
            "IMAGEGEN_DEFAULT_MODEL": s.default_model,
            "IMAGEGEN_ALLOWED_MODELS": ",".join(s.allowed_models),
            "IMAGEGEN_ENABLED_RETIRED_MODELS": ",".join(s.enabled_retired_models),
            # Never empty: the service reads an empty list as "every operation".
            "IMAGEGEN_ALLOWED_OPERATIONS": ",".join(s.allowed_operations) or "none",
            "IMAGEGEN_URL_EXPIRY_SECONDS": str(s.url_expiry_seconds),
            "IMAGEGEN_KEY_PREFIX": KEY_PREFIX,
            "IMAGEGEN_UPLOAD_PREFIX": UPLOAD_PREFIX,
            "IMAGEGEN_JOB_PREFIX": JOB_PREFIX,
            "IMAGEGEN_LOG_LEVEL": s.log_level,
            "IMAGEGEN_CACHE_SEEDED": "true" if s.cache_seeded_requests else "false",
            # The service's own default is 26 s; never more than the API function allows. The
            # worker gets the same value and is not held to it: it runs a job to the job's own
            # deadline (service/worker.py passes it to generate/edit).
            "IMAGEGEN_TIME_BUDGET_SECONDS": str(min(26, s.lambda_timeout_seconds - 2)),
            "IMAGEGEN_ALLOWED_ORIGINS": ",".join(s.allowed_origins),
            **cache_env,
        }

    def _model_arns(self, account: str, partition: str) -> list[str]:
        s = self.settings
        return iam.bedrock_model_arns(s.invocations, s.region, account, partition)

    def _lambda_role(self, resource_name: str, child: pulumi.ResourceOptions) -> aws.iam.Role:
        """A role only Lambda may assume; its policy is the function's own."""
        return aws.iam.Role(
            resource_name,
            assume_role_policy=json.dumps(iam.assume_role("lambda.amazonaws.com")),
            opts=child,
        )

    def _service_function(
        self,
        resource_name: str,
        *,
        role: aws.iam.Role,
        role_policy: aws.iam.RolePolicy,
        log_group: aws.cloudwatch.LogGroup,
        memory_mb: int,
        log_level: str,
        tracing: bool,
        **specific: object,
    ) -> aws.lambda_.Function:
        """A function running the ``service`` archive, as the API function, the worker and the
        authorizer all do: Python 3.13 on arm64, JSON logs into its own group at ``log_level``,
        X-Ray with ``tracing``; plus what is ``specific`` to it (name, handler, timeout...)."""
        return aws.lambda_.Function(
            resource_name,
            runtime="python3.13",
            architectures=["arm64"],
            code=service_archive(),
            role=role.arn,
            memory_size=memory_mb,
            logging_config={
                "log_format": "JSON",
                "log_group": log_group.name,
                # Lambda drops JSON lines below this level before they reach the log group.
                "application_log_level": log_level,
                "system_log_level": "WARN",
            },
            tracing_config={"mode": "Active" if tracing else "PassThrough"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, role_policy]),
            **specific,
        )

    def _function(self, name: str, child: pulumi.ResourceOptions, identity) -> None:
        s = self.settings
        self.role = self._lambda_role(f"{name}-function-role", child)
        kms_arn = self.kms_key.arn if self.kms_key else None
        policy = pulumi.Output.all(
            self.bucket.arn,
            self.log_group.arn,
            identity.account_id,
            self.partition,
            kms_arn,
            self.jobs_queue.arn,
        ).apply(
            lambda a: json.dumps(
                iam.lambda_policy(
                    model_arns=self._model_arns(a[2], a[3]),
                    bucket_arn=a[0],
                    key_prefix=KEY_PREFIX,
                    upload_prefix=UPLOAD_PREFIX if s.allowed_operations else None,
                    job_prefix=JOB_PREFIX,
                    jobs_queue_arn=a[5],
                    log_group_arn=a[1],
                    kms_key_arn=a[4],
                    tracing=s.tracing,
                )
            )
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-function-policy", role=self.role.id, policy=policy, opts=child
        )
        self.cache_secret = None
        if s.cache_seeded_requests:
            # Cache keys are an HMAC under this secret, so a guessed prompt + seed finds nothing.
            # Generated once and kept in the (encrypted) stack state; the worker shares it, so a
            # seeded job and a seeded request find each other's images.
            self.cache_secret = random.RandomPassword(
                f"{name}-cache-secret", length=48, special=False, opts=child
            )
        self.function = self._service_function(
            f"{name}-function",
            role=self.role,
            role_policy=self.role_policy,
            log_group=self.log_group,
            memory_mb=s.lambda_memory_mb,
            log_level=s.lambda_log_level,
            tracing=s.tracing,
            name=name,
            description="imagegen: prompt -> Bedrock image -> private S3 -> presigned URL",
            handler=HANDLER,
            timeout=s.lambda_timeout_seconds,
            reserved_concurrent_executions=s.reserved_concurrency,
            environment={
                "variables": {
                    **self._service_environment(),
                    # "async": true answers 202 and sends the job here (service/job_queue.py).
                    "IMAGEGEN_JOBS_QUEUE_URL": self.jobs_queue.url,
                    "IMAGEGEN_JOB_TIME_LIMIT_SECONDS": str(JOB_TIME_LIMIT_SECONDS),
                }
            },
        )

    def _worker(
        self,
        name: str,
        child: pulumi.ResourceOptions,
        keep: pulumi.ResourceOptions,
        identity,
    ) -> None:
        """The job worker: its own log group (kept like the function's), a role for exactly
        what a job does, the function, and the two event source mappings that feed it."""
        s = self.settings
        self.worker_log_group = aws.cloudwatch.LogGroup(
            f"{name}-worker-logs", retention_in_days=s.log_retention_days, opts=keep
        )
        self.worker_role = self._lambda_role(f"{name}-worker-role", child)
        kms_arn = self.kms_key.arn if self.kms_key else None
        policy = pulumi.Output.all(
            self.bucket.arn,
            self.worker_log_group.arn,
            identity.account_id,
            self.partition,
            kms_arn,
            self.jobs_queue.arn,
            self.dead_letter_queue.arn,
        ).apply(
            lambda a: json.dumps(
                iam.worker_policy(
                    model_arns=self._model_arns(a[2], a[3]),
                    bucket_arn=a[0],
                    key_prefix=KEY_PREFIX,
                    upload_prefix=UPLOAD_PREFIX if s.allowed_operations else None,
                    job_prefix=JOB_PREFIX,
                    queue_arns=[a[5], a[6]],
                    log_group_arn=a[1],
                    kms_key_arn=a[4],
                    tracing=s.tracing,
                )
            )
        )
        self.worker_role_policy = aws.iam.RolePolicy(
            f"{name}-worker-policy", role=self.worker_role.id, policy=policy, opts=child
        )
        self.worker = self._service_function(
            f"{name}-worker",
            role=self.worker_role,
            role_policy=self.worker_role_policy,
            log_group=self.worker_log_group,
            memory_mb=s.lambda_memory_mb,
            log_level=s.lambda_log_level,
            tracing=s.tracing,
            name=f"{name}-worker",
            description="imagegen: asynchronous jobs from SQS -> Bedrock image -> private S3",
            handler=WORKER_HANDLER,
            timeout=WORKER_TIMEOUT_SECONDS,
            # No reserved concurrency: the jobs mapping's maximum concurrency bounds it.
            environment={
                "variables": {
                    **self._service_environment(),
                    # Records from this queue end their job failed (service/worker.py).
                    "IMAGEGEN_JOBS_DEAD_LETTER_ARN": self.dead_letter_queue.arn,
                }
            },
        )
        # Lambda polls each queue with the worker's role, one message per invocation: the
        # handler raises when a job cannot be stored, which returns that one message to the
        # queue, so no partial batch responses (function_response_types) are needed. Creating
        # a mapping checks the role may receive from the queue: after the role policy.
        mapping = pulumi.ResourceOptions(parent=self, depends_on=[self.worker_role_policy])
        self.job_mappings = [
            aws.lambda_.EventSourceMapping(
                f"{name}-{suffix}-to-worker",
                event_source_arn=queue.arn,
                function_name=self.worker.arn,
                batch_size=1,
                # Caps the worker's concurrent invocations from this queue (so parallel Bedrock
                # calls from jobs) without throttling it: messages wait in the queue instead
                # (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
                scaling_config={"maximum_concurrency": concurrency},
                opts=mapping,
            )
            for suffix, queue, concurrency in (
                ("jobs", self.jobs_queue, s.job_concurrency),
                ("dead-letters", self.dead_letter_queue, DEAD_LETTER_CONCURRENCY),
            )
        ]

    def _authorizer(
        self, name: str, child: pulumi.ResourceOptions, keep: pulumi.ResourceOptions
    ) -> None:
        """The API-key authorizer: its own log group (kept like the function's), a role that
        may only write there, and the function. API Gateway's permission to invoke it is made
        with the API, whose ARN it names."""
        s = self.settings
        self.authorizer_log_group = aws.cloudwatch.LogGroup(
            f"{name}-authorizer-logs", retention_in_days=s.log_retention_days, opts=keep
        )
        self.authorizer_role = self._lambda_role(f"{name}-authorizer-role", child)
        self.authorizer_role_policy = aws.iam.RolePolicy(
            f"{name}-authorizer-policy",
            role=self.authorizer_role.id,
            policy=self.authorizer_log_group.arn.apply(
                lambda arn: json.dumps(iam.authorizer_policy(log_group_arn=arn))
            ),
            opts=child,
        )
        self.authorizer = self._service_function(
            f"{name}-authorizer",
            role=self.authorizer_role,
            role_policy=self.authorizer_role_policy,
            log_group=self.authorizer_log_group,
            memory_mb=AUTHORIZER_MEMORY_MB,
            log_level="WARN",
            tracing=False,  # its role grants no X-Ray writes, so it sends no segments of its own
            name=f"{name}-authorizer",
            description="imagegen: API key from Authorization: Bearer or x-api-key",
            handler=AUTHORIZER_HANDLER,
            timeout=AUTHORIZER_TIMEOUT_SECONDS,
        )

    def _api(self, name: str, child: pulumi.ResourceOptions, keep: pulumi.ResourceOptions) -> None:
        s = self.settings
        spec = definition.load()
        iam_auth = s.authorization == "iam"
        authorizer_arn = self.authorizer.invoke_arn if self.authorizer else None
        body = pulumi.Output.all(self.function.invoke_arn, authorizer_arn).apply(
            lambda arns: json.dumps(
                definition.api_gateway_definition(
                    spec,
                    invoke_arn=arns[0],
                    api_key_required=not iam_auth,
                    iam_auth=iam_auth,
                    title=name,
                    authorizer_uri=arns[1],
                    allowed_origins=s.allowed_origins,
                ),
                sort_keys=True,
            )
        )
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-api",
            name=name,
            body=body,
            # Both also in the body; set here too so the arguments agree with it (pulumi-aws:
            # an argument that differs from the OpenAPI value overrides it).
            api_key_source="AUTHORIZER" if self.authorizer else "HEADER",
            binary_media_types=list(definition.BINARY_MEDIA_TYPES),
            endpoint_configuration={"types": "REGIONAL"},
            # A construct the importer ignores or rejects fails the deploy instead of vanishing.
            fail_on_warnings=True,
            opts=child,
        )
        self.deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            triggers={"redeployment": body.apply(lambda b: hashlib.sha256(b.encode()).hexdigest())},
            opts=child,
        )
        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", retention_in_days=s.log_retention_days, opts=keep
        )
        account = [self._api_gateway_account(name, child)] if s.manage_api_gateway_account else []
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=s.stack,
            xray_tracing_enabled=s.tracing,
            access_log_settings={
                "destination_arn": self.access_log_group.arn,
                "format": access_log_format(),
            },
            # Access logging needs the account-wide CloudWatch role to be set first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=account),
        )
        self.method_settings = aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_rate_limit": s.throttle_rate_limit,
                "throttling_burst_limit": s.throttle_burst_limit,
                "metrics_enabled": True,
            },
            opts=child,
        )
        self.api_key = None
        self.invoke_policy = None
        if iam_auth:
            self.invoke_policy = aws.iam.Policy(
                f"{name}-invoke",
                description=f"Call every route of the {name} API (attach to its callers)",
                policy=self.rest_api.execution_arn.apply(
                    lambda arn: json.dumps(iam.invoke_api_policy(arn, s.stack))
                ),
                opts=child,
            )
        else:
            self._api_key(name, child)
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke-from-api",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.rest_api.execution_arn.apply(lambda arn: f"{arn}/{s.stack}/*/*"),
            opts=child,
        )
        self.authorizer_permission = None
        if self.authorizer:
            # API Gateway invokes an authorizer as .../{api-id}/authorizers/{authorizer-id}; the
            # body import creates the authorizer, so its id is not known here: any of this API's
            # (https://docs.aws.amazon.com/apigateway/latest/developerguide/
            # configure-api-gateway-lambda-authorization.html).
            self.authorizer_permission = aws.lambda_.Permission(
                f"{name}-authorize-from-api",
                action="lambda:InvokeFunction",
                function=self.authorizer.name,
                principal="apigateway.amazonaws.com",
                source_arn=self.rest_api.execution_arn.apply(lambda arn: f"{arn}/authorizers/*"),
                opts=child,
            )
        self.api_base_url = self.stage.invoke_url
        self.api_url = self.stage.invoke_url.apply(lambda url: f"{url}/images")

    def _api_key(self, name: str, child: pulumi.ResourceOptions) -> None:
        """The key every method requires, metered by a usage plan with a daily quota."""
        s = self.settings
        self.api_key = aws.apigateway.ApiKey(
            f"{name}-key", name=f"{name}-key", enabled=True, opts=child
        )
        self.usage_plan = aws.apigateway.UsagePlan(
            f"{name}-usage-plan",
            name=f"{name}-usage-plan",
            api_stages=[{"api_id": self.rest_api.id, "stage": self.stage.stage_name}],
            quota_settings={"limit": s.quota_per_day, "period": "DAY"},
            throttle_settings={
                "rate_limit": s.throttle_rate_limit,
                "burst_limit": s.throttle_burst_limit,
            },
            opts=child,
        )
        self.usage_plan_key = aws.apigateway.UsagePlanKey(
            f"{name}-usage-plan-key",
            key_id=self.api_key.id,
            key_type="API_KEY",
            usage_plan_id=self.usage_plan.id,
            opts=child,
        )

    def _api_gateway_account(
        self, name: str, child: pulumi.ResourceOptions
    ) -> aws.apigateway.Account:
        """The account-wide (per region) CloudWatch role of API Gateway; one stack owns it.

        pulumi-aws 7 resets the account setting when this resource is deleted, which would stop
        every stage's access logging in the account and region, so the setting, the role and
        its policy are retained when the owning stack is destroyed.
        """
        account_wide = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        push_role = aws.iam.Role(
            f"{name}-apigw-logs-role",
            assume_role_policy=json.dumps(iam.assume_role("apigateway.amazonaws.com")),
            opts=account_wide,
        )
        # The actions of AWS's AmazonAPIGatewayPushToCloudWatchLogs, scoped to this account's
        # log groups in this region instead of "*".
        attachment = aws.iam.RolePolicy(
            f"{name}-apigw-logs-policy",
            role=push_role.id,
            policy=pulumi.Output.all(self.partition, self.account_id).apply(
                lambda a: json.dumps(iam.api_gateway_logs_policy(a[0], self.settings.region, a[1]))
            ),
            opts=account_wide,
        )
        return aws.apigateway.Account(
            f"{name}-apigw-account",
            cloudwatch_role_arn=push_role.arn,
            opts=pulumi.ResourceOptions.merge(
                account_wide, pulumi.ResourceOptions(depends_on=[attachment])
            ),
        )
