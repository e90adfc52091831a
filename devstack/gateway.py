"""A local REST gateway that behaves like API Gateway in front of the Lambda.

It reads the definition infra deploys (``api_gateway.definition``) and does what API Gateway
does with it, before the real ``lambda_handler`` sees a proxy event:
- routes and methods from the document (``x-amazon-apigateway-any-method`` included); anything
  else is the ``MISSING_AUTHENTICATION_TOKEN`` gateway response;
- the operation's security: a Lambda authorizer (the real ``service.authorizer.handler``) called
  with a REQUEST authorizer event [8] - ``Exception("Unauthorized")`` is ``UNAUTHORIZED`` (401),
  any other failure or an answer that is not a valid authorizer output [9] is
  ``AUTHORIZER_CONFIGURATION_ERROR`` (500), a policy that does not allow the method is
  ``ACCESS_DENIED`` (403) [10] - then the API key, from ``x-api-key`` or the authorizer's
  ``usageIdentifierKey`` per the API's key source [11], checked against the stage's keys
  (``INVALID_API_KEY``, 403);
- bodies whose ``Content-Type`` is one of the API's binary media types reach the Lambda
  base64-encoded with ``isBase64Encoded: true`` [12];
- the request validators the operation names: required query parameters present and not blank
  (``BAD_REQUEST_PARAMETERS``), bodies against the method's JSON schema for the request's content
  type, skipped when no content type matches (``BAD_REQUEST_BODY``) [1];
- 10 MB payloads (``REQUEST_TOO_LARGE``) [2], a 29 s integration timeout (``INTEGRATION_TIMEOUT``)
  [2], and Lambda's 6 MB limits [3]: on the invocation payload, the whole proxy event, which Lambda
  refuses and API Gateway then answers ``REQUEST_TOO_LARGE`` [6], so the handler never sees it; and
  on the response, where a Lambda answer that is too large or not a valid proxy response is a 502
  "Internal server error" [4];
- every refusal is the definition's gateway response, rendered by simple variable substitution
  as API Gateway does [5], its headers literals or request headers (``method.request.header.*``,
  left out when the request has none) [14], except ``REQUEST_TOO_LARGE``, which API Gateway does
  not let an API customize [7]; only JSON comes back.
HTTP framing is strict: conflicting or invalid ``Content-Length`` is a 400, ``Transfer-Encoding:
chunked`` is decoded (any other coding is a 400), a refused body is never read as a next request
(the connection closes), and a client that stalls is cut off.

It also answers ``GET /health`` and ``GET /openapi.yaml``, which exist only locally.

[1] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html
[2] https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
[3] https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
[4] https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
[5] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseTemplates.html
[6] Not documented; seen from a REST API with a Lambda proxy integration: 413 and
    ``{"message": "Request Too Long"}`` (https://github.com/koki-develop/lgtm-generator/issues/10),
    as AWS's own emulator answers (aws/aws-lambda-dotnet, Tools/LambdaTestTool-v2,
    ``InvokeResponseExtensions.ToHttpApiRequestTooLargeResponse``, pull request 1990). Default
    status 413: https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
[7] API Gateway's known issues for REST APIs: customizing the 413 REQUEST_TOO_LARGE gateway
    response is not supported, https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html
    (read as quoted in https://zenn.dev/august/articles/67c76de854cb6d; English text unverified)
[8] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
[9] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
    (principalId and policyDocument required; context values are strings, numbers or booleans).
    Which response type a failed authorizer gets is not documented per case; answers seen from
    REST APIs: a function error or malformed output is 500 with ``x-amzn-ErrorType:
    AuthorizerConfigurationException``, hence ``AUTHORIZER_CONFIGURATION_ERROR``.
[10] https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
    (ACCESS_DENIED: "access is denied by a custom or Amazon Cognito authorizer"); a matching Deny
    wins over an Allow, and no matching Allow is a denial, as in IAM policy evaluation
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
[11] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html
[12] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings-workflow.html
    ("Binary data | A binary data type | Set with matching media types" passes as binary, which
    a Lambda proxy integration receives base64-encoded);
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html
    (``*`` covers several media types).
[13] INCOMPLETE_SIGNATURE, "the gateway response for an incomplete signature error"
    (supported-gateway-response-types.html, as [10]); seen from REST APIs when a bearer token
    reaches a path with no method: 403 "'<token>' not a valid key=value pair (missing
    equal-sign) in Authorization header" (https://github.com/HumanCellAtlas/data-store/issues/328,
    https://github.com/cowinapi/developer.cowin/issues/129); newer answers hash the token. Not
    documented beyond that.
[14] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseParameters.html
    and https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-parameter-mapping.html
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from api_gateway import definition
from devstack.background import BackgroundHTTPServer
from devstack.request_schema import validation_errors
from service import authorizer as key_authorizer

OPENAPI_PATH = definition.OPENAPI_PATH
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # [2]
LAMBDA_MAX_REQUEST = 6 * 1024 * 1024  # [3] the invocation payload: the event's JSON
LAMBDA_MAX_RESPONSE = 6 * 1024 * 1024  # [3]
CLIENT_TIMEOUT_SECONDS = 10.0  # a client that sends nothing for this long is cut off
LOCAL_ONLY = {"/health", "/openapi.yaml"}
# What stands for this API's execute-api ARN (arn:aws:execute-api:{region}:{account}:{api-id})
# in the methodArn a local authorizer is given; the stage is "local", as in requestContext.
LOCAL_API_ARN = "arn:aws:execute-api:local:000000000000:local"
LOCAL_STAGE = "local"
AUTHORIZER_TIMEOUT_SECONDS = 3.0  # the context's remaining time; infra gives the function 3 s
Handler = Callable[[dict, object], dict]


class LambdaContext:
    """The parts of the Lambda context object the handler uses."""

    def __init__(self, timeout_seconds: float, function_name: str = "imagegen-local") -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class GatewayRefusal(Exception):
    """API Gateway answers itself with the gateway response of ``kind``."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def to_event(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    resource: str | None = None,
    *,
    binary: bool = False,
    path_parameters: dict[str, str] | None = None,
    repeated: list[tuple[str, str]] | None = None,
) -> dict:
    """Build the API Gateway REST proxy event for one HTTP request; a ``binary`` body (its
    content type is one of the API's binary media types [12]) is always base64-encoded.
    ``repeated`` is every header line as sent: ``headers`` keeps the last value of a repeated
    header, ``multiValueHeaders`` all of them, as API Gateway builds them [4]."""
    url = urlsplit(target)
    pairs = parse_qsl(url.query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    text, is_b64 = _event_body(body, binary)
    forwarded = _forwarded(headers, source_ip)
    multi_headers: dict[str, list[str]] = {}
    for name, value in [*(repeated or headers.items()), *forwarded.items()]:
        multi_headers.setdefault(name, []).append(value)
    for name in forwarded:
        multi_headers[name] = [forwarded[name]]
    headers = {**headers, **forwarded}
    return {
        "resource": resource or url.path,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": is_b64,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": LOCAL_STAGE,
            "httpMethod": method,
            # The local API is served at the root, not under /<stage>/ as an execute-api URL.
            "path": url.path,
            "identity": {"sourceIp": source_ip},
        },
    }


