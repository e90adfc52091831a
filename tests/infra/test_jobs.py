"""Asynchronous jobs as deployed: the SQS queues, the worker Lambda, its event source mappings,
both roles' grants for jobs, and the alarms on what can go wrong with them.

The values that rest on AWS's documentation (visibility timeout, retention, the mapping's
concurrency range) are checked against the rule, not only the number, so a change to the
worker's timeout cannot leave the queue behind.
"""

from __future__ import annotations

import importlib
import json

import pytest

from infra.image_api import (
    DEAD_LETTER_CONCURRENCY,
    JOB_TIME_LIMIT_SECONDS,
    JOBS_MAX_RECEIVE_COUNT,
    WORKER_TIMEOUT_SECONDS,
)
from infra.package import WORKER_HANDLER
from infra.settings import schema_defaults
from service import worker as service_worker
from service.catalogue import default_catalogue
from service.config import Settings
from tests.infra.conftest import ACCOUNT, StackRun, run_program, stack_config

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS: "from 0 to 43200 (12 hours)"
SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600  # SQS: "from 60 (1 minute) to 1209600 (14 days)"
CONSUMER = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def queues(run: StackRun) -> tuple[dict, dict]:
    """(jobs queue, dead-letter queue) inputs, as the provider sees them."""
    return (
        run.named(f"imagegen-{run.stack}-jobs").inputs,
        run.named(f"imagegen-{run.stack}-jobs-dead-letters").inputs,
    )


def queue_arn(run: StackRun, queue: dict) -> str:
    return f"arn:{run.partition}:sqs:{run.region}:{ACCOUNT}:{queue['name']}"


def queue_url(run: StackRun, queue: dict) -> str:
    return f"https://sqs.{run.region}.amazonaws.com/{ACCOUNT}/{queue['name']}"


def by_sid(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in document["Statement"]}


def sqs_grants(document: dict) -> dict[str, set[str]]:
    """Every SQS action the document allows, with the resources it allows it on."""
    found: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        for action in statement["Action"]:
            if action.startswith("sqs:"):
                found.setdefault(action, set()).update(statement["Resource"])
    return found


def env(function) -> dict[str, str]:
    return dict(function.inputs["environment"]["variables"])


@pytest.fixture(scope="module")
def editing_off() -> StackRun:
    return run_program(
        "dev", {**stack_config("dev"), "imagegen:allowedOperations": json.dumps(["none"])}
    )


@pytest.fixture(scope="module")
def iam_stack() -> StackRun:
    return run_program("prod", {**stack_config("prod"), "imagegen:authorization": "iam"})


# --- the queues ---------------------------------------------------------------------------


def test_a_jobs_queue_and_its_dead_letter_queue(run: StackRun):
    jobs, dead = queues(run)
    assert len(run.of_type(QUEUE)) == 2
    assert json.loads(jobs["redrivePolicy"]) == {
        "deadLetterTargetArn": queue_arn(run, dead),
        "maxReceiveCount": 3,  # an integer, as the provider wants it
    }
    assert "redrivePolicy" not in dead
    assert not any(q.get("fifoQueue") for q in (jobs, dead))  # standard, like devstack's


def test_visibility_timeout_is_six_times_the_workers_timeout(run: StackRun):
    """Lambda: "at least six times the configuration timeout on your function"; SQS caps it at
    12 hours. The dead-letter queue has a mapping to the same worker, so the same rule."""
    timeout = run.worker.inputs["timeout"]
    for queue in queues(run):
        visibility = queue["visibilityTimeoutSeconds"]
        assert 6 * timeout <= visibility <= SQS_MAX_VISIBILITY_SECONDS
    assert queues(run)[0]["visibilityTimeoutSeconds"] == 5400


def test_a_failing_job_is_dead_lettered_before_it_expires(run: StackRun):
    """A standard queue keeps a message's enqueue time when it moves it to the dead-letter queue,
    so the jobs queue must keep it through every receive, and the dead-letter queue longer."""
    jobs, dead = queues(run)
    retention = jobs["messageRetentionSeconds"]
    assert retention > JOBS_MAX_RECEIVE_COUNT * jobs["visibilityTimeoutSeconds"]
    assert retention > JOB_TIME_LIMIT_SECONDS
    assert retention < dead["messageRetentionSeconds"] <= SQS_MAX_RETENTION_SECONDS


