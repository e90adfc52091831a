"""openapi.yaml is the contract clients are generated from (and what API Gateway would validate
bodies against if its body validator were on): it must never refuse a value that some model in
the catalogue accepts, and must say what the service checks."""

import re

import pytest
import yaml

from api_gateway.definition import OPENAPI_PATH
from service.catalogue import default_catalogue
from service.edits import COMMON_FIELDS
from service.job_api import ASYNC_FIELD
from service.validation import ASPECT_RATIO, FIELDS

SPEC = yaml.safe_load(OPENAPI_PATH.read_text())
REQUEST = SPEC["components"]["schemas"]["ImageRequest"]["properties"]
MODELS = default_catalogue().models


def test_the_request_schema_lists_exactly_the_services_fields():
    assert set(REQUEST) == {*FIELDS, ASYNC_FIELD}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.alias)
def test_every_model_limit_lies_within_the_schema(model):
    limits = model.limits
    assert limits.prompt_max_length <= REQUEST["prompt"]["maxLength"]
    assert limits.negative_prompt_max_length <= REQUEST["negative_prompt"]["maxLength"]
    assert limits.seed_max <= REQUEST["seed"]["maximum"]
    assert limits.max_images <= REQUEST["number_of_images"]["maximum"]
    assert set(limits.output_formats) <= set(REQUEST["output_format"]["enum"])
    for name, limit in (("cfg_scale", limits.cfg_scale), ("steps", limits.steps)):
        if limit is not None:
            assert REQUEST[name]["minimum"] <= limit.min <= limit.max <= REQUEST[name]["maximum"]
    pattern = re.compile(REQUEST["aspect_ratio"]["pattern"])
    assert all(pattern.search(ratio) for ratio in limits.size.aspect_ratios)
    sides = [side for size in limits.size.sizes for side in size] + [limits.size.max_side]
    assert max(sides) <= REQUEST["width"]["maximum"]


def test_the_aspect_ratio_pattern_is_the_services_own():
    assert REQUEST["aspect_ratio"]["pattern"] == f"^{ASPECT_RATIO.pattern}$"


EDIT = SPEC["components"]["schemas"]["EditRequest"]["properties"]
OPERATIONS = default_catalogue().operations


def test_the_edit_schema_lists_every_operation_field_and_input():
    names = {rule.name for op in OPERATIONS for rule in (*op.fields, *op.inputs)}
    assert set(EDIT) == names | {*COMMON_FIELDS, ASYNC_FIELD}
    assert EDIT["operation"]["enum"] == [op.operation for op in OPERATIONS]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation)
def test_every_operation_limit_lies_within_the_edit_schema(operation):
    for rule in operation.fields:
        schema = EDIT[rule.name]
        if rule.type in ("number", "integer"):
            assert schema["minimum"] <= rule.min <= rule.max <= schema["maximum"]
        if rule.type == "text":
            assert rule.max_length <= schema["maxLength"]
        if rule.type == "choice":
            assert all(len(value) <= schema["maxLength"] for value in rule.values)
    for rule in operation.inputs:
        assert EDIT[rule.name]["$ref"].endswith("/ImageInput")
    assert set(operation.output_formats) <= set(EDIT["output_format"]["enum"])
    assert operation.seed_max is None or operation.seed_max <= EDIT["seed"]["maximum"]
