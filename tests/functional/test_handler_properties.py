"""Property-based: whatever event or body arrives, the handler answers JSON and never a 5xx."""

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from service.errors import ImageGenError
from service.handler import handle, parse_json_body
from service.validation import FIELDS
from tests.conftest import lambda_context

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
request_bodies = st.dictionaries(
    st.sampled_from([*FIELDS, "extra"]),
    json_values
    | st.integers(0, 5000)
    | st.sampled_from(["16:9", "1:1", "png", "jpeg", "stable-image-core", "sdxl"]),
    max_size=6,
)
events = st.fixed_dictionaries(
    {
        "resource": st.sampled_from(["/images", "/models", "/nope", "", None]),
        "httpMethod": st.sampled_from(["POST", "GET", "PUT", None, ""]),
        "headers": st.none()
        | st.dictionaries(
            st.sampled_from(["Content-Type", "content-type", "X-Other"]),
            st.sampled_from(["application/json", "text/plain", "APPLICATION/JSON; charset=x", ""]),
        ),
        "body": st.none() | st.text() | request_bodies.map(json.dumps),
        "isBase64Encoded": st.booleans() | st.none(),
    }
)


def answer(event, stack) -> tuple[int, dict]:
    response = handle(event, lambda_context("prop"), lambda: stack.generator)
    return response["statusCode"], json.loads(response["body"])


@given(event=events)
def test_any_event_gets_a_json_answer_below_500(stack, event):
    status, body = answer(event, stack)
    assert status < 500, body
    if status >= 400:
        assert set(body["error"]) >= {"code", "message"}


@given(body=request_bodies)
def test_any_json_body_is_answered_and_errors_name_a_field(stack, body):
    event = {
        "resource": "/images",
        "httpMethod": "POST",
        "body": json.dumps(body),
        "headers": {"Content-Type": "application/json"},
    }
    status, answer_body = answer(event, stack)
    assert status in (200, 400, 422), answer_body
    if status == 400:
        assert answer_body["error"]["field"]


@given(raw=st.binary(max_size=300))
def test_any_base64_body_is_parsed_or_refused_cleanly(raw):
    event = {
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
        "headers": {"content-type": "application/json"},
    }
    try:
        parse_json_body(event)
    except ImageGenError as error:
        assert error.status_code in (400, 413)
