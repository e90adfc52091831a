"""Under Lambda SnapStart the handler module builds its clients during init (fresh processes)."""

import os
import subprocess
import sys

import pytest

PROBE = (
    "import service.handler, service.bootstrap as b; print(b.get_generator.cache_info().currsize)"
)
LAMBDA_ENV = {
    "IMAGEGEN_BUCKET": "b-images",
    "AWS_REGION": "us-west-2",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
}


def import_handler(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEGEN_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )


@pytest.mark.parametrize(("init_type", "built"), [("snap-start", "1"), ("on-demand", "0")])
def test_clients_are_built_at_init_only_for_a_snapshot(init_type, built):
    result = import_handler(**LAMBDA_ENV, AWS_LAMBDA_INITIALIZATION_TYPE=init_type)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == built


def test_a_bad_configuration_fails_the_snapshot_not_every_request():
    result = import_handler(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start", AWS_REGION="us-west-2")
    assert result.returncode != 0 and "IMAGEGEN_BUCKET" in result.stderr
