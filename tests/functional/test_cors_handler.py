"""CORS end to end in the handler (proxy events, against the local stack's S3 and Bedrock
emulator) and in the definition API Gateway imports: closed unless ``IMAGEGEN_ALLOWED_ORIGINS``
lists origins, and then open to those only."""

import json

import pytest

from api_gateway import definition
from policy.documents import unguarded_methods
from service.bootstrap import get_generator
from service.catalogue import default_catalogue
from service.config import ConfigError, Settings
from service.cors import EXPOSED_HEADERS
from service.handler import ROUTES, lambda_handler
from tests.conftest import lambda_context, load_event

APP = "https://app.example.com"
LOCAL_APP = "http://localhost:5173"
OTHER = "https://evil.example.net"
EXPOSED = ", ".join(EXPOSED_HEADERS)
ORIGINS = "IMAGEGEN_ALLOWED_ORIGINS"
BASE_ENV = {"IMAGEGEN_BUCKET": "images-bucket", "AWS_REGION": "us-west-2"}


@pytest.fixture
def lambda_env(stack, monkeypatch):
    """Sets the environment a deployed Lambda would have (the local stack's, plus ``extra``)."""

    def setup(**extra: str) -> None:
        for key, value in {**stack.env, **extra}.items():
            monkeypatch.setenv(key, value)
        get_generator.cache_clear()

    yield setup
    get_generator.cache_clear()


@pytest.fixture
def with_origins(lambda_env):
    lambda_env(**{ORIGINS: f"{APP}, {LOCAL_APP}"})


@pytest.fixture
def without_origins(lambda_env, monkeypatch):
    monkeypatch.delenv(ORIGINS, raising=False)
    lambda_env()


def call(event: dict) -> tuple[int, dict, str]:
    response = lambda_handler(event, lambda_context("cors-request"))
    return response["statusCode"], response["headers"], response["body"]


def event(name: str, method: str | None = None, **headers: str) -> dict:
    """The stored event ``name``, its method replaced and ``headers`` added to its own."""
    base = load_event(name)
    base["headers"] = {**(base.get("headers") or {}), **headers}
    base["multiValueHeaders"] = {k: [v] for k, v in base["headers"].items()}
    if method is not None:
        base["httpMethod"] = method
        base["requestContext"]["httpMethod"] = method
        if method == "OPTIONS":
            base["body"] = None
    return base


def preflight(resource: str, **headers: str) -> dict:
    """A browser's preflight for ``resource`` (route templates as API Gateway passes them)."""
    base = event("get_models.json", "OPTIONS", **headers)
    base["resource"] = base["requestContext"]["resourcePath"] = resource
    base["path"] = resource.replace("{id}", "job-1").replace("{model}", "stable-image-core")
    return base


