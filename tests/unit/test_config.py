import json
import logging

import pytest

from service.catalogue import default_catalogue
from service.config import ConfigError, Settings
from service.logs import JsonFormatter

BASE = {"IMAGEGEN_BUCKET": "images-bucket", "AWS_REGION": "us-west-2"}


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env}, default_catalogue())


def test_defaults_are_an_active_model_one_hour_urls_and_the_images_prefix():
    s = settings()
    assert (s.default_model, s.url_expiry_seconds, s.key_prefix) == (
        "stable-image-core",
        3600,
        "images/",
    )


def test_missing_bucket_is_named_in_the_error():
    with pytest.raises(ConfigError, match="IMAGEGEN_BUCKET"):
        Settings.from_env({"AWS_REGION": "us-west-2"}, default_catalogue())


def test_retired_default_model_is_refused_unless_enabled():
    with pytest.raises(ConfigError, match="end of life on 2025-05-20"):
        settings(IMAGEGEN_DEFAULT_MODEL="sdxl")
    assert (
        settings(
            IMAGEGEN_DEFAULT_MODEL="sdxl", IMAGEGEN_ENABLED_RETIRED_MODELS="sdxl"
        ).default_model
        == "sdxl"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IMAGEGEN_URL_EXPIRY_SECONDS", "0", "between 1 and 604800"),
        ("IMAGEGEN_URL_EXPIRY_SECONDS", "soon", "is not an integer"),
        ("IMAGEGEN_ALLOWED_MODELS", "dall-e", "unknown model 'dall-e'"),
        ("IMAGEGEN_LOG_LEVEL", "LOUD", "must be one of"),
        ("IMAGEGEN_ALLOWED_MODELS", "sd3.5-large", "is not in IMAGEGEN_ALLOWED_MODELS"),
    ],
)
def test_invalid_settings_name_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        settings(**{name: value})


def test_allow_list_accepts_alias_and_id_of_listed_models_only():
    s = settings(IMAGEGEN_ALLOWED_MODELS="stable-image-core,sd3.5-large")
    catalogue = default_catalogue()
    assert s.is_allowed("stability.sd3-5-large-v1:0", catalogue)
    assert not s.is_allowed("stable-image-ultra", catalogue)


def test_lambdas_name_for_the_warning_level_is_accepted():
    assert settings(IMAGEGEN_LOG_LEVEL="warn").log_level == "WARNING"


def test_log_lines_use_lambdas_level_names_so_its_json_log_filter_understands_them():
    record = logging.LogRecord("imagegen", logging.WARNING, __file__, 1, "careful", None, None)
    assert json.loads(JsonFormatter().format(record))["level"] == "WARN"
