"""Stack settings AWS would refuse, or that would deploy something broken, fail at preview."""

import pytest

from infra.settings import LAMBDA_LOG_LEVELS, LOG_RETENTION_DAYS, MAX_URL_EXPIRY_SECONDS
from tests.infra.conftest import run_program, stack_config

# Lambda's application log levels (logging_config.application_log_level).
LAMBDA_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


def dev_with(**settings: str) -> dict[str, str]:
    return {**stack_config("dev"), **{f"imagegen:{k}": v for k, v in settings.items()}}


@pytest.mark.parametrize("seconds", ["0", str(MAX_URL_EXPIRY_SECONDS + 1), "604800"])
def test_url_expiry_beyond_what_the_lambda_role_can_sign_is_refused(seconds):
    with pytest.raises(
        Exception, match=r"urlExpirySeconds must be 1\.\.3600.*temporary credentials"
    ):
        run_program("dev", dev_with(urlExpirySeconds=seconds))


def test_url_expiry_up_to_an_hour_is_passed_to_the_service():
    run = run_program("dev", dev_with(urlExpirySeconds="3600"))
    assert run.function.inputs["environment"]["variables"]["IMAGEGEN_URL_EXPIRY_SECONDS"] == (
        "3600"
    )


@pytest.mark.parametrize("days", ["0", "10", "4000"])
def test_log_retention_outside_cloudwatchs_values_is_refused(days):
    with pytest.raises(Exception, match="logRetentionDays must be one of CloudWatch Logs"):
        run_program("dev", dev_with(logRetentionDays=days))


def test_the_allowed_retentions_are_cloudwatchs():
    assert {1, 7, 14, 30, 90, 365, 3653} <= set(LOG_RETENTION_DAYS)
    assert 0 not in LOG_RETENTION_DAYS  # "never expire" is not offered


@pytest.mark.parametrize("level", ["VERBOSE", "TRACE", "CRITICAL", ""])
def test_a_log_level_the_service_does_not_know_is_refused(level):
    with pytest.raises(Exception, match="logLevel must be one of"):
        run_program("dev", dev_with(logLevel=level))


@pytest.mark.parametrize(
    ("level", "lambda_level"),
    [
        ("DEBUG", "DEBUG"),
        ("info", "INFO"),
        ("WARN", "WARN"),
        ("WARNING", "WARN"),
        ("ERROR", "ERROR"),
    ],
)
def test_the_log_level_maps_to_lambdas_own_level_names(level, lambda_level):
    function = run_program("dev", dev_with(logLevel=level)).function.inputs
    assert function["loggingConfig"]["applicationLogLevel"] == lambda_level
    assert function["environment"]["variables"]["IMAGEGEN_LOG_LEVEL"] == level.upper()


def test_every_service_level_has_a_lambda_level():
    assert set(LAMBDA_LOG_LEVELS.values()) <= LAMBDA_LEVELS


def test_an_unknown_authorization_is_refused():
    with pytest.raises(Exception, match="authorization must be one of api_key, iam"):
        run_program("dev", dev_with(authorization="none"))


def test_a_budget_without_an_email_to_notify_is_refused():
    with pytest.raises(Exception, match="monthlyBudgetUsd needs imagegen:alarmEmail"):
        run_program("dev", dev_with(monthlyBudgetUsd="50"))
