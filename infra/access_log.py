"""The API stage's access-log format: one JSON object per request, whatever the values hold.

API Gateway substitutes ``$context`` variables as raw text, so a value with a quote or a backslash
would break a JSON line. Free text (the error message) is therefore logged only through its quoted
variable, ``$context.error.messageString`` ("The quoted value of $context.error.message",
https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-mapping-template-reference.html), placed unquoted in the template. Every other field
is a value API Gateway itself produces: an id, an IP address, an HTTP method token, a resource
path from our own API definition, a number or a gateway response type.
"""

from __future__ import annotations

import json

# Variables API Gateway substitutes as JSON string literals, quotes included.
QUOTED = {"error": "$context.error.messageString"}
# Variables whose values API Gateway produces from a closed set; logged inside quotes.
PLAIN = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "path": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "apiKeyId": "$context.identity.apiKeyId",
    # The key authorizer's "key-<16 hex digits>": which key called, though the key is not logged.
    "principalId": "$context.authorizer.principalId",
    "errorType": "$context.error.responseType",
}


def access_log_format() -> str:
    """The stage's ``access_log_settings.format``: a JSON template once variables are put in."""
    placeholders = {key: f"@{key}@" for key in QUOTED}
    template = json.dumps({**PLAIN, **placeholders})
    for key, variable in QUOTED.items():
        template = template.replace(json.dumps(placeholders[key]), variable)
    return template
