"""The API body each stack deploys: importer-clean, protected on every route, invocable by the
Lambda permission on every route.

The constructs below are those API Gateway documents as unsupported when it imports an OpenAPI
document for a REST API ("Amazon API Gateway important notes", REST APIs,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html):
ignored, dropped, or reported as warnings, which ``fail_on_warnings`` turns into a failed deploy.
"""

import fnmatch
import json
import re

import pytest

from api_gateway import definition
from tests.infra.conftest import ACCOUNT, StackRun, run_program, stack_config

REST_API = "aws:apigateway/restApi:RestApi"
ANY_METHOD = "x-amazon-apigateway-any-method"
# Keywords API Gateway's models (JSON Schema draft 4) and importer do not support. `nullable` is
# OpenAPI's, not draft 4's. `additionalProperties` is also listed by AWS; it stays in the request
# model, where the contract and the local gateway's body validator rely on it (see README,
# "Troubleshooting (deployed)", if an import ever warns on it).
UNSUPPORTED_KEYWORDS = {
    "anyOf",
    "deprecated",
    "discriminator",
    "example",
    "examples",
    "exclusiveMinimum",
    "nullable",
    "oneOf",
    "readOnly",
}
UNSUPPORTED_FORMATS = {"int32", "int64", "decimal"}
PARAMETER_ATTRIBUTES = {"name", "in", "required", "description", "schema"}
# Methods API Gateway may invoke the ANY method for (every method but the declared ones).
ANY_VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


# The only public method: the playground page, which holds no data and asks for the key itself.
PLAYGROUND = ("/", "get")


def test_only_the_playground_page_is_public(run: StackRun):
    public = [(p, m) for p, m, op in operations(run.body) if op["security"] == []]
    assert public == [PLAYGROUND]
    assert run.body["paths"]["/"]["get"]["responses"]["200"]["content"] == {}


