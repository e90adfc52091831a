"""Nothing secret in logs or answers; URLs signed the way real S3 needs."""

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import NoCredentialsError

from service import aws
from service.bootstrap import build_generator
from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import StorageFailed
from service.handler import handle
from service.logs import JsonFormatter
from service.storage import ImageStore
from tests.conftest import lambda_context


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs():
    logger = logging.getLogger("imagegen")
    collector, level = Collect(), logger.level
    logger.addHandler(collector)
    yield collector
    logger.removeHandler(collector)
    logger.setLevel(level)


def post(generator, body: dict) -> tuple[int, dict]:
    event = {"resource": "/images", "httpMethod": "POST", "body": json.dumps(body)}
    response = handle(event, lambda_context("security"), lambda: generator)
    return response["statusCode"], json.loads(response["body"])


def test_info_logs_carry_no_prompt_no_signature_and_no_credentials(stack, logs):
    generator = build_generator({**stack.env, "IMAGEGEN_LOG_LEVEL": "INFO"})
    status, answer = post(generator, {"prompt": "my secret launch plans", "seed": 1})
    assert status == 200
    text = "\n".join(logs.lines)
    assert "images generated" in text and "request_id" in text and "model_ms" in text
    for secret in (
        "secret launch plans",
        "X-Amz-Signature",
        answer["image_url"],
        stack.env["AWS_SECRET_ACCESS_KEY"] + '"',
    ):
        assert secret not in text


def test_prompts_are_logged_only_at_debug(stack, logs):
    generator = build_generator({**stack.env, "IMAGEGEN_LOG_LEVEL": "DEBUG"})
    assert post(generator, {"prompt": "debug me please"})[0] == 200
    assert any('"prompt": "debug me please"' in line for line in logs.lines)


def test_a_bug_answers_500_without_trace_or_account_details(logs):
    def broken():
        raise RuntimeError("arn:aws:iam::123456789012:role/secret-role exploded")

    response = handle(
        {"resource": "/models", "httpMethod": "GET"}, lambda_context("security"), broken
    )
    assert response["statusCode"] == 500
    assert "123456789012" not in response["body"] and "Traceback" not in response["body"]
    assert json.loads(response["body"])["error"]["code"] == "internal_error"
    assert any("Traceback" in line for line in logs.lines)  # the operator still gets it


def real_s3_store(expiry: int) -> ImageStore:
    env = {
        "IMAGEGEN_BUCKET": "team-images",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
    }
    settings = Settings.from_env(env, default_catalogue())
    client = aws.s3(aws.session(settings, env), settings, env)
    return ImageStore(client, settings.bucket, expiry)


def test_presigned_urls_for_real_s3_are_sigv4_on_the_regional_endpoint():
    url = real_s3_store(900).presign("images/2026/11/25/abc.png")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https" and parts.hostname == "team-images.s3.eu-west-1.amazonaws.com"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].endswith("/eu-west-1/s3/aws4_request")


def test_a_presigning_failure_is_a_storage_error(monkeypatch):
    store = real_s3_store(60)

    def no_credentials(*args, **kwargs):
        raise NoCredentialsError

    monkeypatch.setattr(store._s3, "generate_presigned_url", no_credentials)
    with pytest.raises(StorageFailed, match="could not sign"):
        store.presign("images/x.png")
