"""The program body, importable by tests: settings from config -> ImageApi -> stack outputs."""

from __future__ import annotations

import pulumi

from infra.image_api import ImageApi
from infra.settings import ImageApiSettings


def build(stack: str, region: str) -> ImageApi:
    settings = ImageApiSettings.from_config(pulumi.Config("imagegen"), stack, region)
    api = ImageApi(f"imagegen-{stack}", settings)
    pulumi.export("api_url", api.api_url)
    pulumi.export("bucket_name", api.bucket.bucket)
    pulumi.export("function_name", api.function.name)
    pulumi.export("function_log_group", api.log_group.name)
    pulumi.export("access_log_group", api.access_log_group.name)
    pulumi.export("api_key", pulumi.Output.secret(api.api_key.value))
    return api
