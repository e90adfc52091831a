"""``Monitoring``: alarms on what costs money or loses requests, an optional email, a budget.

Alarms watch AWS's own metrics, so they need nothing from the service's logs or log level:
API 5XX (AWS/ApiGateway, per API and stage), Lambda errors and throttles (AWS/Lambda, per
function: the API function and the job worker; the key authorizer's throttles only), jobs that
reached the dead-letter queue (AWS/SQS), and Bedrock throttling (AWS/Bedrock
``InvocationThrottles``, per model id, published for InvokeModel). Without an email they still
show in the CloudWatch console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

PERIOD_SECONDS = 300
# Cost Explorer's name for the Bedrock service, the value of a budget's Service filter.
BEDROCK_SERVICE = "Amazon Bedrock"


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm: a metric's 5-minute ``statistic`` (a count's sum, or a gauge's
    maximum) at or above ``threshold``."""

    suffix: str
    namespace: str
    metric: str
    dimensions: dict[str, pulumi.Input[str]]
    threshold: int
    description: str
    statistic: str = "Sum"


@dataclass(frozen=True)
class MonitoringArgs:
    api_name: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    function_name: pulumi.Input[str]
    worker_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    model_ids: tuple[str, ...]
    alarm_email: str
    monthly_budget_usd: int
    authorizer_name: pulumi.Input[str] | None = None  # None: IAM authorization, no authorizer


class Monitoring(pulumi.ComponentResource):
    """Alarms for one ImageApi, an SNS topic when an email is given, a Bedrock budget if set."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagegen:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic: aws.sns.Topic | None = None
        actions: list[pulumi.Input[str]] = []
        if args.alarm_email:
            self.topic = aws.sns.Topic(f"{name}-alarms", opts=child)
            # Email subscriptions stay "pending confirmation" until the recipient confirms.
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.alarm_email,
                opts=child,
            )
            actions = [self.topic.arn]
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm.suffix}",
                alarm_description=alarm.description,
                namespace=alarm.namespace,
                metric_name=alarm.metric,
                dimensions=alarm.dimensions,
                statistic=alarm.statistic,
                period=PERIOD_SECONDS,
                evaluation_periods=1,
                threshold=alarm.threshold,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",  # no traffic, no data: not a failure
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
            for alarm in _alarms(args)
        ]
        self.budget: aws.budgets.Budget | None = None
        if args.monthly_budget_usd:
            self.budget = aws.budgets.Budget(
                f"{name}-bedrock-budget",
                budget_type="COST",
                limit_amount=str(args.monthly_budget_usd),
                limit_unit="USD",
                time_unit="MONTHLY",
                cost_filters=[{"name": "Service", "values": [BEDROCK_SERVICE]}],
                notifications=[
                    _budget_notification("ACTUAL", 80, args.alarm_email),
                    _budget_notification("FORECASTED", 100, args.alarm_email),
                ],
                opts=child,
            )
        self.register_outputs(
            {"alarm_topic_arn": self.topic.arn if self.topic else None, "alarms": self.alarms}
        )


def _alarms(args: MonitoringArgs) -> list[Alarm]:
    api = {"ApiName": args.api_name, "Stage": args.stage_name}
    function = {"FunctionName": args.function_name}
    worker = {"FunctionName": args.worker_name}
    dead_letters = {"QueueName": args.dead_letter_queue_name}
    alarms = [
        Alarm("api-5xx", "AWS/ApiGateway", "5XXError", api, 5, "API answered 5xx, 5+ in 5 min"),
        # The handler turns every error into an answer, so any Lambda error is a crash or timeout.
        Alarm("function-errors", "AWS/Lambda", "Errors", function, 1, "Lambda crash or timeout"),
        Alarm("function-throttles", "AWS/Lambda", "Throttles", function, 1, "Lambda throttled"),
        # The worker ends a failing job with its error; it raises only when it cannot store the
        # job (the message returns to the queue) or dies (crash, timeout).
        Alarm(
            "worker-errors",
            "AWS/Lambda",
            "Errors",
            worker,
            1,
            "Job worker crash, timeout or storage failure (the job's message is delivered again)",
        ),
        Alarm("worker-throttles", "AWS/Lambda", "Throttles", worker, 1, "Job worker throttled"),
        # The worker's own mapping consumes the dead-letter queue at once (it ends those jobs
        # failed), so a dead letter is rarely visible: every one is received, and SQS counts
        # what ReceiveMessage returns in NumberOfMessagesReceived (SQS Developer Guide,
        # sqs-available-cloudwatch-metrics.html; NumberOfMessagesSent leaves out messages moved
        # there by a redrive policy, sqs-dead-letter-queues.html).
        Alarm(
            "jobs-dead-lettered",
            "AWS/SQS",
            "NumberOfMessagesReceived",
            dead_letters,
            1,
            "Jobs reached the dead-letter queue: their deliveries kept failing (they end failed)",
        ),
        # Visible dead letters (ApproximateNumberOfMessagesVisible > 0, a gauge: its maximum)
        # mean that mapping is not keeping up: disabled, throttled, or failing to end them.
        Alarm(
            "jobs-dead-letter-backlog",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            dead_letters,
            1,
            "Dead-lettered jobs wait in the queue: the worker's dead-letter mapping is not"
            " ending them",
            statistic="Maximum",
        ),
    ]
    if args.authorizer_name is not None:
        # No Errors alarm for the key authorizer: it refuses a request without a key by raising
        # Exception("Unauthorized") (API Gateway's 401), and Lambda's Errors metric counts
        # "exceptions that your code throws" (Lambda Developer Guide,
        # monitoring-metrics-types.html), so every 401 would count as an error. Its real
        # failures (a crash, its 3 s timeout) are 500s, which the api-5xx alarm sees; a
        # throttled authorizer is a 500 for every request it should have let through.
        alarms.append(
            Alarm(
                "authorizer-throttles",
                "AWS/Lambda",
                "Throttles",
                {"FunctionName": args.authorizer_name},
                1,
                "Key authorizer throttled (its requests answer 500)",
            )
        )
    alarms += [
        Alarm(
            f"bedrock-throttles-{re.sub('[^A-Za-z0-9-]', '-', model_id)}",
            "AWS/Bedrock",
            "InvocationThrottles",
            {"ModelId": model_id},
            5,
            f"Bedrock throttled InvokeModel on {model_id} (account-wide, 5+ in 5 min)",
        )
        for model_id in args.model_ids
    ]
    return alarms


def _budget_notification(kind: str, percent: int, email: str) -> dict:
    return {
        "notification_type": kind,
        "comparison_operator": "GREATER_THAN",
        "threshold": percent,
        "threshold_type": "PERCENTAGE",
        "subscriber_email_addresses": [email],
    }