def _forwarded(headers: dict[str, str], source_ip: str) -> dict[str, str]:
    """The X-Forwarded-* headers API Gateway adds to what a Lambda proxy integration receives
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html)."""
    earlier = _header(headers, "x-forwarded-for")
    return {
        "X-Forwarded-For": f"{earlier}, {source_ip}" if earlier else source_ip,
        "X-Forwarded-Proto": "http",
    }


def _match(resource: str, path: str) -> dict[str, str] | None:
    """The path parameters if ``path`` is an instance of ``resource``, else None."""
    templates, parts = resource.split("/"), path.split("/")
    if len(templates) != len(parts):
        return None
    parameters = {}
    for template, part in zip(templates, parts, strict=True):
        if template.startswith("{") and template.endswith("}"):
            if not part:
                return None
            parameters[template[1:-1]] = unquote(part)
        elif template != part:
            return None
    return parameters


def _event_body(body: bytes, binary: bool) -> tuple[str | None, bool]:
    """The event's ``body`` and ``isBase64Encoded``: text as it is, binary media types and bytes
    that are not UTF-8 base64-encoded."""
    if not body:
        return None, False
    if not binary:
        with contextlib.suppress(UnicodeDecodeError):
            return body.decode("utf-8"), False
    return base64.b64encode(body).decode(), True


