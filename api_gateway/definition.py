"""Turn the API contract, ``openapi.yaml`` beside this module, into the API Gateway definition.

infra deploys this document as the body of an ``aws.apigateway.RestApi``; the local gateway
(``devstack.gateway``) reads the very same document and behaves as API Gateway does with it, so
routes, validators, API-key security and gateway responses cannot drift apart.

Choices, with the documentation they rest on:
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
- Gateway responses answer in the service's ``{"error": {"code", "message"}}`` shape; unknown
  routes are 404 ``not_found`` (API Gateway's default for them is 403). With IAM authorization
  an unsigned request to a real route gets the same response type, so it stays 403.
- Parameters keep only what API Gateway reads ("For input parameters, only the following
  attributes are supported: name, in, required, type, description. Other attributes are
  ignored", https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-known-issues.html); ``openapi.yaml`` keeps the full contract for clients.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
API_KEY_SCHEME = "api_key"
API_KEY_HEADER = "x-api-key"
INTEGRATION_TIMEOUT_MS = 29000
# API Gateway's own refusals: response type -> (status, the service's error code). Not
# REQUEST_TOO_LARGE: API Gateway's known issues say its 413 cannot be customized (it answers
# {"message": "Request Too Long"}), so a template for it would only mislead.
GATEWAY_ERRORS = {
    "BAD_REQUEST_BODY": (400, "invalid_field"),
    "BAD_REQUEST_PARAMETERS": (400, "invalid_field"),
    "INVALID_API_KEY": (403, "forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found"),
    "THROTTLED": (429, "throttled"),
    "QUOTA_EXCEEDED": (429, "quota_exceeded"),
    "INTEGRATION_TIMEOUT": (504, "gateway_timeout"),
    "DEFAULT_4XX": (None, "client_error"),
    "DEFAULT_5XX": (None, "gateway_error"),
}


def _error_template(code: str, message: str | None = None) -> str:
    """A gateway response template: a fixed ``message``, or API Gateway's own (its
    ``messageString`` is already a quoted JSON string)."""
    if message is not None:
        return json.dumps({"error": {"code": code, "message": message}})
    body = json.dumps({"error": {"code": code, "message": "MESSAGE"}})
    return body.replace('"MESSAGE"', "$context.error.messageString")


def _routes(spec: dict[str, Any]) -> str:
    return ", ".join(
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
        if not method.startswith("x-")
    )


def gateway_responses(spec: dict[str, Any], *, iam_auth: bool = False) -> dict[str, Any]:
    # API Gateway says "Missing Authentication Token" for an unknown path, which reads like a
    # key problem; without IAM auth the answer can say what is really wrong. With IAM auth the
    # same response type also means "not signed", so it stays 403 and names both causes.
    errors = dict(GATEWAY_ERRORS)
    messages = {"MISSING_AUTHENTICATION_TOKEN": f"no such route; this API serves {_routes(spec)}"}
    if iam_auth:
        errors["MISSING_AUTHENTICATION_TOKEN"] = (403, "forbidden")
        messages["MISSING_AUTHENTICATION_TOKEN"] = (
            f"the request is not SigV4-signed, or there is no such route; this API serves"
            f" {_routes(spec)}"
        )
    responses = {}
    for kind, (status, code) in errors.items():
        response: dict[str, Any] = {
            "responseParameters": {"gatewayresponse.header.Cache-Control": "'no-store'"},
            "responseTemplates": {"application/json": _error_template(code, messages.get(kind))},
        }
        if status is not None:
            response["statusCode"] = str(status)
        responses[kind] = response
    return responses


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


def api_gateway_definition(
    spec: dict[str, Any],
    *,
    invoke_arn: str,
    api_key_required: bool,
    title: str,
    iam_auth: bool = False,
) -> dict[str, Any]:
    """The OpenAPI document with API Gateway extensions (a RestApi body, once JSON-encoded).

    ``iam_auth`` makes every method require a SigV4 signature (``x-amazon-apigateway-auth``
    ``AWS_IAM``); it can be combined with the API key, which then only meters usage.
    """
    doc = copy.deepcopy(spec)
    doc["info"]["title"] = title
    doc["x-amazon-apigateway-api-key-source"] = "HEADER"
    doc["x-amazon-apigateway-request-validators"] = {
        "params": {"validateRequestBody": False, "validateRequestParameters": True},
    }
    doc.setdefault("components", {})["securitySchemes"] = {
        API_KEY_SCHEME: {"type": "apiKey", "name": API_KEY_HEADER, "in": "header"},
    }
    security = [{API_KEY_SCHEME: []}] if api_key_required else []
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["x-amazon-apigateway-integration"] = _integration(invoke_arn)
            if operation.get("parameters"):
                operation["parameters"] = [_gateway_parameter(p) for p in operation["parameters"]]
                operation["x-amazon-apigateway-request-validator"] = "params"
            operation["security"] = security
        operations["x-amazon-apigateway-any-method"] = {
            "summary": "Any other method: the Lambda answers 405 with Allow",
            "responses": {"405": {"description": "Method not allowed"}},
            "security": security,
            "x-amazon-apigateway-integration": _integration(invoke_arn),
        }
        if iam_auth:
            for operation in operations.values():
                operation["x-amazon-apigateway-auth"] = {"type": "AWS_IAM"}
    doc["x-amazon-apigateway-gateway-responses"] = gateway_responses(spec, iam_auth=iam_auth)
    return doc
