"""Pulumi program: read the stack's settings, wire the image API and its monitoring, export what
users need. Pulumi runs this directory (``main: infra/`` in Pulumi.yaml); so do the tests."""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `infra` as a package

from infra.image_api import ImageApi
from infra.monitoring import Monitoring, MonitoringArgs
from infra.settings import ImageApiSettings

stack = pulumi.get_stack()
settings = ImageApiSettings.from_config(
    pulumi.Config("imagegen"), stack, aws.config.region or "us-east-1"
)
api = ImageApi(f"imagegen-{stack}", settings)
monitoring = Monitoring(
    f"imagegen-{stack}-monitoring",
    MonitoringArgs(
        api_name=api.rest_api.name,
        stage_name=api.stage.stage_name,
        function_name=api.function.name,
        worker_name=api.worker.name,
        dead_letter_queue_name=api.dead_letter_queue.name,
        authorizer_name=api.authorizer.name if api.authorizer else None,
        model_ids=settings.invocable_model_ids,
        alarm_email=settings.alarm_email,
        monthly_budget_usd=settings.monthly_budget_usd,
    ),
)

pulumi.export("api_base_url", api.api_base_url)
pulumi.export("api_url", api.api_url)
pulumi.export("bucket_name", api.bucket.bucket)
pulumi.export("function_name", api.function.name)
pulumi.export("function_log_group", api.log_group.name)
pulumi.export("worker_name", api.worker.name)
pulumi.export("worker_log_group", api.worker_log_group.name)
pulumi.export("jobs_queue_url", api.jobs_queue.url)
pulumi.export("jobs_dead_letter_queue_url", api.dead_letter_queue.url)
pulumi.export("access_log_group", api.access_log_group.name)
if api.api_key:
    pulumi.export("api_key", pulumi.Output.secret(api.api_key.value))
if api.invoke_policy:
    pulumi.export("invoke_policy_arn", api.invoke_policy.arn)
if monitoring.topic:
    pulumi.export("alarm_topic_arn", monitoring.topic.arn)