def unsupported(node, path: str = "#") -> list[str]:
    """Where the document uses an unsupported construct; property names are not keywords."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in UNSUPPORTED_KEYWORDS:
                found.append(f"{path}/{key}")
            if key == "format" and value in UNSUPPORTED_FORMATS:
                found.append(f"{path}/format: {value}")
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    found += unsupported(schema, f"{path}/properties/{name}")
            else:
                found += unsupported(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += unsupported(item, f"{path}/{i}")
    return found


def operations(body: dict):
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


@pytest.fixture(scope="module")
def iam_prod() -> StackRun:
    return run_program("prod", {**stack_config("prod"), "imagegen:authorization": "iam"})


def test_the_api_fails_to_deploy_on_any_import_warning(run: StackRun):
    assert run.one(REST_API).inputs["failOnWarnings"] is True


def test_the_body_uses_no_construct_the_importer_ignores_or_warns_on(run: StackRun):
    assert unsupported(run.body) == []


def test_model_names_are_alphanumeric(run: StackRun):
    assert all(re.fullmatch("[A-Za-z0-9]+", name) for name in run.body["components"]["schemas"])


def test_parameters_carry_only_what_api_gateway_reads(run: StackRun):
    for _, _, operation in operations(run.body):
        for parameter in operation.get("parameters", []):
            assert set(parameter) <= PARAMETER_ATTRIBUTES, parameter
            assert set(parameter.get("schema", {})) <= {"type"}, parameter


def test_method_responses_are_object_models(run: StackRun):
    schemas = run.body["components"]["schemas"]
    for _, _, operation in operations(run.body):
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                name = media["schema"]["$ref"].rsplit("/", 1)[1]
                assert schemas[name]["type"] == "object"


def test_security_schemes_are_api_keys(run: StackRun):
    schemes = run.body["components"]["securitySchemes"].values()
    assert all(scheme["type"] == "apiKey" for scheme in schemes)


def test_the_lambda_permission_admits_every_route_api_gateway_invokes_it_for(run: StackRun):
    source_arn = run.named(f"imagegen-{run.stack}-invoke-from-api").inputs["sourceArn"]
    api = f"arn:aws:execute-api:{run.region}:{ACCOUNT}:api123"
    routes = [
        f"{api}/{run.stack}/{verb}{path}"
        for path, method, _ in operations(run.body)
        for verb in (ANY_VERBS if method == ANY_METHOD else [method.upper()])
    ]
    paths = definition.load()["paths"]
    declared = [m for methods in paths.values() for m in methods if m.upper() in ANY_VERBS]
    assert len(routes) == len(declared) + len(paths) * len(ANY_VERBS)
    assert [route for route in routes if not fnmatch.fnmatchcase(route, source_arn)] == []
    assert not fnmatch.fnmatchcase(f"{api}/other-stage/GET/models", source_arn)
    assert not fnmatch.fnmatchcase(f"{api[:-3]}xyz/{run.stack}/GET/models", source_arn)


def test_iam_authorization_signs_every_route_and_drops_the_key(iam_prod: StackRun):
    for path, method, operation in operations(iam_prod.body):
        if (path, method) == PLAYGROUND:
            assert "x-amazon-apigateway-auth" not in operation
        else:
            assert operation["x-amazon-apigateway-auth"] == {"type": "AWS_IAM"}, (path, method)
        assert operation["security"] == [], (path, method)
    assert unsupported(iam_prod.body) == []
    for typ in ("apiKey:ApiKey", "usagePlan:UsagePlan", "usagePlanKey:UsagePlanKey"):
        assert iam_prod.of_type(f"aws:apigateway/{typ}") == []
    assert "api_key" not in iam_prod.outputs


def test_iam_authorization_gives_callers_a_policy_for_this_stage(iam_prod: StackRun):
    policy = iam_prod.one("aws:iam/policy:Policy")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Action"] == ["execute-api:Invoke"]
    assert statement["Resource"] == [
        f"arn:aws:execute-api:{iam_prod.region}:{ACCOUNT}:api123/prod/*/*"
    ]
    assert iam_prod.outputs["invoke_policy_arn"].endswith(f":policy/{policy.inputs['name']}")


def test_with_iam_an_unsigned_request_is_403_not_a_missing_route(iam_prod: StackRun, prod):
    def missing_token(run: StackRun) -> dict:
        return run.body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]

    assert missing_token(iam_prod)["statusCode"] == "403"
    assert "SigV4" in missing_token(iam_prod)["responseTemplates"]["application/json"]
    assert missing_token(prod)["statusCode"] == "404"


def test_every_method_requires_the_key_authorizer_and_the_key(run: StackRun):
    """Bearer or x-api-key: the authorizer finds the key, API Gateway checks it (key source
    AUTHORIZER), so no method may skip either."""
    for path, method, operation in operations(run.body):
        expected = (
            [] if (path, method) == PLAYGROUND else [{"api_key_authorizer": [], "api_key": []}]
        )
        assert operation["security"] == expected, (path, method)
    assert run.body["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
    assert run.one(REST_API).inputs["apiKeySource"] == "AUTHORIZER"


def test_the_authorizer_scheme_calls_the_stacks_authorizer_on_every_request(run: StackRun):
    scheme = run.body["components"]["securitySchemes"]["api_key_authorizer"]
    assert scheme["x-amazon-apigateway-authtype"] == "custom"
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerUri"].endswith(
        f":function:imagegen-{run.stack}-authorizer/invocations"
    )
    # Not cached, and no identity source: one would make API Gateway answer 401 without calling
    # the authorizer whenever that one header is missing, though the other may carry the key.
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer


def test_multipart_bodies_reach_the_lambda_as_binary(run: StackRun, iam_prod: StackRun):
    for stack in (run, iam_prod):
        assert stack.body["x-amazon-apigateway-binary-media-types"] == ["multipart/form-data"]
        assert stack.one(REST_API).inputs["binaryMediaTypes"] == ["multipart/form-data"]


def test_api_gateway_may_invoke_the_authorizer_for_this_api_only(run: StackRun):
    permission = run.named(f"imagegen-{run.stack}-authorize-from-api").inputs
    assert permission["function"] == run.named(f"imagegen-{run.stack}-authorizer").inputs["name"]
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    api = f"arn:aws:execute-api:{run.region}:{ACCOUNT}:api123"
    assert fnmatch.fnmatchcase(f"{api}/authorizers/abc123", permission["sourceArn"])
    assert not fnmatch.fnmatchcase(f"{api[:-3]}xyz/authorizers/abc123", permission["sourceArn"])
    assert not fnmatch.fnmatchcase(f"{api}/{run.stack}/GET/models", permission["sourceArn"])


def rendered(response: dict, message: str = "API Gateway's message") -> dict:
    """A gateway response's JSON body, with ``$context.error.messageString`` substituted."""
    template = response["responseTemplates"]["application/json"]
    return json.loads(template.replace("$context.error.messageString", json.dumps(message)))


