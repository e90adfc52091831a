"""Turn the repository's ``openapi.yaml`` into the API Gateway definition.

The body of an ``aws.apigateway.RestApi`` replaces the whole API, so everything API Gateway
needs lives here: the Lambda proxy integration, body validation, API-key security and gateway
responses that keep the service's JSON error shape.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from infra.settings import ROOT

OPENAPI_PATH = ROOT / "openapi.yaml"
API_KEY_SCHEME = "api_key"
# API Gateway's own refusals, in the service's {"error": {...}} shape.
GATEWAY_ERRORS = {
    "BAD_REQUEST_BODY": "invalid_field",
    "INVALID_API_KEY": "forbidden",
    "MISSING_AUTHENTICATION_TOKEN": "not_found",
    "THROTTLED": "throttled",
    "QUOTA_EXCEEDED": "quota_exceeded",
    "REQUEST_TOO_LARGE": "payload_too_large",
    "DEFAULT_4XX": "client_error",
    "DEFAULT_5XX": "gateway_error",
}


def _error_template(code: str) -> str:
    """A mapping template; ``messageString`` is already a quoted JSON string."""
    body = json.dumps({"error": {"code": code, "message": "MESSAGE"}})
    return body.replace('"MESSAGE"', "$context.error.messageString")


def load(path: Path = OPENAPI_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def api_gateway_definition(
    spec: dict[str, Any], *, invoke_arn: str, api_key_required: bool, title: str
) -> str:
    """The OpenAPI document with API Gateway extensions, as the JSON a RestApi body takes."""
    doc = copy.deepcopy(spec)
    doc["info"]["title"] = title
    doc["x-amazon-apigateway-api-key-source"] = "HEADER"
    doc["x-amazon-apigateway-request-validators"] = {
        "body": {"validateRequestBody": True, "validateRequestParameters": False},
        "params": {"validateRequestBody": False, "validateRequestParameters": True},
    }
    doc.setdefault("components", {})["securitySchemes"] = {
        API_KEY_SCHEME: {"type": "apiKey", "name": "x-api-key", "in": "header"},
    }
    for operations in doc["paths"].values():
        for method, operation in operations.items():
            operation["x-amazon-apigateway-integration"] = {
                "type": "aws_proxy",
                "httpMethod": "POST",  # Lambda proxy integrations are always invoked with POST
                "uri": invoke_arn,
                "passthroughBehavior": "when_no_match",
                "timeoutInMillis": 29000,
            }
            if method == "post":
                operation["x-amazon-apigateway-request-validator"] = "body"
            elif operation.get("parameters"):
                operation["x-amazon-apigateway-request-validator"] = "params"
            operation["security"] = [{API_KEY_SCHEME: []}] if api_key_required else []
    doc["x-amazon-apigateway-gateway-responses"] = {
        kind: {
            "responseParameters": {"gatewayresponse.header.Cache-Control": "'no-store'"},
            "responseTemplates": {"application/json": _error_template(code)},
        }
        for kind, code in GATEWAY_ERRORS.items()
    }
    return json.dumps(doc, sort_keys=True)
