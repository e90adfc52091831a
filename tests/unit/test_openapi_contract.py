"""openapi.yaml is what API Gateway validates bodies against: it must never refuse a value that
some model in the catalogue accepts, or a deployed API would reject requests the service allows."""

import re
from pathlib import Path

import pytest
import yaml

from service.catalogue import default_catalogue
from service.validation import FIELDS

SPEC = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text())
REQUEST = SPEC["components"]["schemas"]["ImageRequest"]["properties"]
MODELS = default_catalogue().models


def test_the_request_schema_lists_exactly_the_services_fields():
    assert set(REQUEST) == set(FIELDS)


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
