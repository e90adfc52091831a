"""Every access-log line is JSON, whatever the request and API Gateway's error message hold.

``render`` substitutes ``$context`` variables the way API Gateway does: plain variables as raw
text, the ``...String`` variables as JSON string literals ("The quoted value of
$context.error.message", API Gateway's variable reference). Values API Gateway produces itself
take their worst legal form; any other variable is treated as free text, so a new field that
could carry a caller's or an error's text fails here until it is logged quoted.
"""

import json
import re

import pytest

from infra.access_log import access_log_format
from tests.infra.conftest import StackRun

HOSTILE = [
    'he said "stop"',
    "C:\\path\\",
    "two\nlines\r\n",
    '"}, {"injected": true, "x": "',
    "tab\tand \u2028 and \u0000 and é",
]
# What API Gateway itself puts in these variables, at its least tidy: ids, numbers, an IP, an HTTP
# method token (RFC 9110 tchar), a resource path from our definition, "-" when unset.
PRODUCED_BY_API_GATEWAY = {
    "$context.requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "$context.identity.sourceIp": "2001:db8::1",
    "$context.httpMethod": "!#$%&'*+-.^_`|~",
    "$context.resourcePath": "/images/url",
    "$context.status": "504",
    "$context.responseLatency": "29001",
    "$context.integrationLatency": "-",
    "$context.identity.apiKeyId": "-",
    "$context.authorizer.principalId": "key-0123456789abcdef",  # service.authorizer's name
    "$context.error.responseType": "INTEGRATION_TIMEOUT",
}
VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]*[A-Za-z0-9_]")


def render(template: str, free_text: str) -> str:
    def value(match: re.Match) -> str:
        name = match.group(0)
        if name.endswith("String"):
            return json.dumps(free_text)
        return PRODUCED_BY_API_GATEWAY.get(name, free_text)

    return VARIABLE.sub(value, template)


def test_the_format_is_one_line_with_the_request_id():
    template = access_log_format()
    assert "\n" not in template and "$context.requestId" in template


def test_every_line_is_json_whatever_the_error_message_holds():
    template = access_log_format()
    lines = "\n".join(render(template, text) for text in HOSTILE).split("\n")
    assert len(lines) == len(HOSTILE)
    entries = [json.loads(line) for line in lines]
    assert [entry["error"] for entry in entries] == HOSTILE
    assert all(
        entry["requestId"] == PRODUCED_BY_API_GATEWAY["$context.requestId"] for entry in entries
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_the_stage_uses_this_format(run: StackRun, text):
    template = run.one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]["format"]
    assert template == access_log_format()
    assert json.loads(render(template, text))["status"] == "504"
