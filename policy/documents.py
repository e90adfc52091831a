"""Read the IAM and OpenAPI documents that resources carry as strings, and judge their parts.

Values may come from the engine as read-only proxies (``Mapping``/``Sequence``, not ``dict``/
``list``) and numbers as floats, so nothing here checks for concrete container types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

# OpenAPI operation keys; API Gateway adds its catch-all method.
HTTP_METHODS = frozenset(
    (
        *("get", "put", "post", "delete", "options", "head", "patch", "trace"),
        "x-amazon-apigateway-any-method",
    )
)
API_KEY_HEADER = "x-api-key"


def as_list(value: Any) -> list[Any]:
    """IAM and OpenAPI allow a single value where a list is meant (``"Action": "s3:*"``)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def load(document: Any) -> Mapping[str, Any]:
    """A policy or API body given as a JSON (or YAML) string, or already as an object.

    An unreadable document reads as empty: it grants nothing and proves nothing (a rule that
    needs a statement still reports its absence).
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            try:
                document = yaml.safe_load(document)
            except yaml.YAMLError:
                return {}
    return document if isinstance(document, Mapping) else {}


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return as_list(document.get("Statement"))


def statement_problems(statement: Mapping[str, Any]) -> list[str]:
    """Why an Allow statement grants more than named actions on named resources (X-Ray excepted:
    AWS offers no narrower resource for trace segments).

    Bedrock resources must be named outright: a wildcard in a model or inference-profile ARN
    (the shape of AWS's own inference-profile example policy) lets the function invoke any paid
    model, in any region, and AWS gives every one of them an exact ARN.
    """
    if statement.get("Effect") != "Allow":
        return []
    if "NotAction" in statement or "NotResource" in statement:
        return ["an Allow with NotAction/NotResource grants everything not listed"]
    actions = [str(a) for a in as_list(statement.get("Action"))]
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    problems = [f"wildcard action {a!r}" for a in actions if "*" in a]
    if "*" in resources and not all(a.lower().startswith("xray:") for a in actions):
        problems.append(f"Resource '*' for {', '.join(actions)} (only X-Ray may use it)")
    problems += [
        f"wildcard Bedrock resource {r!r}: name each model and inference profile"
        for r in resources
        if r.startswith("arn:") and r.split(":")[2:3] == ["bedrock"] and "*" in r
    ]
    return problems


def _lower_keys(mapping: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, Mapping) else {}


def is_tls_deny(statement: Mapping[str, Any]) -> bool:
    """Denies every S3 action to everyone over plain HTTP, on the bucket and its objects."""
    principal = statement.get("Principal")
    everyone = principal == "*" or "*" in as_list(_lower_keys(principal).get("aws"))
    bool_conditions = _lower_keys(_lower_keys(statement.get("Condition")).get("bool"))
    insecure = [str(v).lower() for v in as_list(bool_conditions.get("aws:securetransport"))]
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    return (
        statement.get("Effect") == "Deny"
        and everyone
        and any(a in ("*", "s3:*") for a in as_list(statement.get("Action")))
        and insecure == ["false"]
        and any(r == "*" or r.endswith("/*") for r in resources)
        and any(r == "*" or "/" not in r for r in resources)
    )


def _protects(scheme: Any) -> bool:
    """An API Gateway API key, an IAM (SigV4) scheme, or a Lambda/Cognito (JWT) authorizer."""
    if not isinstance(scheme, Mapping):
        return False
    if "x-amazon-apigateway-authorizer" in scheme:
        return True
    if str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
        return True
    return (
        scheme.get("type") == "apiKey"
        and scheme.get("in") == "header"
        and str(scheme.get("name", "")).lower() == API_KEY_HEADER
    )


def _guarded(operation: Mapping[str, Any], schemes: Mapping[str, Any]) -> bool:
    """Every alternative in the operation's ``security`` includes a protecting scheme.

    Only the operation's own ``security`` counts: API Gateway's import reads it per method, and
    ``security: []`` (or an empty alternative ``{}``) means anyone may call.
    """
    auth = operation.get("x-amazon-apigateway-auth")
    if isinstance(auth, Mapping) and str(auth.get("type", "")).upper() == "AWS_IAM":
        return True
    alternatives = as_list(operation.get("security"))
    return bool(alternatives) and all(
        any(_protects(schemes.get(name)) for name in alternative) for alternative in alternatives
    )


# Public by design: the playground page (static HTML, no data; it asks for the key itself and
# sends it with the API calls, which stay guarded). Any other open method is a violation.
PUBLIC_PAGES = frozenset({"GET /"})


def unguarded_methods(spec: Mapping[str, Any]) -> list[str]:
    """``METHOD /path`` of every operation with a real (non-mock) integration that anyone may
    call: no API key, no IAM auth, no authorizer (``PUBLIC_PAGES`` and CORS preflights apart)."""
    schemes = {
        **(spec.get("securityDefinitions") or {}),
        **((spec.get("components") or {}).get("securitySchemes") or {}),
    }
    found = []
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if method.lower() not in HTTP_METHODS or not isinstance(operation, Mapping):
                continue
            integration = operation.get("x-amazon-apigateway-integration")
            if not isinstance(integration, Mapping):
                continue
            if str(integration.get("type", "")).lower() == "mock":
                continue
            name = "ANY" if method.startswith("x-") else method.upper()
            if name == "OPTIONS":  # CORS preflights come without credentials (Fetch standard)
                continue
            if not _guarded(operation, schemes) and f"{name} {path}" not in PUBLIC_PAGES:
                found.append(f"{name} {path}")
    return found