def test_queues_are_encrypted_with_sse_sqs_in_dev_and_the_stacks_key_in_prod(dev, prod):
    for queue in queues(dev):
        assert queue["sqsManagedSseEnabled"] is True and "kmsMasterKeyId" not in queue
    key = f"arn:aws:kms:{prod.region}:{ACCOUNT}:key/k-1"  # the mocks' ARN of the stack's key
    assert prod.one("aws:kms/key:Key").name == "imagegen-prod-images-key"
    for queue in queues(prod):
        assert queue["kmsMasterKeyId"] == key
        assert "sqsManagedSseEnabled" not in queue  # the provider refuses both together
        assert 60 <= queue["kmsDataKeyReusePeriodSeconds"] <= 86400


def test_both_queues_refuse_requests_without_tls(run: StackRun):
    policies = {
        p.inputs["queueUrl"]: json.loads(p.inputs["policy"]) for p in run.of_type(QUEUE_POLICY)
    }
    assert set(policies) == {queue_url(run, q) for q in queues(run)}
    for queue in queues(run):
        document = policies[queue_url(run, queue)]
        assert document["Version"] == "2012-10-17"  # without it SQS may hang (provider docs)
        (statement,) = document["Statement"]
        assert statement == {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn(run, queue),
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }


# --- the worker ---------------------------------------------------------------------------


def test_the_worker_runs_the_services_worker_with_lambdas_whole_15_minutes(run: StackRun):
    worker = run.worker.inputs
    assert worker["handler"] == WORKER_HANDLER == "service.worker.lambda_handler"
    module, function = WORKER_HANDLER.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), function))
    assert (worker["runtime"], worker["architectures"]) == ("python3.13", ["arm64"])
    assert worker["timeout"] == WORKER_TIMEOUT_SECONDS == 900
    assert worker["memorySize"] == run.function.inputs["memorySize"]
    assert set(worker["code"].assets) == set(run.function.inputs["code"].assets)
    assert worker["tracingConfig"] == run.function.inputs["tracingConfig"]
    assert worker["role"].endswith(
        f":role/{run.named(f'imagegen-{run.stack}-worker-role').inputs['name']}"
    )
    assert "reservedConcurrentExecutions" not in worker  # its mapping's concurrency bounds it


def test_a_job_ends_before_the_worker_is_stopped():
    """The job's deadline leaves the worker its safety margin to store and end the job."""
    assert JOB_TIME_LIMIT_SECONDS + service_worker.SAFETY_MARGIN_SECONDS < WORKER_TIMEOUT_SECONDS


def test_the_worker_logs_to_its_own_group_kept_like_the_functions(dev, prod):
    for run in (dev, prod):
        group = run.named(f"imagegen-{run.stack}-worker-logs")
        function_logs = run.named(f"imagegen-{run.stack}-function-logs")
        assert run.worker.inputs["loggingConfig"]["logGroup"] == group.inputs["name"]
        assert run.worker.inputs["loggingConfig"]["logFormat"] == "JSON"
        assert group.inputs["retentionInDays"] == function_logs.inputs["retentionInDays"]
        assert group.autonamed  # retained in prod: a fixed name would collide on the next up
        assert (group.protect, group.retain_on_delete) == (
            function_logs.protect,
            function_logs.retain_on_delete,
        )
    assert prod.named("imagegen-prod-worker-logs").protect is True
    assert prod.named("imagegen-prod-worker-logs").retain_on_delete is True


def test_the_worker_sees_the_services_settings_and_the_dead_letter_queue(run: StackRun):
    api, worker = env(run.function), env(run.worker)
    _, dead = queues(run)
    assert worker.pop("IMAGEGEN_JOBS_DEAD_LETTER_ARN") == queue_arn(run, dead)
    # The same settings as the API function, so a job runs as the request would have, the same
    # time budget included (the worker passes the job's own deadline to the flow); without the
    # queue's URL the worker cannot send jobs, and the time limit is the API's to set.
    assert api.pop("IMAGEGEN_JOBS_QUEUE_URL") == queue_url(run, queues(run)[0])
    assert api.pop("IMAGEGEN_JOB_TIME_LIMIT_SECONDS") == str(JOB_TIME_LIMIT_SECONDS)
    assert worker == api
    assert worker["IMAGEGEN_JOB_PREFIX"] == "jobs/"


