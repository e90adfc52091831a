"""The resource graph of the dev and prod stacks, checked offline under Pulumi's mocks."""

import importlib
import json
import zipfile
from pathlib import Path

import pytest

from api_gateway import definition
from infra.package import HANDLER, ROOT, service_files
from service.handler import ROUTES
from tests.infra.conftest import run_program, stack_config

BUCKET = "aws:s3/bucket:Bucket"
FUNCTION = "aws:lambda/function:Function"
ACCOUNT_SETTINGS = "aws:apigateway/account:Account"


def test_bucket_blocks_every_kind_of_public_access(run):
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    ownership = run.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_bucket_policy_denies_non_tls_access(run):
    policy = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert any(r.endswith("/*") for r in statement["Resource"])


def test_encryption_is_sse_s3_in_dev_and_kms_in_prod(dev, prod):
    def default(run):
        config = run.one(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ).inputs
        return config["rules"][0]["applyServerSideEncryptionByDefault"]

    assert default(dev) == {"sseAlgorithm": "AES256"}
    assert default(prod)["sseAlgorithm"] == "aws:kms"
    assert prod.one("aws:kms/key:Key").inputs["enableKeyRotation"] is True
    assert dev.of_type("aws:kms/key:Key") == []


@pytest.mark.parametrize(("stack", "days"), [("dev", 7), ("prod", 30)])
def test_generated_images_uploads_and_jobs_expire_per_environment(dev, prod, stack, days):
    """Jobs (asynchronous requests and their state) expire like the images they name."""
    run = {"dev": dev, "prod": prod}[stack]
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {rule["filter"]["prefix"]: rule for rule in lifecycle.inputs["rules"]}
    assert set(rules) == {"images/", "uploads/", "jobs/"}
    for rule in rules.values():
        assert rule["status"] == "Enabled" and rule["expiration"]["days"] == days
        assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert rules["jobs/"]["id"] == "expire-jobs"
    assert len({rule["id"] for rule in rules.values()}) == 3


def test_force_destroy_only_in_dev_and_prod_data_is_protected(dev, prod):
    assert dev.one(BUCKET).inputs["forceDestroy"] is True
    assert prod.one(BUCKET).inputs["forceDestroy"] is False
    assert not any(r.protect for r in dev.resources)
    assert {r.name for r in prod.resources if r.protect} == {
        "imagegen-prod-images",
        "imagegen-prod-function-logs",
        "imagegen-prod-authorizer-logs",  # who was refused a key: kept like the function's logs
        "imagegen-prod-worker-logs",  # what each job did: kept like the function's logs
        "imagegen-prod-access-logs",
        "imagegen-prod-images-key",
    }


