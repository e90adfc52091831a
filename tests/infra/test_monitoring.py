"""Alarms on what loses requests or money, an optional email, an optional Bedrock budget."""

import pytest

from tests.infra.conftest import StackRun, run_program, stack_config

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
BUDGET = "aws:budgets/budget:Budget"


def alarms(run: StackRun, dimension: str | None = None) -> dict[tuple[str, str], dict]:
    """Alarms by (namespace, metric); with ``dimension``, only those on that dimension value
    (the API function, the worker and the authorizer share AWS/Lambda's metric names)."""
    return {
        (a.inputs["namespace"], a.inputs["metricName"]): a.inputs
        for a in run.of_type(ALARM)
        if dimension is None or dimension in a.inputs["dimensions"].values()
    }


@pytest.fixture(scope="module")
def notified() -> StackRun:
    config = {
        **stack_config("prod"),
        "imagegen:alarmEmail": "ops@example.com",
        "imagegen:monthlyBudgetUsd": "100",
    }
    return run_program("prod", config)


def test_api_5xx_is_watched_on_this_apis_stage(run: StackRun):
    alarm = alarms(run)[("AWS/ApiGateway", "5XXError")]
    api = run.one("aws:apigateway/restApi:RestApi").inputs["name"]
    assert alarm["dimensions"] == {"ApiName": api, "Stage": run.stack}
    assert alarm["statistic"] == "Sum" and alarm["treatMissingData"] == "notBreaching"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_lambda_errors_and_throttles_are_watched(run: StackRun, metric):
    function = run.function.inputs["name"]
    alarm = alarms(run, function)[("AWS/Lambda", metric)]
    assert alarm["dimensions"] == {"FunctionName": function}
    assert alarm["threshold"] == 1


def test_bedrock_throttling_is_watched_for_every_model_the_lambda_may_invoke(dev, prod):
    def watched(run: StackRun) -> set[str]:
        return {
            a.inputs["dimensions"]["ModelId"]
            for a in run.of_type(ALARM)
            if a.inputs["namespace"] == "AWS/Bedrock"
            and a.inputs["metricName"] == "InvocationThrottles"
        }

    assert watched(dev) == {
        "stability.stable-image-core-v1:1",
        "stability.stable-image-ultra-v1:1",
        "stability.sd3-5-large-v1:0",
    }
    assert watched(prod) == {
        "stability.stable-image-core-v1:1",
        "stability.stable-image-ultra-v1:1",
    }


def test_without_an_email_alarms_notify_nobody_and_there_is_no_budget(run: StackRun):
    assert run.of_type(TOPIC) == run.of_type(BUDGET) == []
    assert all(a.inputs.get("alarmActions", []) == [] for a in run.of_type(ALARM))


def test_with_an_email_every_alarm_notifies_its_topic(notified: StackRun):
    topic = notified.one(TOPIC)
    subscription = notified.one(SUBSCRIPTION).inputs
    assert subscription["protocol"] == "email" and subscription["endpoint"] == "ops@example.com"
    topic_arn = f"arn:aws:sns:us-west-2:123456789012:{topic.inputs['name']}"
    assert subscription["topic"] == topic_arn
    for alarm in notified.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == alarm.inputs["okActions"] == [topic_arn]
    assert notified.outputs["alarm_topic_arn"] == topic_arn


def test_the_budget_watches_bedrock_cost_and_emails(notified: StackRun):
    budget = notified.one(BUDGET).inputs
    assert (budget["budgetType"], budget["timeUnit"]) == ("COST", "MONTHLY")
    assert (budget["limitAmount"], budget["limitUnit"]) == ("100", "USD")
    assert budget["costFilters"] == [{"name": "Service", "values": ["Amazon Bedrock"]}]
    kinds = {(n["notificationType"], n["threshold"]) for n in budget["notifications"]}
    assert kinds == {("ACTUAL", 80), ("FORECASTED", 100)}
    assert all(
        n["subscriberEmailAddresses"] == ["ops@example.com"] for n in budget["notifications"]
    )
