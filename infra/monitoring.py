"""``Monitoring``: alarms on what costs money or loses requests, an optional email, a budget.

Alarms watch AWS's own metrics, so they need nothing from the service's logs or log level:
API 5XX (AWS/ApiGateway, per API and stage), Lambda errors and throttles (AWS/Lambda, per
function), and Bedrock throttling (AWS/Bedrock ``InvocationThrottles``, per model id, published
for InvokeModel). Without an email they still show in the CloudWatch console.
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
    """One CloudWatch alarm: a metric's 5-minute sum at or above ``threshold``."""

    suffix: str
    namespace: str
    metric: str
    dimensions: dict[str, pulumi.Input[str]]
    threshold: int
    description: str


@dataclass(frozen=True)
class MonitoringArgs:
    api_name: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    function_name: pulumi.Input[str]
    model_ids: tuple[str, ...]
    alarm_email: str
    monthly_budget_usd: int


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
                statistic="Sum",
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
    alarms = [
        Alarm("api-5xx", "AWS/ApiGateway", "5XXError", api, 5, "API answered 5xx, 5+ in 5 min"),
        # The handler turns every error into an answer, so any Lambda error is a crash or timeout.
        Alarm("function-errors", "AWS/Lambda", "Errors", function, 1, "Lambda crash or timeout"),
        Alarm("function-throttles", "AWS/Lambda", "Throttles", function, 1, "Lambda throttled"),
    ]
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