def test_the_service_reads_both_environments_as_deployed(run: StackRun):
    catalogue = default_catalogue()
    api = Settings.from_env({**env(run.function), "AWS_REGION": run.region}, catalogue)
    worker = Settings.from_env({**env(run.worker), "AWS_REGION": run.region}, catalogue)
    assert api.jobs_queue_url and not worker.jobs_queue_url
    assert worker.jobs_dead_letter_arn.endswith(":" + queues(run)[1]["name"])
    assert api.job_prefix == worker.job_prefix == "jobs/"
    assert api.job_time_limit_seconds == JOB_TIME_LIMIT_SECONDS


# --- the event source mappings --------------------------------------------------------------


@pytest.mark.parametrize(("stack", "concurrency"), [("dev", 2), ("prod", 10)])
def test_both_queues_feed_the_worker_one_message_at_a_time(dev, prod, stack, concurrency):
    run = {"dev": dev, "prod": prod}[stack]
    jobs, dead = queues(run)
    worker_arn = f"arn:aws:lambda:{run.region}:{ACCOUNT}:function:imagegen-{run.stack}-worker"
    mappings = {m.inputs["eventSourceArn"]: m.inputs for m in run.of_type(MAPPING)}
    assert set(mappings) == {queue_arn(run, jobs), queue_arn(run, dead)}
    for mapping in mappings.values():
        assert mapping["functionName"] == worker_arn
        assert mapping["batchSize"] == 1
        # The handler raises to return its one message: no partial batch responses.
        assert "functionResponseTypes" not in mapping
        assert mapping.get("enabled", True) is True
    assert mappings[queue_arn(run, jobs)]["scalingConfig"] == {"maximumConcurrency": concurrency}
    assert mappings[queue_arn(run, dead)]["scalingConfig"] == {
        "maximumConcurrency": DEAD_LETTER_CONCURRENCY
    }


def test_job_concurrency_defaults_to_five_and_stays_in_lambdas_range():
    assert schema_defaults()["jobConcurrency"] == 5
    assert DEAD_LETTER_CONCURRENCY == 2


@pytest.mark.parametrize("concurrency", ["1", "1001"])
def test_a_job_concurrency_lambda_would_refuse_is_refused(concurrency):
    config = {**stack_config("dev"), "imagegen:jobConcurrency": concurrency}
    with pytest.raises(Exception, match=r"jobConcurrency must be 2\.\.1000"):
        run_program("dev", config)


# --- least privilege ------------------------------------------------------------------------