def cors_headers(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


# -- Preflights (OPTIONS) with allowed origins ------------------------------------------------


@pytest.mark.parametrize("resource", sorted(ROUTES))
def test_a_listed_origins_preflight_is_granted_the_routes_methods(with_origins, resource):
    methods = ", ".join(ROUTES[resource])
    asked = {
        "Access-Control-Request-Method": ROUTES[resource][0],
        "Access-Control-Request-Headers": "authorization,content-type,x-stainless-lang",
    }
    status, headers, body = call(preflight(resource, Origin=APP, **asked))
    assert (status, body) == (204, "")
    assert cors_headers(headers) == {
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "authorization, content-type, x-stainless-lang",
        "Access-Control-Max-Age": "7200",
        "Access-Control-Expose-Headers": EXPOSED,
    }
    assert headers["Allow"] == methods
    assert headers["Vary"] == "Origin"
    assert headers["X-Request-Id"] == "cors-request"


def test_every_listed_origin_is_granted_and_the_origin_header_name_is_read_in_any_case(
    with_origins,
):
    status, headers, _ = call(preflight("/images", origin=LOCAL_APP))
    assert (status, headers["Access-Control-Allow-Origin"]) == (204, LOCAL_APP)
    status, headers, _ = call(preflight("/images", ORIGIN=APP))
    assert (status, headers["Access-Control-Allow-Origin"]) == (204, APP)


@pytest.mark.parametrize(
    "origin", [OTHER, "https://app.example.com:8443", "http://app.example.com", "null", ""]
)
def test_an_unlisted_origins_preflight_is_a_403_without_a_grant(with_origins, origin):
    status, headers, body = call(
        preflight("/images", Origin=origin, **{"Access-Control-Request-Method": "POST"})
    )
    error = json.loads(body)["error"]
    assert (status, error["code"], error["field"]) == (403, "origin_not_allowed", "Origin")
    assert "allowedOrigins" in error["message"]
    assert cors_headers(headers) == {}
    assert headers["Vary"] == "Origin"


def test_an_openai_routes_refused_preflight_is_an_openai_error(with_origins):
    status, headers, body = call(preflight("/v1/images/generations", Origin=OTHER))
    assert status == 403
    assert json.loads(body)["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in headers


def test_an_options_without_origin_is_a_plain_options_with_allow_only(with_origins):
    status, headers, body = call(preflight("/images"))
    assert (status, body) == (204, "")
    assert headers["Allow"] == "GET, POST"
    assert cors_headers(headers) == {}


def test_a_preflight_for_an_unknown_route_is_still_a_404(with_origins):
    status, headers, body = call(preflight("/nope", Origin=APP))
    assert (status, json.loads(body)["error"]["code"]) == (404, "not_found")
    assert headers["Access-Control-Allow-Origin"] == APP  # so the app can read why


# -- Every other answer -----------------------------------------------------------------------


def test_a_listed_origin_may_read_a_success(with_origins):
    status, headers, body = call(event("post_images.json", Origin=APP))
    assert status == 200, body
    assert json.loads(body)["images"]
    assert headers["Access-Control-Allow-Origin"] == APP
    assert headers["Access-Control-Expose-Headers"] == EXPOSED
    assert headers["Vary"] == "Origin"
    assert "X-Request-Id" in headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Methods" not in headers  # preflights only


def test_a_listed_origin_may_read_an_error(with_origins):
    status, headers, body = call(event("post_images_no_body.json", Origin=LOCAL_APP))
    assert (status, json.loads(body)["error"]["field"]) == (400, "body")
    assert headers["Access-Control-Allow-Origin"] == LOCAL_APP
    assert headers["Access-Control-Expose-Headers"] == EXPOSED
    assert headers["Vary"] == "Origin"
    assert headers["X-Request-Id"] == "cors-request"


def test_a_405_keeps_its_allow_and_carries_the_grant(with_origins):
    status, headers, _ = call(event("get_models.json", "DELETE", Origin=APP))
    assert (status, headers["Allow"]) == (405, "GET")
    assert headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.parametrize("name", ["get_models.json", "post_images_no_body.json"])
def test_an_unlisted_origin_gets_only_vary(with_origins, name):
    status, headers, _ = call(event(name, Origin=OTHER))
    assert status in (200, 400)
    assert cors_headers(headers) == {}
    assert headers["Vary"] == "Origin"


def test_a_request_without_origin_gets_no_cors_header(with_origins):
    status, headers, _ = call(event("get_models.json"))
    assert status == 200
    assert cors_headers(headers) == {}


# -- Without allowed origins: closed ---------------------------------------------------------


def test_without_origins_options_is_a_405_as_any_other_method(without_origins):
    status, headers, body = call(preflight("/images", Origin=APP))
    assert (status, json.loads(body)["error"]["code"]) == (405, "method_not_allowed")
    assert headers["Allow"] == "GET, POST"
    assert cors_headers(headers) == {} and "Vary" not in headers


@pytest.mark.parametrize("name", ["get_models.json", "post_images_no_body.json"])
def test_without_origins_no_answer_carries_cors_headers(without_origins, name):
    _, headers, _ = call(event(name, Origin=APP))
    assert cors_headers(headers) == {} and "Vary" not in headers


# -- A bad setting ----------------------------------------------------------------------------


def test_a_bad_origin_is_a_configuration_error_naming_the_variable():
    env = {**BASE_ENV, ORIGINS: f"{APP},{APP}/"}
    with pytest.raises(ConfigError, match=rf"{ORIGINS}: 'https://app\.example\.com/'"):
        Settings.from_env(env, default_catalogue())


def test_an_origin_list_is_parsed_from_the_variable():
    env = {**BASE_ENV, ORIGINS: f" {APP},,{LOCAL_APP},"}
    assert Settings.from_env(env, default_catalogue()).allowed_origins == (APP, LOCAL_APP)
    del env[ORIGINS]
    assert Settings.from_env(env, default_catalogue()).allowed_origins == ()


@pytest.mark.parametrize("name", ["get_models.json", "post_images.json"])
def test_a_lambda_with_a_bad_origin_answers_500_and_grants_nothing(lambda_env, name):
    lambda_env(**{ORIGINS: "*"})
    status, headers, body = call(event(name, Origin=APP))
    assert (status, json.loads(body)["error"]["code"]) == (500, "configuration_error")
    assert ORIGINS not in body
    assert cors_headers(headers) == {}


def test_a_bad_origin_fails_a_preflight_as_a_500_too(lambda_env):
    lambda_env(**{ORIGINS: "http://app.example.com"})
    status, headers, _ = call(preflight("/images", Origin="http://app.example.com"))
    assert status == 500
    assert cors_headers(headers) == {}


# -- The definition API Gateway imports -------------------------------------------------------


def api(*, iam_auth: bool = False, key: bool = True, origins: tuple[str, ...] = ()) -> dict:
    return definition.api_gateway_definition(
        definition.load(),
        invoke_arn="arn:aws:apigateway:us-west-2:lambda:path/fn/invocations",
        api_key_required=key,
        title="t",
        iam_auth=iam_auth,
        authorizer_uri="arn:aws:apigateway:us-west-2:lambda:path/authorizer/invocations",
        allowed_origins=origins,
    )


def test_without_origins_the_definition_has_no_options_and_no_cors_header():
    doc = api()
    assert [p for p, ops in doc["paths"].items() if "options" in ops] == []
    for response in doc["x-amazon-apigateway-gateway-responses"].values():
        names = response["responseParameters"]
        assert not [n for n in names if "Access-Control-" in n or n.endswith(".Vary")]


@pytest.mark.parametrize("key", [True, False])
def test_with_origins_every_path_has_a_public_options_to_the_lambda(key):
    doc = api(origins=(APP,), key=key)
    assert set(doc["paths"]) == set(definition.load()["paths"])
    for path, operations in doc["paths"].items():
        options = operations["options"]
        assert options["security"] == [], path
        integration = options["x-amazon-apigateway-integration"]
        assert (
            integration
            == operations["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        )
        assert integration["type"] == "aws_proxy"
        assert "x-amazon-apigateway-auth" not in options
        # Only OPTIONS is opened: every other method keeps its security.
        if key and path != "/":
            assert operations["x-amazon-apigateway-any-method"]["security"] != []


def test_under_iam_auth_options_is_unsigned_and_every_other_method_signed():
    doc = api(iam_auth=True, origins=(APP, LOCAL_APP))
    for path, operations in doc["paths"].items():
        assert "x-amazon-apigateway-auth" not in operations["options"], path
        signed = {m for m, op in operations.items() if "x-amazon-apigateway-auth" in op}
        public = {"options", "get"} if path == "/" else {"options"}  # and the playground page
        assert signed == set(operations) - public, path
    assert unguarded_methods(doc) == []


def test_the_options_operations_pass_the_policy_packs_key_rule():
    assert unguarded_methods(api(origins=(APP,))) == []


def test_one_origin_is_a_literal_on_every_gateway_response():
    for kind, response in api(origins=(APP,))["x-amazon-apigateway-gateway-responses"].items():
        parameters = response["responseParameters"]
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{APP}'", kind
        assert parameters["gatewayresponse.header.Access-Control-Expose-Headers"] == (
            f"'{EXPOSED}'"
        )
        assert parameters["gatewayresponse.header.Vary"] == "'Origin'"
        assert parameters["gatewayresponse.header.Cache-Control"] == "'no-store'"


def test_several_origins_echo_the_requests_origin_on_every_gateway_response():
    responses = api(origins=(APP, LOCAL_APP))["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "INVALID_API_KEY", "THROTTLED"} <= set(responses)
    for kind, response in responses.items():
        parameters = response["responseParameters"]
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == (
            "method.request.header.origin"
        ), kind
        assert parameters["gatewayresponse.header.Vary"] == "'Origin'"
    assert responses["UNAUTHORIZED"]["responseParameters"][
        "gatewayresponse.header.WWW-Authenticate"
    ] == ("'Bearer'")


def test_the_options_operations_stay_out_of_the_no_route_message():
    responses = api(origins=(APP,))["x-amazon-apigateway-gateway-responses"]
    template = responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
    assert "OPTIONS" not in template and "GET /models" in template
