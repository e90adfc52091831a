"""``imagegen:allowedOrigins``: no CORS anywhere unless set; then the bucket, the Lambda and the
API definition all open to those origins, and only those."""

import json

import pytest

from policy.documents import unguarded_methods
from tests.infra.conftest import StackRun, run_program, stack_config

CORS = "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"
BUCKET = "aws:s3/bucket:Bucket"
APP = "https://app.example.com"
LOCAL_APP = "http://localhost:5173"
ENV = "IMAGEGEN_ALLOWED_ORIGINS"


def with_origins(stack: str, origins: list[str], **settings: str) -> dict[str, str]:
    return {
        **stack_config(stack),
        "imagegen:allowedOrigins": json.dumps(origins),
        **{f"imagegen:{k}": v for k, v in settings.items()},
    }


@pytest.fixture(scope="module")
def open_dev() -> StackRun:
    return run_program("dev", with_origins("dev", [APP, LOCAL_APP, APP]))


@pytest.fixture(scope="module")
def open_iam_prod() -> StackRun:
    return run_program("prod", with_origins("prod", [APP], authorization="iam"))


def environment(function) -> dict[str, str]:
    return function.inputs["environment"]["variables"]


def test_without_allowed_origins_the_bucket_has_no_cors_and_the_lambda_no_origin(run: StackRun):
    assert run.of_type(CORS) == []
    assert environment(run.function)[ENV] == ""
    assert all("options" not in operations for operations in run.body["paths"].values())
    for response in run.body["x-amazon-apigateway-gateway-responses"].values():
        assert not any("Access-Control-" in name for name in response["responseParameters"])


def test_the_bucket_lets_the_listed_origins_read_and_upload(open_dev: StackRun):
    cors = open_dev.one(CORS)
    assert cors.inputs["bucket"] == open_dev.one(BUCKET).id
    (rule,) = cors.inputs["corsRules"]
    assert rule["allowedOrigins"] == [APP, LOCAL_APP]  # once each
    assert sorted(rule["allowedMethods"]) == ["GET", "HEAD", "POST"]
    assert rule["exposeHeaders"] == ["ETag", "Location"]
    assert rule["maxAgeSeconds"] == 7200
    assert "allowedHeaders" not in rule


def test_an_iam_stacks_bucket_gets_the_same_rule_for_its_origin(open_iam_prod: StackRun):
    cors = open_iam_prod.one(CORS)
    assert cors.inputs["bucket"] == open_iam_prod.one(BUCKET).id
    (rule,) = cors.inputs["corsRules"]
    assert (rule["allowedOrigins"], sorted(rule["allowedMethods"])) == (
        [APP],
        ["GET", "HEAD", "POST"],
    )


def test_the_lambda_gets_the_origins_in_its_environment(open_dev: StackRun):
    assert environment(open_dev.function)[ENV] == f"{APP},{LOCAL_APP}"


def test_the_rest_api_opens_options_on_every_path_and_nothing_else(open_dev: StackRun):
    paths = open_dev.body["paths"]
    assert paths and all(ops["options"]["security"] == [] for ops in paths.values())
    function_name = open_dev.function.inputs["name"]
    for operations in paths.values():
        assert function_name in operations["options"]["x-amazon-apigateway-integration"]["uri"]
    assert unguarded_methods(open_dev.body) == []  # the policy pack's rule still passes
    parameters = open_dev.body["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"][
        "responseParameters"
    ]
    assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == (
        "method.request.header.origin"
    )


def test_under_iam_options_is_unsigned_and_one_origin_is_a_literal(open_iam_prod: StackRun):
    for path, operations in open_iam_prod.body["paths"].items():
        assert "x-amazon-apigateway-auth" not in operations["options"], path
        assert "x-amazon-apigateway-auth" in operations["x-amazon-apigateway-any-method"], path
    for response in open_iam_prod.body["x-amazon-apigateway-gateway-responses"].values():
        parameters = response["responseParameters"]
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{APP}'"
    assert environment(open_iam_prod.function)[ENV] == APP


@pytest.mark.parametrize(
    ("origins", "problem"),
    [
        (["*"], "would let every website call the API"),
        ([APP, "http://app.example.com"], "'http://app.example.com' must use https"),
        (["https://app.example.com/"], "without a path or a trailing slash"),
    ],
)
def test_a_bad_origin_is_refused_naming_the_setting(origins, problem):
    with pytest.raises(Exception, match="imagegen:allowedOrigins: ") as refused:
        run_program("dev", with_origins("dev", origins))
    assert problem in str(refused.value)