def test_the_api_role_sends_to_the_jobs_queue_and_nothing_else(run: StackRun):
    jobs, _ = queues(run)
    assert sqs_grants(run.policy) == {"sqs:SendMessage": {queue_arn(run, jobs)}}
    bucket = f"arn:aws:s3:::imagegen-{run.stack}-images-abc123"
    assert by_sid(run.policy)["ReadAndWriteJobs"] == {
        "Sid": "ReadAndWriteJobs",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": [f"{bucket}/jobs/*"],
    }


def test_the_worker_role_consumes_both_queues_and_sends_nothing(run: StackRun):
    jobs, dead = queues(run)
    both = {queue_arn(run, jobs), queue_arn(run, dead)}
    assert sqs_grants(run.worker_policy) == {action: both for action in CONSUMER}


def test_the_worker_role_is_exactly_what_a_job_does(dev, prod):
    for run in (dev, prod):
        bucket = f"arn:aws:s3:::imagegen-{run.stack}-images-abc123"
        log_group = run.named(f"imagegen-{run.stack}-worker-logs").inputs["name"]
        statements = by_sid(run.worker_policy)
        expected = {
            "InvokeConfiguredModels": (["bedrock:InvokeModel"], None),
            "WriteAndReadImages": (["s3:PutObject", "s3:GetObject"], [f"{bucket}/images/*"]),
            "ReadUploads": (["s3:GetObject"], [f"{bucket}/uploads/*"]),
            "TellMissingImages": (["s3:ListBucket"], [bucket]),
            "ReadAndWriteJobs": (["s3:PutObject", "s3:GetObject"], [f"{bucket}/jobs/*"]),
            "ConsumeJobQueues": (sorted(CONSUMER), None),
            "WriteOwnLogs": (
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [f"arn:aws:logs:{run.region}:{ACCOUNT}:log-group:{log_group}:*"],
            ),
        }
        if run is prod:  # SSE-KMS bucket and queues; X-Ray
            key = f"arn:aws:kms:{run.region}:{ACCOUNT}:key/k-1"
            expected["UseStackKey"] = (["kms:GenerateDataKey", "kms:Decrypt"], [key])
            expected["WriteTraces"] = (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
        assert set(statements) == set(expected)
        for sid, (actions, resources) in expected.items():
            assert sorted(statements[sid]["Action"]) == sorted(actions), sid
            assert statements[sid]["Effect"] == "Allow"
            if resources is not None:
                assert statements[sid]["Resource"] == resources, sid


def test_both_roles_may_invoke_exactly_the_same_models(run: StackRun):
    api = by_sid(run.policy)["InvokeConfiguredModels"]["Resource"]
    assert by_sid(run.worker_policy)["InvokeConfiguredModels"]["Resource"] == api


def test_the_worker_signs_no_upload_forms(run: StackRun):
    """PutObject on uploads/ is the API role's, for presigned POST forms; the worker only reads
    uploads named as edit inputs."""
    for statement in run.worker_policy["Statement"]:
        if any(r.endswith("/uploads/*") for r in statement["Resource"]):
            assert statement["Action"] == ["s3:GetObject"]


def test_without_editing_the_worker_reads_no_uploads(editing_off: StackRun):
    resources = [r for s in editing_off.worker_policy["Statement"] for r in s["Resource"]]
    assert not [r for r in resources if "/uploads/" in r]
    assert "ReadUploads" not in by_sid(editing_off.worker_policy)


def test_the_worker_role_is_for_lambda_and_its_mappings_wait_for_its_policy(run: StackRun):
    role = run.named(f"imagegen-{run.stack}-worker-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    policy = run.named(f"imagegen-{run.stack}-worker-policy")
    assert policy.inputs["role"] == role.id
    # Creating a mapping checks that the role may receive from its queue; the function logs to
    # its own group from its first invocation.
    for mapping in run.of_type(MAPPING):
        assert mapping.waits_for(policy.name), mapping.name
    assert run.worker.waits_for(policy.name)
    assert run.worker.waits_for(f"imagegen-{run.stack}-worker-logs")


# --- alarms and outputs -----------------------------------------------------------------------


def alarm(run: StackRun, suffix: str) -> dict:
    return run.named(f"imagegen-{run.stack}-monitoring-{suffix}").inputs


def test_dead_lettered_jobs_raise_an_alarm(run: StackRun):
    _, dead = queues(run)
    received = alarm(run, "jobs-dead-lettered")
    assert (received["namespace"], received["metricName"]) == (
        "AWS/SQS",
        "NumberOfMessagesReceived",
    )
    assert received["dimensions"] == {"QueueName": dead["name"]}
    assert (received["statistic"], received["threshold"]) == ("Sum", 1)
    visible = alarm(run, "jobs-dead-letter-backlog")
    assert visible["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert visible["dimensions"] == {"QueueName": dead["name"]}
    # > 0 on a gauge: its maximum at or above 1.
    assert (visible["statistic"], visible["threshold"]) == ("Maximum", 1)
    assert visible["comparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_worker_errors_and_throttles_raise_alarms(run: StackRun, metric):
    watched = alarm(run, f"worker-{metric.lower()}")
    assert (watched["namespace"], watched["metricName"]) == ("AWS/Lambda", metric)
    assert watched["dimensions"] == {"FunctionName": f"imagegen-{run.stack}-worker"}
    assert watched["threshold"] == 1 and watched["treatMissingData"] == "notBreaching"


def test_the_key_authorizer_alarms_on_throttles_not_on_its_401s(run: StackRun):
    """Raising Exception("Unauthorized") is how it answers 401, and Lambda counts every
    exception the code throws in Errors: an Errors alarm would fire on every missing key."""
    authorizer = f"imagegen-{run.stack}-authorizer"
    on_it = [
        a.inputs["metricName"]
        for a in run.of_type(ALARM)
        if a.inputs["dimensions"] == {"FunctionName": authorizer}
    ]
    assert on_it == ["Throttles"]


def test_an_iam_stack_has_no_authorizer_alarm(iam_stack: StackRun):
    names = [a.name for a in iam_stack.of_type(ALARM)]
    assert not [n for n in names if "authorizer" in n]
    assert "imagegen-prod-monitoring-worker-errors" in names


def test_outputs_name_the_worker_and_the_queues(run: StackRun):
    jobs, dead = queues(run)
    assert run.outputs["worker_name"] == f"imagegen-{run.stack}-worker"
    assert (
        run.outputs["worker_log_group"]
        == run.named(f"imagegen-{run.stack}-worker-logs").inputs["name"]
    )
    assert run.outputs["jobs_queue_url"] == queue_url(run, jobs)
    assert run.outputs["jobs_dead_letter_queue_url"] == queue_url(run, dead)
