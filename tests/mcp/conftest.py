"""Shared by the MCP tests: the anyio backend and a newcomer's environment."""

import os

import pytest

from tests.conftest import fresh_data_dir


@pytest.fixture
def anyio_backend():
    return "asyncio"


def clean_env(**settings: str) -> dict[str, str]:
    """The environment of a newcomer (no AWS, no imagegen settings) plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEGEN_", "AWS_"))}
    env["IMAGEGEN_DATA_DIR"] = fresh_data_dir()  # no serve there: commands start their own stack
    return {**env, **settings}
