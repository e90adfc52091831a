"""Turn the API contract, ``openapi.yaml`` beside this module, into the API Gateway definition.

infra deploys this document as the body of an ``aws.apigateway.RestApi``; the local gateway
(``devstack.gateway``) reads the very same document and behaves as API Gateway does with it, so
routes, validators, API-key security and gateway responses cannot drift apart.

Choices, with the documentation they rest on:
- An operation the contract marks ``security: []`` (only ``GET /``, the playground page, which
  holds no data and asks for the key itself) stays public: no key, no authorizer, no SigV4.
- Every path also gets ``x-amazon-apigateway-any-method`` to the Lambda, so a wrong method is
  answered 405 with ``Allow`` by the handler instead of API Gateway's 403 "Missing
  Authentication Token".
- Request bodies are validated by the Lambda, not by API Gateway: a gateway response template
  allows only simple variable substitution ("A GatewayResponse mapping template isn't processed
  by the VTL engine", https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-swagger-extensions-gateway-responses.responseTemplates.html), so a body refused
  at the gateway could never name the field and the limit. Required query parameters are
  checked at the gateway (presence and non-blank only, https://docs.aws.amazon.com/apigateway/
  latest/developerguide/api-gateway-method-request-validation.html).
- Gateway responses answer in the service's error shape (see the last point); unknown
  routes are 404 ``not_found`` (API Gateway's default for them is 403). With IAM authorization
  an unsigned request to a real route gets the same response type, so it stays 403.
- Parameters keep only what API Gateway reads ("For input parameters, only the following
  attributes are supported: name, in, required, type, description. Other attributes are
  ignored", https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-known-issues.html); ``openapi.yaml`` keeps the full contract for clients.
- With API keys (no IAM auth), clients may send the key as ``Authorization: Bearer <key>``, as
  OpenAI clients do, or in ``x-api-key``. API Gateway itself reads a key from one place only,
  ``X-API-Key`` or a Lambda authorizer's ``usageIdentifierKey`` (key source HEADER or
  AUTHORIZER, https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-api-key-source.html), so a REQUEST authorizer (``service.authorizer``) finds the
  key in either header and API Gateway still checks it against the usage plan. Every method
  requires both the authorizer and the key. The authorizer has no identity source and its
  results are not cached (TTL 0): an identity source is required only with caching, and
  API Gateway answers 401 without calling the authorizer when any listed source is missing
  (``identitySource``, https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html),
  which would refuse every request carrying only the other header.
- ``multipart/form-data`` is a binary media type, so such bodies reach the Lambda
  base64-encoded (``isBase64Encoded: true``) and byte-exact instead of being read as UTF-8 text
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html,
  .../api-gateway-payload-encodings-workflow.html). For responses API Gateway looks at the
  request's first ``Accept`` type, so the JSON answers are affected only for a client that
  asks for ``multipart/form-data`` back, which no client of this API does.
- Every gateway response is ``{"error": {"code", "message", "type", "param"}}``: the service's
  shape plus OpenAI's (``type``, ``param``), so both kinds of client read API Gateway's own
  refusals (https://platform.openai.com/docs/guides/error-codes).
- CORS (``service.cors``) only with allowed origins: then every path gets a public ``OPTIONS``
  to the Lambda, which grants preflights of listed origins (a preflight never carries the key,
  so it cannot pass the key's security), and the gateway responses carry
  ``Access-Control-Allow-Origin``, so a browser app can read API Gateway's own refusals (a 401,
  a 429). A gateway response header is a literal or a request value, never a choice
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-swagger-extensions-gateway-responses.responseParameters.html): with one origin it
  is that origin; with several it echoes the request's ``Origin``, so any page may read these
  refusals, which hold nothing but the refusal.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from service.cors import EXPOSED_HEADERS
from service.openai_images.error_types import error_type

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
API_KEY_SCHEME = "api_key"
API_KEY_HEADER = "x-api-key"
AUTHORIZER_SCHEME = "api_key_authorizer"
# Sent as binary: base64-encoded to the Lambda, never decoded as UTF-8 text on the way.
BINARY_MEDIA_TYPES = ("multipart/form-data",)
INTEGRATION_TIMEOUT_MS = 29000
# API Gateway's own refusals: response type -> (status, the service's error code). Not
# REQUEST_TOO_LARGE: API Gateway's known issues say its 413 cannot be customized (it answers
# {"message": "Request Too Long"}), so a template for it would only mislead. Default statuses:
# https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
GATEWAY_ERRORS = {
    "BAD_REQUEST_BODY": (400, "invalid_field"),
    "BAD_REQUEST_PARAMETERS": (400, "invalid_field"),
    # 401, not API Gateway's default 403: a wrong key is a credential to fix, and OpenAI's
    # clients (Open WebUI, LiteLLM) report only a 401 as "invalid API key", as OpenAI answers.
    "INVALID_API_KEY": (401, "invalid_api_key"),
    "ACCESS_DENIED": (403, "forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found"),
    # An Authorization header that is not SigV4 on a route API Gateway has no method for: it
    # tries to parse it as a signature, and its default message echoes a hash of the token.
    "INCOMPLETE_SIGNATURE": (404, "not_found"),
    "THROTTLED": (429, "throttled"),
    "QUOTA_EXCEEDED": (429, "quota_exceeded"),
    "INTEGRATION_TIMEOUT": (504, "gateway_timeout"),
    "DEFAULT_4XX": (None, "client_error"),
    "DEFAULT_5XX": (None, "gateway_error"),
}
# Only where a Lambda authorizer guards the methods. UNAUTHORIZED is its
# raise Exception("Unauthorized"); the two 500s are an authorizer that failed or answered
# something API Gateway cannot use.
AUTHORIZER_ERRORS = {
    "UNAUTHORIZED": (401, "unauthorized"),
    "AUTHORIZER_FAILURE": (500, "authorizer_error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "authorizer_error"),
}
KEY_MESSAGE = "send your API key as 'Authorization: Bearer <key>' or in the 'x-api-key' header"
MESSAGES = {
    "INVALID_API_KEY": "the API key is not valid for this API",
    "UNAUTHORIZED": f"no usable API key: {KEY_MESSAGE}, one key per request",
    "AUTHORIZER_FAILURE": "the API key could not be checked; try again",
    "AUTHORIZER_CONFIGURATION_ERROR": (
        "the API key could not be checked: the key authorizer failed; its logs say why"
    ),
}
# RFC 6750 section 3: a 401 names the scheme the client should use.
CHALLENGE = {"UNAUTHORIZED": "Bearer", "INVALID_API_KEY": "Bearer"}


def openai_error_type(status: int | None, kind: str) -> str:
    """OpenAI's error ``type`` for a gateway response; the status families have none."""
    if status is None:
        return "server_error" if kind == "DEFAULT_5XX" else "invalid_request_error"
    return error_type(status)