def test_every_gateway_response_is_an_openai_error_too(run: StackRun, iam_prod: StackRun):
    """``{"error": {code, message, type, param}}``: the service's fields and OpenAI's, with
    OpenAI's type for the status, so OpenAI SDKs read API Gateway's refusals too."""
    expected = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
    for stack in (run, iam_prod):
        for kind, response in stack.body["x-amazon-apigateway-gateway-responses"].items():
            error = rendered(response)["error"]
            assert set(error) == {"code", "message", "type", "param"}, kind
            assert error["param"] is None
            status = int(response.get("statusCode", 500 if kind == "DEFAULT_5XX" else 400))
            family = "server_error" if status >= 500 else "invalid_request_error"
            assert error["type"] == expected.get(status, family), kind


def test_key_refusals_say_how_to_send_the_key(run: StackRun):
    responses = run.body["x-amazon-apigateway-gateway-responses"]
    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["statusCode"] == "401"
    assert unauthorized["responseParameters"]["gatewayresponse.header.WWW-Authenticate"] == (
        "'Bearer'"
    )
    message = rendered(unauthorized)["error"]["message"]
    assert "Authorization: Bearer <key>" in message and "x-api-key" in message
    invalid = rendered(responses["INVALID_API_KEY"])["error"]
    # 401 like OpenAI, so its clients report a bad key; API Gateway's default is 403.
    assert (responses["INVALID_API_KEY"]["statusCode"], invalid["code"]) == (
        "401",
        "invalid_api_key",
    )
    assert invalid["message"] == "the API key is not valid for this API"
    for kind in ("AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"):
        assert responses[kind]["statusCode"] == "500"
    assert responses["ACCESS_DENIED"]["statusCode"] == "403"


def test_iam_authorization_has_no_key_authorizer(iam_prod: StackRun):
    assert iam_prod.body["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert "api_key_authorizer" not in iam_prod.body["components"]["securitySchemes"]
    assert "UNAUTHORIZED" not in iam_prod.body["x-amazon-apigateway-gateway-responses"]
    names = {r.name for r in iam_prod.resources}
    assert not {n for n in names if "authoriz" in n}, names
    # The API's function and the job worker (fed by SQS, not by the API): no authorizer.
    assert {f.name for f in iam_prod.of_type("aws:lambda/function:Function")} == {
        "imagegen-prod-function",
        "imagegen-prod-worker",
    }


def test_the_openai_compatible_routes_are_deployed_to_the_lambda(run: StackRun):
    """`<api>/v1` serves OpenAI clients: the same function behind each route, the key required."""
    function = run.function.inputs["name"]
    for path, method in (
        ("/v1/images/generations", "post"),
        ("/v1/images/edits", "post"),
        ("/v1/models", "get"),
    ):
        operation = run.body["paths"][path][method]
        assert operation["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
        assert (
            f":function:{function}/invocations"
            in (operation["x-amazon-apigateway-integration"]["uri"])
        )
        assert operation["security"] == [{"api_key_authorizer": [], "api_key": []}]
    edits = run.body["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert list(edits) == ["multipart/form-data"]