def authorizer_event(proxy_event: dict) -> dict:
    """The REQUEST authorizer event for a request [8]: its proxy event without the body, plus
    ``type`` and the ``methodArn`` of the method called."""
    event = {k: v for k, v in proxy_event.items() if k not in ("body", "isBase64Encoded")}
    path, method = proxy_event["path"], proxy_event["httpMethod"]
    context = proxy_event["requestContext"]
    return {
        "type": "REQUEST",
        "methodArn": f"{LOCAL_API_ARN}/{context['stage']}/{method}{path}",
        **event,
        "requestContext": {**context, "resourcePath": proxy_event["resource"]},
    }


def invocation_payload(event: dict) -> bytes:
    """The event as Lambda receives it, what its 6 MB request limit measures. How API Gateway
    serializes the event is not documented: compact UTF-8 JSON is the smallest it can be, so no
    event AWS would take is refused here."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


class ApiDefinition:
    """The deployed API document, asked the questions API Gateway asks of it."""

    def __init__(
        self,
        doc: dict[str, Any],
        api_keys: tuple[str, ...],
        authorizer: Handler = key_authorizer.handler,
    ) -> None:
        """``authorizer`` is the function behind the document's Lambda authorizer, if any."""
        self.doc = doc
        self.api_keys = api_keys
        self.authorizer = authorizer
        self.responses = doc.get("x-amazon-apigateway-gateway-responses", {})
        self.validators = doc.get("x-amazon-apigateway-request-validators", {})
        self.schemes = doc.get("components", {}).get("securitySchemes", {})
        self.key_source = doc.get("x-amazon-apigateway-api-key-source", "HEADER")
        self.binary_media_types = doc.get("x-amazon-apigateway-binary-media-types", [])

    def operation(
        self, path: str, method: str, headers: dict[str, str]
    ) -> tuple[str, dict, dict[str, str] | None]:
        """The resource, operation and path parameters for ``method path`` (``/jobs/{id}``
        matches one non-empty segment), or the 'no such route' refusal: API Gateway reads an
        ``Authorization`` header there as a SigV4 signature, and one that is not (a bearer
        token) is ``INCOMPLETE_SIGNATURE`` instead [13]."""
        for resource, operations in self.doc["paths"].items():
            parameters = _match(resource, path)
            if parameters is None:
                continue
            found = operations.get(method.lower()) or operations.get(
                "x-amazon-apigateway-any-method"
            )
            if found is not None:
                return resource, found, parameters or None
        authorization = _header(headers, "authorization")
        if authorization is not None and not authorization.startswith("AWS4-HMAC-SHA256 "):
            raise GatewayRefusal(
                "INCOMPLETE_SIGNATURE",
                "not a valid key=value pair (missing equal-sign) in Authorization header",
            )
        raise GatewayRefusal("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")

    def authorize(self, operation: dict, event: dict) -> dict | None:
        """Run the operation's security for the proxy ``event``: its Lambda authorizer, then its
        API key [8]-[11]. Returns what the Lambda sees as ``requestContext.authorizer``."""
        names = {name for requirement in operation.get("security") or [] for name in requirement}
        schemes = [self.schemes.get(name, {}) for name in sorted(names)]
        found = None
        if any("x-amazon-apigateway-authorizer" in scheme for scheme in schemes):
            found = self._run_authorizer(authorizer_event(event))
        if any(_is_api_key(scheme) for scheme in schemes):
            if self.key_source == "AUTHORIZER":
                given = (found or {}).get("usageIdentifierKey") or ""
            else:
                given = _header(event["headers"], definition.API_KEY_HEADER) or ""
            if not any(hmac.compare_digest(given.encode(), k.encode()) for k in self.api_keys):
                raise GatewayRefusal("INVALID_API_KEY", "Forbidden")
        if found is None:
            return None
        return {"principalId": found["principalId"], **(found.get("context") or {})}

    def _run_authorizer(self, event: dict) -> dict:
        """The authorizer's output for ``event`` if its policy allows the method [9][10]."""
        try:
            output = self.authorizer(
                event, LambdaContext(AUTHORIZER_TIMEOUT_SECONDS, "imagegen-local-authorizer")
            )
        except Exception as exc:
            if str(exc) == key_authorizer.UNAUTHORIZED:
                raise GatewayRefusal("UNAUTHORIZED", "Unauthorized") from None
            raise GatewayRefusal("AUTHORIZER_CONFIGURATION_ERROR", "null") from None
        statements = _authorizer_statements(output)
        if statements is None:
            raise GatewayRefusal("AUTHORIZER_CONFIGURATION_ERROR", "null")
        effects = {s["Effect"] for s in statements if _applies(s, event["methodArn"])}
        if "Deny" in effects:
            raise GatewayRefusal(
                "ACCESS_DENIED",
                "User is not authorized to access this resource with an explicit deny",
            )
        if "Allow" not in effects:
            raise GatewayRefusal("ACCESS_DENIED", "User is not authorized to access this resource")
        return output

    def is_binary(self, headers: dict[str, str]) -> bool:
        """The request's media type is one of the API's binary media types [12]."""
        media = (_header(headers, "content-type") or "").split(";")[0].strip().lower()
        return bool(media) and any(
            _wildcard(pattern.lower()).fullmatch(media) for pattern in self.binary_media_types
        )

    def validate(self, operation: dict, query: list[tuple[str, str]], headers, body: bytes):
        validator = self.validators.get(operation.get("x-amazon-apigateway-request-validator"))
        if not validator:
            return
        if validator.get("validateRequestParameters"):
            given = {k for k, v in query if v.strip()}
            missing = [
                p["name"]
                for p in operation.get("parameters", [])
                if p.get("required") and p.get("in") == "query" and p["name"] not in given
            ]
            if missing:
                raise GatewayRefusal(
                    "BAD_REQUEST_PARAMETERS",
                    f"Missing required request parameters: [{', '.join(missing)}]",
                )
        if validator.get("validateRequestBody"):
            content_type = (_header(headers, "content-type") or "application/json").split(";")[0]
            content = operation.get("requestBody", {}).get("content", {})
            media = content.get(content_type.strip().lower()) or content.get("$default")
            if media is None:  # no model for this content type: no validation [1]
                return
            errors = validation_errors(media["schema"], self.doc, body)
            if errors:
                raise GatewayRefusal("BAD_REQUEST_BODY", "Invalid request body")

    def render(
        self, refusal: GatewayRefusal, request_id: str, request_headers: dict[str, str]
    ) -> tuple[int, bytes, dict]:
        """The gateway response for ``refusal``, as API Gateway renders it [5][14]."""
        response = self._response(refusal)
        status = refusal.status or int(response.get("statusCode", _DEFAULT_STATUS[refusal.kind]))
        template = response.get("responseTemplates", {}).get(
            "application/json", '{"message": $context.error.messageString}'
        )
        body = (
            template.replace("$context.error.messageString", json.dumps(refusal.message))
            .replace("$context.error.message", refusal.message)
            .replace("$context.error.responseType", refusal.kind)
            .replace("$context.requestId", request_id)
        )
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        for name, value in response.get("responseParameters", {}).items():
            if value.startswith("method.request.header."):
                value = _header(request_headers, value.removeprefix("method.request.header."))
                if value is None:
                    continue
            headers[name.removeprefix("gatewayresponse.header.")] = value.strip("'")
        return status, body.encode(), headers

    def _response(self, refusal: GatewayRefusal) -> dict:
        """The definition's response for the refusal's type, else for its status family; none
        where API Gateway ignores the definition [7]."""
        if refusal.kind in _NOT_CUSTOMIZABLE:
            return {}
        status = refusal.status or _DEFAULT_STATUS.get(refusal.kind, 400)
        family = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        return self.responses.get(refusal.kind) or self.responses.get(family, {})