def test_lambda_policy_is_least_privilege(run):
    statements = run.policy["Statement"]
    for statement in statements:
        actions = statement["Action"]
        assert all("*" not in action for action in actions), statement
        if statement.get("Sid") != "WriteTraces":
            assert "*" not in statement["Resource"], statement
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["InvokeConfiguredModels"]["Action"] == ["bedrock:InvokeModel"]
    assert all(
        ":foundation-model/stability." in arn or ":inference-profile/" in arn
        for arn in by_sid["InvokeConfiguredModels"]["Resource"]
    )
    bucket = f"arn:aws:s3:::imagegen-{run.stack}-images-abc123"
    assert by_sid["WriteAndReadImages"]["Resource"] == [f"{bucket}/images/*"]
    assert by_sid["SignUploadFormsAndReadUploads"] == {
        "Sid": "SignUploadFormsAndReadUploads",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": [f"{bucket}/uploads/*"],
    }
    assert by_sid["TellMissingImages"] == {
        "Sid": "TellMissingImages",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::imagegen-{run.stack}-images-abc123"],
    }
    log_group = run.named(f"imagegen-{run.stack}-function-logs").inputs["name"]
    assert by_sid["WriteOwnLogs"]["Resource"] == [
        f"arn:aws:logs:{run.region}:123456789012:log-group:{log_group}:*"
    ]


def test_bedrock_grant_covers_the_stacks_allowed_models_and_no_other(dev, prod):
    """Generation models; the operations' grants: tests/infra/test_operations.py."""

    def models(run):
        by_sid = {s["Sid"]: s for s in run.policy["Statement"]}
        return {arn.rsplit("/", 1)[1] for arn in by_sid["InvokeConfiguredModels"]["Resource"]}

    generation = {"stability.stable-image-core-v1:1", "stability.stable-image-ultra-v1:1"}
    assert generation <= models(dev) and generation <= models(prod)
    assert "stability.sd3-5-large-v1:0" in models(dev)  # allowed in dev
    unallowed = {"stability.stable-diffusion-xl-v1", "amazon.nova-canvas-v1:0"}
    assert not unallowed & (models(dev) | models(prod))


def test_xray_only_when_tracing(dev, prod):
    def sids(run):
        return {s["Sid"] for s in run.policy["Statement"]}

    assert "WriteTraces" not in sids(dev) and "WriteTraces" in sids(prod)
    assert prod.function.inputs["tracingConfig"]["mode"] == "Active"
    assert prod.one("aws:apigateway/stage:Stage").inputs["xrayTracingEnabled"] is True


def test_kms_grant_only_with_kms(dev, prod):
    def sids(run):
        return {s["Sid"] for s in run.policy["Statement"]}

    # The stack's key now encrypts the job queues as well as the bucket: UseStackKey.
    assert "UseStackKey" in sids(prod) and "UseStackKey" not in sids(dev)


def test_lambda_runtime_architecture_handler_and_environment(run):
    function = run.function.inputs
    assert function["runtime"] in ("python3.12", "python3.13")
    assert function["architectures"] == ["arm64"]
    assert function["handler"] == HANDLER == "service.handler.lambda_handler"
    assert function["timeout"] < 29
    env = function["environment"]["variables"]
    assert env["IMAGEGEN_BUCKET"] == f"imagegen-{run.stack}-images-abc123"
    assert env["IMAGEGEN_DEFAULT_MODEL"] == "stable-image-core"
    assert env["IMAGEGEN_KEY_PREFIX"] == "images/"
    assert env["IMAGEGEN_UPLOAD_PREFIX"] == "uploads/"
    assert function["loggingConfig"]["logFormat"] == "JSON"


def test_seeded_request_cache_is_on_in_dev_only(dev, prod):
    def flag(run):
        return run.function.inputs["environment"]["variables"]["IMAGEGEN_CACHE_SEEDED"]

    assert (flag(dev), flag(prod)) == ("true", "false")


def test_the_seeded_cache_is_keyed_with_a_generated_stack_secret(dev, prod):
    (password,) = dev.of_type("random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 32
    assert len(dev.function.inputs["environment"]["variables"]["IMAGEGEN_CACHE_SECRET"]) >= 32
    assert not prod.of_type("random:index/randomPassword:RandomPassword")
    assert "IMAGEGEN_CACHE_SECRET" not in prod.function.inputs["environment"]["variables"]


def test_memory_and_concurrency_follow_the_stack(dev, prod):
    assert dev.function.inputs["memorySize"] == 512
    assert prod.function.inputs["memorySize"] == 1024
    assert prod.function.inputs["reservedConcurrentExecutions"] == 20


def test_handler_named_in_infra_exists_in_service():
    module, function = HANDLER.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), function))


def test_archive_holds_only_the_service_package(tmp_path: Path):
    files = [p.as_posix() for p in service_files()]
    assert "service/handler.py" in files and "service/catalogue.json" in files
    assert "service/playground.html" in files  # GET /
    assert all(f.startswith("service/") for f in files)
    assert not any("test" in f or "__pycache__" in f or f.endswith(".pyc") for f in files)
    archive = tmp_path / "lambda.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(ROOT / f, f)
    assert archive.stat().st_size < 100 * 1024


def test_log_groups_have_retention_per_stack(dev, prod):
    def retention(run):
        return {
            r.name: r.inputs["retentionInDays"]
            for r in run.of_type("aws:cloudwatch/logGroup:LogGroup")
        }

    assert retention(dev) == {
        "imagegen-dev-function-logs": 7,
        "imagegen-dev-authorizer-logs": 7,
        "imagegen-dev-worker-logs": 7,
        "imagegen-dev-access-logs": 7,
    }
    assert set(retention(prod).values()) == {90}


def test_the_function_logs_to_the_stacks_own_log_group(run):
    logging = run.function.inputs["loggingConfig"]
    assert logging["logGroup"] == run.named(f"imagegen-{run.stack}-function-logs").inputs["name"]


def test_stage_has_json_access_logs_and_method_throttling(run):
    stage = run.one("aws:apigateway/stage:Stage").inputs
    assert stage["stageName"] == run.stack
    assert '"requestId": "$context.requestId"' in stage["accessLogSettings"]["format"]
    access_logs = run.named(f"imagegen-{run.stack}-access-logs").inputs["name"]
    assert stage["accessLogSettings"]["destinationArn"].endswith(f":log-group:{access_logs}")
    settings = run.one("aws:apigateway/methodSettings:MethodSettings").inputs
    assert settings["methodPath"] == "*/*"
    assert settings["settings"]["throttlingRateLimit"] > 0
    assert settings["settings"]["throttlingBurstLimit"] > 0


@pytest.mark.parametrize(("stack", "quota"), [("dev", 50), ("prod", 5000)])
def test_every_method_of_every_stack_requires_an_api_key_with_a_quota(dev, prod, stack, quota):
    run = {"dev": dev, "prod": prod}[stack]
    securities = [
        op["security"]
        for path, ops in run.body["paths"].items()
        for method, op in ops.items()
        if (path, method) != ("/", "get")  # the playground page: public, it asks for the key
    ]
    # The key reaches API Gateway through the authorizer (Bearer or x-api-key): both required.
    both = [{"api_key": [], "api_key_authorizer": []}]
    assert securities and all(s == both for s in securities)
    plan = run.one("aws:apigateway/usagePlan:UsagePlan").inputs
    assert plan["quotaSettings"] == {"limit": quota, "period": "DAY"}
    key = run.one("aws:apigateway/usagePlanKey:UsagePlanKey").inputs
    assert key["keyId"] == run.one("aws:apigateway/apiKey:ApiKey").id


def test_the_api_deploys_exactly_the_routes_the_handler_answers(run):
    """A route the handler serves but the body lacks would be a 404 from API Gateway."""
    deployed = {
        path: tuple(sorted(method.upper() for method in methods if not method.startswith("x-")))
        for path, methods in run.body["paths"].items()
    }
    assert deployed == ROUTES


def test_api_is_built_from_the_repository_openapi_with_proxy_integration(run):
    body = run.body
    assert set(body["paths"]) == set(definition.load()["paths"])
    refresh = body["paths"]["/images/url"]["get"]
    assert refresh["x-amazon-apigateway-request-validator"] == "params"
    post = body["paths"]["/images"]["post"]
    integration = post["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["httpMethod"] == "POST"
    assert integration["uri"].endswith(f"function:imagegen-{run.stack}/invocations")
    # Bodies are the Lambda's to validate: it names the field and the model's limit.
    assert "x-amazon-apigateway-request-validator" not in post
    for path in body["paths"].values():  # other methods reach the Lambda: 405 with Allow
        assert path["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert (
        body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]["statusCode"]
        == "404"
    )


def test_deployment_is_retriggered_when_the_api_definition_changes(run):
    triggers = run.one("aws:apigateway/deployment:Deployment").inputs["triggers"]
    assert len(triggers["redeployment"]) == 64


def test_lambda_permission_is_scoped_to_this_apis_stage(run):
    permission = run.named(f"imagegen-{run.stack}-invoke-from-api").inputs
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == (
        f"arn:aws:execute-api:{run.region}:123456789012:api123/{run.stack}/*/*"
    )


def test_outputs_give_the_base_url_the_images_url_and_the_key(run):
    base = f"https://api123.execute-api.{run.region}.amazonaws.com/{run.stack}"
    assert run.outputs["api_base_url"] == base
    assert run.outputs["api_url"] == f"{base}/images"
    assert run.outputs["api_key"] == "secret-api-key-value"
    assert run.outputs["bucket_name"] == f"imagegen-{run.stack}-images-abc123"


def test_at_most_one_stack_file_manages_account_wide_resources():
    """Every Pulumi.<stack>.yaml, run as Pulumi would run it: one owner of account settings."""
    stacks = [p.name.split(".")[1] for p in sorted(ROOT.glob("Pulumi.*.yaml"))]
    assert {"dev", "prod"} <= set(stacks)
    owners = [s for s in stacks if run_program(s).of_type(ACCOUNT_SETTINGS)]
    assert len(owners) <= 1, f"{owners} all set the account-wide API Gateway CloudWatch role"


def test_every_resource_is_named_for_its_stack(run):
    assert all(r.name.startswith(f"imagegen-{run.stack}") for r in run.resources)


def test_a_default_model_not_offered_in_the_region_is_refused():
    config = {**stack_config("dev"), "aws:region": "eu-west-1"}
    with pytest.raises(Exception, match="not offered in eu-west-1"):
        run_program("dev", config)


def test_the_lambda_timeout_must_fit_api_gateway():
    config = {**stack_config("dev"), "imagegen:lambdaTimeoutSeconds": "60"}
    with pytest.raises(Exception, match="lambdaTimeoutSeconds"):
        run_program("dev", config)


def test_every_iam_statement_in_the_program_is_scoped(run):
    """No Allow statement anywhere grants a wildcard action; only X-Ray gets a * resource."""
    documents = [
        json.loads(r.inputs["policy"]) for r in run.of_type("aws:iam/rolePolicy:RolePolicy")
    ]
    documents += [
        json.loads(r.inputs["assumeRolePolicy"]) for r in run.of_type("aws:iam/role:Role")
    ]
    assert documents
    for document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                assert "*" not in action, statement
            resources = statement.get("Resource", [])
            if "*" in ([resources] if isinstance(resources, str) else resources):
                assert all(a.startswith("xray:") for a in actions), statement
