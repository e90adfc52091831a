"""schemathesis against openapi.yaml and the running local stack: no 5xx, answers as documented."""

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.gateway import OPENAPI_PATH
from devstack.stack import LocalStack

schema = schemathesis.openapi.from_path(OPENAPI_PATH)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "ERROR"}, constant_images=True) as running:
        yield running


@schema.parametrize()
@settings(max_examples=80)
def test_api_conforms_to_its_openapi_document(api, case):
    case.call_and_validate(base_url=api.url, checks=CHECKS)