# API Gateway's own statuses for the response types the local gateway can raise.
_DEFAULT_STATUS = {
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "INCOMPLETE_SIGNATURE": 403,
    "INVALID_API_KEY": 403,
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "AUTHORIZER_FAILURE": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "REQUEST_TOO_LARGE": 413,
    "INTEGRATION_TIMEOUT": 504,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 502,
}
# Response types API Gateway answers with its own default whatever the definition says [7].
_NOT_CUSTOMIZABLE = frozenset({"REQUEST_TOO_LARGE"})
_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²"
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})(;[^\r\n]*)?\r\n")


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _is_api_key(scheme: dict) -> bool:
    """The scheme that makes a method require an API key (not an authorizer's scheme)."""
    return (
        scheme.get("type") == "apiKey"
        and "x-amazon-apigateway-authorizer" not in scheme
        and str(scheme.get("name", "")).lower() == definition.API_KEY_HEADER
    )


def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters, ``?`` one; nothing else is special (IAM's and
    binaryMediaTypes' wildcards)."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
        re.DOTALL,
    )


def _authorizer_statements(output: Any) -> list[dict] | None:
    """The policy statements of a valid authorizer output [9], else None."""
    if not isinstance(output, dict) or not isinstance(output.get("principalId"), str):
        return None
    context = output.get("context") or {}
    if not isinstance(context, dict) or not all(
        isinstance(v, str | int | float | bool) for v in context.values()
    ):
        return None
    key = output.get("usageIdentifierKey")
    policy = output.get("policyDocument")
    if (key is not None and not isinstance(key, str)) or not isinstance(policy, dict):
        return None
    statements = policy.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not all(
        isinstance(s, dict) and s.get("Effect") in ("Allow", "Deny") for s in statements
    ):
        return None
    return statements