def _error_template(code: str, error_type: str, message: str | None = None) -> str:
    """A gateway response template: a fixed ``message``, or API Gateway's own (its
    ``messageString`` is already a quoted JSON string)."""
    error = {"code": code, "message": message, "type": error_type, "param": None}
    if message is not None:
        return json.dumps({"error": error})
    body = json.dumps({"error": {**error, "message": "MESSAGE"}})
    return body.replace('"MESSAGE"', "$context.error.messageString")


def _routes(spec: dict[str, Any]) -> str:
    return ", ".join(
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
        if not method.startswith("x-")
    )


def gateway_responses(
    spec: dict[str, Any],
    *,
    iam_auth: bool = False,
    authorizer: bool = False,
    allowed_origins: tuple[str, ...] = (),
) -> dict[str, Any]:
    # API Gateway says "Missing Authentication Token" for an unknown path, which reads like a
    # key problem; without IAM auth the answer can say what is really wrong. With IAM auth the
    # same response type also means "not signed", so it stays 403 and names both causes.
    errors = {**GATEWAY_ERRORS, **(AUTHORIZER_ERRORS if authorizer else {})}
    no_route = f"no such route; this API serves {_routes(spec)}"
    messages = {
        **MESSAGES,
        "MISSING_AUTHENTICATION_TOKEN": no_route,
        "INCOMPLETE_SIGNATURE": no_route,
    }
    if iam_auth:
        errors["MISSING_AUTHENTICATION_TOKEN"] = (403, "forbidden")
        errors["INCOMPLETE_SIGNATURE"] = (403, "forbidden")
        messages["INCOMPLETE_SIGNATURE"] = (
            "the Authorization header is not a complete SigV4 signature (or there is no such"
            f" route); this API serves {_routes(spec)}"
        )
        messages["MISSING_AUTHENTICATION_TOKEN"] = (
            f"the request is not SigV4-signed, or there is no such route; this API serves"
            f" {_routes(spec)}"
        )
    responses = {}
    for kind, (status, code) in errors.items():
        headers = {"gatewayresponse.header.Cache-Control": "'no-store'", **_cors(allowed_origins)}
        if kind in CHALLENGE:
            headers["gatewayresponse.header.WWW-Authenticate"] = f"'{CHALLENGE[kind]}'"
        template = _error_template(code, openai_error_type(status, kind), messages.get(kind))
        response: dict[str, Any] = {
            "responseParameters": headers,
            "responseTemplates": {"application/json": template},
        }
        if status is not None:
            response["statusCode"] = str(status)
        responses[kind] = response
    return responses


def _cors(allowed_origins: tuple[str, ...]) -> dict[str, str]:
    """A gateway response's CORS headers (see the module docstring)."""
    if not allowed_origins:
        return {}
    origin = (
        f"'{allowed_origins[0]}'" if len(allowed_origins) == 1 else "method.request.header.origin"
    )
    return {
        "gatewayresponse.header.Access-Control-Allow-Origin": origin,
        "gatewayresponse.header.Access-Control-Expose-Headers": f"'{', '.join(EXPOSED_HEADERS)}'",
        "gatewayresponse.header.Vary": "'Origin'",
    }


