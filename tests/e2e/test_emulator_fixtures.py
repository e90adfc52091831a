"""AWS's documented examples, replayed against the emulator over HTTP with boto3.

Each fixture in ``tests/fixtures/bedrock/`` holds example request bodies and the response shape
from an AWS page (``source``); the emulator must accept the requests and answer in that shape.
Error statuses are checked against AWS's published API model (botocore's service definition).
"""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from devstack.bedrock_emulator import FAULT_ERRORS, FILTER_WORD, BedrockEmulatorServer
from tests.conftest import emulator_client

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bedrock"
DOCUMENTED = {path.name: json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))}
EXAMPLES = [
    pytest.param(doc, example["request"], id=f"{name}#{i}")
    for name, doc in DOCUMENTED.items()
    for i, example in enumerate(doc["requests"])
]
API_MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")


@pytest.fixture(scope="module")
def emulator():
    """Retired models served too: the pages document them whatever their lifecycle."""
    server = BedrockEmulatorServer(serve_retired=True, hang_seconds=0.0).start()
    yield server
    server.stop()


def client(server: BedrockEmulatorServer, region: str):
    return emulator_client(server.url, region)


def invoke(server: BedrockEmulatorServer, doc: dict, body: dict) -> dict:
    """Called the way AWS's own samples call it: no contentType, no accept."""
    answer = client(server, doc["region"]).invoke_model(
        modelId=doc["model_id"], body=json.dumps(body)
    )
    return json.loads(answer["body"].read())


def conforms(answer: object, documented: object, optional: frozenset[str] = frozenset()) -> bool:
    """Same keys (some documented ones may be absent), list items and scalar kinds."""
    if isinstance(documented, dict):
        return (
            isinstance(answer, dict)
            and set(answer) <= set(documented)
            and set(documented) - set(answer) <= optional
            and all(conforms(answer[key], documented[key]) for key in answer)
        )
    if isinstance(documented, list):
        return (
            isinstance(answer, list)
            and bool(answer)
            and all(conforms(item, documented[0]) for item in answer)
        )
    if documented is None:
        return answer is None
    if isinstance(documented, int):
        return isinstance(answer, int) and not isinstance(answer, bool)
    return isinstance(answer, type(documented))


def images_of(answer: dict) -> list[str]:
    return answer.get("images") or [a["base64"] for a in answer.get("artifacts", [])]


def test_every_fixture_cites_an_aws_page():
    assert DOCUMENTED
    for doc in DOCUMENTED.values():
        assert doc["source"].startswith(("https://docs.aws.amazon.com/", "https://github.com/aws"))


@pytest.mark.parametrize(("doc", "body"), EXAMPLES)
def test_documented_request_gets_the_documented_response_shape(emulator, doc, body):
    answer = invoke(emulator, doc, body)
    assert conforms(answer, doc["response"], frozenset(doc["optional_response_keys"])), answer
    for image in images_of(answer):
        Image.open(io.BytesIO(base64.b64decode(image))).verify()


@pytest.mark.parametrize(
    "name", [name for name, doc in DOCUMENTED.items() if "filtered_response" in doc]
)
def test_a_filtered_prompt_gets_the_documented_filter_answer(emulator, name):
    doc = DOCUMENTED[name]
    body = {**doc["requests"][0]["request"], "prompt": f"something {FILTER_WORD}"}
    assert invoke(emulator, doc, body) == doc["filtered_response"]


@pytest.mark.parametrize(
    ("doc", "body"),
    [
        pytest.param(doc, example["request"], id=name)
        for name, doc in DOCUMENTED.items()
        for example in doc.get("not_emulated_requests", [])
    ],
)
def test_documented_but_unemulated_requests_say_so(emulator, doc, body):
    with pytest.raises(ClientError) as caught:
        invoke(emulator, doc, body)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "not emulated locally" in error["Message"]


@pytest.mark.parametrize(
    ("fault", "code"), [*FAULT_ERRORS.items(), ("hang", "ModelTimeoutException")]
)
def test_fault_statuses_are_aws_published_ones(emulator, fault, code):
    doc = DOCUMENTED["stable-image-core.json"]
    emulator.inject(fault)
    with pytest.raises(ClientError) as caught:
        invoke(emulator, doc, doc["requests"][0]["request"])
    status = API_MODEL.shape_for(code).metadata["error"]["httpStatusCode"]
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_errors_carry_bedrocks_wire_shape(emulator):
    """Unsigned, so no Region: the header and body botocore parses, seen on the wire."""
    request = urllib.request.Request(
        f"{emulator.url}/model/stability.stable-image-core-v1:1/invoke",
        data=b'{"prompt": "a", "stream": true}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    error = caught.value
    assert error.code == 400
    assert error.headers["x-amzn-ErrorType"] == (
        "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )
    assert json.loads(error.read()) == {
        "message": "Malformed input request: #: extraneous key [stream] is not permitted, "
        "please reformat your input and try again."
    }