def _applies(statement: dict, method_arn: str) -> bool:
    """The statement covers ``execute-api:Invoke`` on ``method_arn`` (actions compare without
    case, resources with case, both with wildcards)."""

    def listed(value: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        return [v for v in values if isinstance(v, str)]

    action = any(
        _wildcard(a.lower()).fullmatch("execute-api:invoke")
        for a in listed(statement.get("Action"))
    )
    return action and any(
        _wildcard(r).fullmatch(method_arn) for r in listed(statement.get("Resource"))
    )


def _proxy_response(result: Any) -> tuple[int, bytes, dict[str, str]]:
    """Check the Lambda's answer the way a proxy integration does; 502 if it is malformed [4]."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502)
    headers = result.get("headers") or {}
    body = result.get("body") or ""
    if not isinstance(headers, dict) or not isinstance(body, str):
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502)
    if len(json.dumps(result)) > LAMBDA_MAX_RESPONSE:
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502)
    try:
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    except (binascii.Error, ValueError):
        raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502) from None
    return result["statusCode"], payload, {str(k): str(v) for k, v in headers.items()}


class GatewayServer(BackgroundHTTPServer):
    """Threaded HTTP server that invokes ``handler`` per request; start(), then stop()."""

    thread_name = "gateway"

    def __init__(
        self,
        handler: Handler,
        health: Callable[[], dict],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timeout_seconds: float = 29.0,
        api_keys: tuple[str, ...] = (),
        client_timeout_seconds: float = CLIENT_TIMEOUT_SECONDS,
        authorizer: Handler = key_authorizer.handler,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        """``timeout_seconds`` is the Lambda's own timeout; the integration's comes from the
        definition. With ``api_keys`` every method goes through ``authorizer`` (the deployed
        one unless a test swaps it) and needs one of the keys, as a stage with API keys does.
        ``allowed_origins`` are the stack's, as the deployed definition gets them."""
        self.handler = handler
        self.health = health
        self.timeout_seconds = timeout_seconds
        self.client_timeout_seconds = client_timeout_seconds
        self.api = ApiDefinition(
            definition.api_gateway_definition(
                definition.load(),
                invoke_arn="local",
                api_key_required=bool(api_keys),
                title="imagegen-local",
                authorizer_uri="local",
                allowed_origins=allowed_origins,
            ),
            tuple(api_keys),
            authorizer,
        )
        self._lambdas = ThreadPoolExecutor(64, thread_name_prefix="lambda")
        super().__init__(host, port)

    def stop(self) -> None:
        super().stop()
        self._lambdas.shutdown(wait=True, cancel_futures=True)

    def invoke(self, operation: dict, event: dict) -> tuple[int, bytes, dict[str, str]]:
        """Run the Lambda with the operation's integration timeout; an event over Lambda's request
        limit is refused before it reaches the Lambda, as Lambda refuses it [3][6]."""
        if len(invocation_payload(event)) > LAMBDA_MAX_REQUEST:
            raise GatewayRefusal("REQUEST_TOO_LARGE", "Request Too Long")
        integration = operation["x-amazon-apigateway-integration"]
        future = self._lambdas.submit(self.handler, event, LambdaContext(self.timeout_seconds))
        try:
            result = future.result(timeout=integration["timeoutInMillis"] / 1000)
        except FutureTimeout:
            raise GatewayRefusal("INTEGRATION_TIMEOUT", "Endpoint request timed out") from None
        except Exception:  # the function failed: API Gateway answers 502 [4]
            raise GatewayRefusal("DEFAULT_5XX", "Internal server error", 502) from None
        return _proxy_response(result)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = gateway.client_timeout_seconds  # socket timeout for every read

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                try:
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client left: not our error
                    self.close_connection = True

            def send_error(self, code: int, message: str | None = None, explain=None) -> None:
                """http.server's own refusals (a bad request line, headers over 64 KiB, another
                HTTP version) as JSON gateway responses, never its HTML page."""
                self.close_connection = True
                self.request_version = self.protocol_version  # unparsed: answer with headers
                kind = "DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX"
                text = message or HTTPStatus(code).phrase
                refusal = GatewayRefusal(kind, text, code)
                parsed = getattr(self, "headers", None) or {}  # none before the request line
                self._send(*gateway.api.render(refusal, str(uuid.uuid4()), dict(parsed)))

            def _json(self, status: int, payload: dict) -> None:
                self._send(
                    status, json.dumps(payload).encode(), {"Content-Type": "application/json"}
                )

            def _read_chunked(self) -> bytes:
                body = bytearray()
                while True:
                    match = _CHUNK_SIZE.fullmatch(self.rfile.readline(1024))
                    if not match:
                        raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                    size = int(match.group(1), 16)
                    if len(body) + size > API_GATEWAY_MAX_BODY:
                        raise GatewayRefusal("REQUEST_TOO_LARGE", "Request Too Long")
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass  # trailers are not passed on
                        return bytes(body)
                    body += self.rfile.read(size)
                    if self.rfile.read(2) != b"\r\n":
                        raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)

            def _read_body(self) -> bytes:
                """The request body per RFC 9112 section 6; refusals close the connection."""
                lengths = self.headers.get_all("Content-Length") or []
                coding = self.headers.get_all("Transfer-Encoding") or []
                if coding:
                    if lengths or [c.strip().lower() for c in coding] != ["chunked"]:
                        raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                    return self._read_chunked()
                if not lengths:
                    return b""
                values = {v.strip() for v in ",".join(lengths).split(",")}
                if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                    raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                length = int(values.pop())
                if length > API_GATEWAY_MAX_BODY:
                    raise GatewayRefusal("REQUEST_TOO_LARGE", "Request Too Long")
                body = self.rfile.read(length)
                if len(body) < length:  # the client went away mid-body
                    raise GatewayRefusal("DEFAULT_4XX", "Bad Request", 400)
                return body

            def _local(self, path: str) -> bool:
                if self.command == "GET" and path == "/health":
                    self._json(200, gateway.health())
                elif self.command == "GET" and path == "/openapi.yaml":
                    self._send(200, OPENAPI_PATH.read_bytes(), {"Content-Type": "application/yaml"})
                else:
                    return False
                return True

            def _dispatch(self) -> None:
                request_id = str(uuid.uuid4())
                url = urlsplit(self.path)
                body_read = False
                try:
                    if url.path in LOCAL_ONLY and self.command == "GET":
                        self._read_body()  # a GET body is never parsed as a next request
                        body_read = True
                        if self._local(url.path):
                            return
                    repeated = list(self.headers.items())
                    headers = dict(repeated)
                    resource, operation, parameters = gateway.api.operation(
                        url.path, self.command, headers
                    )
                    source_ip = self.client_address[0]
                    bare = to_event(
                        self.command,
                        self.path,
                        headers,
                        b"",
                        source_ip,
                        resource,
                        path_parameters=parameters,
                        repeated=repeated,
                    )
                    bare["requestContext"]["requestId"] = request_id
                    authorized = gateway.api.authorize(operation, bare)
                    body = self._read_body()
                    body_read = True
                    query = parse_qsl(url.query, keep_blank_values=True)
                    gateway.api.validate(operation, query, headers, body)
                    event = to_event(
                        self.command,
                        self.path,
                        headers,
                        body,
                        source_ip,
                        resource,
                        binary=gateway.api.is_binary(headers),
                        path_parameters=parameters,
                        repeated=repeated,
                    )
                    event["requestContext"]["requestId"] = request_id
                    if authorized is not None:
                        event["requestContext"]["authorizer"] = authorized
                    self._send(*gateway.invoke(operation, event))
                except GatewayRefusal as refusal:
                    if not body_read:  # an unread body must not be parsed as a next request
                        self.close_connection = True
                    self._send(*gateway.api.render(refusal, request_id, dict(self.headers)))
                except TimeoutError:  # the client stalled mid-request
                    self.close_connection = True

            def __getattr__(self, name: str):
                """Every method, even unknown ones, is routed like API Gateway routes it."""
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        return Handler