def load(path: Path = OPENAPI_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _integration(uri: str) -> dict[str, Any]:
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",  # Lambda proxy integrations are always invoked with POST
        "uri": uri,
        "passthroughBehavior": "when_no_match",
        "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
    }


def _gateway_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a parameter that API Gateway reads; it ignores the others."""
    kept = {k: v for k, v in parameter.items() if k in ("name", "in", "required", "description")}
    if "type" in parameter.get("schema", {}):
        kept["schema"] = {"type": parameter["schema"]["type"]}
    return kept


def _authorizer_scheme(authorizer_uri: str) -> dict[str, Any]:
    """The REQUEST authorizer as an OpenAPI security scheme (x-amazon-apigateway-authorizer,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-swagger-extensions-authorizer.html). No ``identitySource``: see the module
    docstring. API Gateway invokes the function through its resource policy (no credentials)."""
    return {
        "type": "apiKey",
        # For a request authorizer the scheme names no header ("Unused" in AWS's OpenAPI 3
        # examples): a header named here could become an identity source, which would refuse
        # every request without it (x-api-key only) before the authorizer runs.
        "name": "Unused",
        "in": "header",
        "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": {
            "type": "request",
            "authorizerUri": authorizer_uri,
            "authorizerResultTtlInSeconds": 0,
        },
    }


def api_gateway_definition(
    spec: dict[str, Any],
    *,
    invoke_arn: str,
    api_key_required: bool,
    title: str,
    iam_auth: bool = False,
    authorizer_uri: str | None = None,
    allowed_origins: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The OpenAPI document with API Gateway extensions (a RestApi body, once JSON-encoded).

    ``iam_auth`` makes every method require a SigV4 signature (``x-amazon-apigateway-auth``
    ``AWS_IAM``); it can be combined with the API key, which then only meters usage and is read
    from ``x-api-key``. Without IAM auth, a required key comes through the Lambda authorizer at
    ``authorizer_uri`` (its invoke ARN), which takes it from ``Authorization: Bearer`` or
    ``x-api-key``. ``allowed_origins`` opens CORS to those origins.
    """
    authorizer = api_key_required and not iam_auth
    if authorizer and not authorizer_uri:
        raise ValueError("API keys without IAM auth need the authorizer's invoke ARN")
    doc = copy.deepcopy(spec)
    doc["info"]["title"] = title
    doc["x-amazon-apigateway-api-key-source"] = "AUTHORIZER" if authorizer else "HEADER"
    doc["x-amazon-apigateway-binary-media-types"] = list(BINARY_MEDIA_TYPES)
    doc["x-amazon-apigateway-request-validators"] = {
        "params": {"validateRequestBody": False, "validateRequestParameters": True},
    }
    schemes: dict[str, Any] = {
        API_KEY_SCHEME: {"type": "apiKey", "name": API_KEY_HEADER, "in": "header"},
    }
    # One requirement naming both schemes: in OpenAPI all schemes of one requirement object
    # must be satisfied, and API Gateway gives the method the authorizer and apiKeyRequired.
    requirement: dict[str, list] = {API_KEY_SCHEME: []}
    if authorizer:
        schemes[AUTHORIZER_SCHEME] = _authorizer_scheme(str(authorizer_uri))
        requirement = {AUTHORIZER_SCHEME: [], API_KEY_SCHEME: []}
    doc.setdefault("components", {})["securitySchemes"] = schemes
    security = [requirement] if api_key_required else []
    for operations in doc["paths"].values():
        public = set()
        for method, operation in operations.items():
            operation["x-amazon-apigateway-integration"] = _integration(invoke_arn)
            if operation.get("parameters"):
                operation["parameters"] = [_gateway_parameter(p) for p in operation["parameters"]]
                operation["x-amazon-apigateway-request-validator"] = "params"
            if operation.get("security") == []:  # public by the contract: the playground page
                public.add(method)
            for response in operation.get("responses", {}).values():
                # API Gateway's importer maps a response schema to a model, which must be a
                # JSON object; the page's text/html needs none (a proxy integration ignores it).
                content = response.get("content")
                if content:
                    response["content"] = {
                        media: body for media, body in content.items() if "$ref" in body["schema"]
                    }
            operation["security"] = [] if method in public else security
        if allowed_origins:
            operations["options"] = {
                "summary": "CORS preflight: granted to the stack's allowed origins",
                "responses": {"204": {"description": "Preflight granted"}},
                "security": [],
                "x-amazon-apigateway-integration": _integration(invoke_arn),
            }
            public.add("options")
        operations["x-amazon-apigateway-any-method"] = {
            "summary": "Any other method: the Lambda answers 405 with Allow",
            "responses": {"405": {"description": "Method not allowed"}},
            "security": security,
            "x-amazon-apigateway-integration": _integration(invoke_arn),
        }
        if iam_auth:
            for method, operation in operations.items():
                if method not in public:
                    operation["x-amazon-apigateway-auth"] = {"type": "AWS_IAM"}
    doc["x-amazon-apigateway-gateway-responses"] = gateway_responses(
        spec, iam_auth=iam_auth, authorizer=authorizer, allowed_origins=allowed_origins
    )
    return doc
