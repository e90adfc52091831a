"""``python -m preflight`` as a user runs it, against the repository's local stack pieces.

moto answers STS; the Bedrock emulator answers InvokeModel. moto 5.2.5 implements neither
Bedrock's GetFoundationModel / GetFoundationModelAvailability, nor IAM SimulatePrincipalPolicy,
nor Lambda GetAccountSettings: those checks must say "could not check" and not fail the run
(their real answers are covered with Stubber in test_checks.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from devstack.bedrock_emulator import BedrockEmulatorServer
from preflight.stack import ROOT, load
from service.catalogue import default_catalogue

# dev allows every operation offered in us-west-2: all but image-to-image go through a profile.
PROFILE_OPERATIONS = [
    op.operation for op in default_catalogue().operations if op.invoke_id("us-west-2") != op.id
]


def isolated_env(tmp: Path, **aws: str) -> dict[str, str]:
    """This process's environment without any AWS setting of the developer's, plus ``aws``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",  # moto's 404/500 answers are final: no backoff between retries
        **aws,
    )
    return env


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preflight", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[BedrockEmulatorServer]:
    server = BedrockEmulatorServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # An account whose API Gateway already has its CloudWatch role, as the README sets it up.
    boto3.client(
        "apigateway",
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).update_account(
        patchOperations=[
            {
                "op": "replace",
                "path": "/cloudwatchRoleArn",
                "value": "arn:aws:iam::123456789012:role/apigateway-cloudwatch-logs",
            }
        ]
    )
    yield url
    server.stop()


@pytest.fixture
def local_env(tmp_path: Path, moto_url: str, emulator: BedrockEmulatorServer) -> dict[str, str]:
    return isolated_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=moto_url,
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=emulator.url,
    )


def lines(stdout: str, status: str, check: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.split()[:2] == [status, check]]


def test_dev_run_invokes_every_allowed_model(
    local_env: dict[str, str], emulator: BedrockEmulatorServer
) -> None:
    models = load("dev", env={}).allowed_models
    before = emulator.calls["total"]
    run = doctor(local_env, "--stack", "dev")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert lines(run.stdout, "OK", "credentials")
    assert lines(run.stdout, "OK", "logging")
    # What moto cannot answer is reported honestly, per model, and does not fail the run.
    assert len(lines(run.stdout, "WARN", "offered")) == len(models)
    assert len(lines(run.stdout, "WARN", "access")) == len(models)
    assert all("could not check" in line for line in lines(run.stdout, "WARN", "marketplace"))
    # moto has no GetInferenceProfile either: one honest line per operation with a profile.
    profiles = lines(run.stdout, "WARN", "profile")
    assert len(profiles) == len(PROFILE_OPERATIONS)
    assert all("could not check" in line for line in profiles)
    assert "Not invoked (a paid call each): the 14 editing operations." in run.stdout
    invoked = lines(run.stdout, "OK", "invoke")
    assert [line.split()[2].rstrip(":") for line in invoked] == list(models)
    assert emulator.calls["total"] - before == len(models)
    # The cost is printed before any paid call.
    assert run.stdout.index("Next: one image per allowed model, about $") < run.stdout.index(
        invoked[0]
    )


def test_skips_and_no_invoke_spend_nothing(
    local_env: dict[str, str], emulator: BedrockEmulatorServer
) -> None:
    before = emulator.calls["total"]
    run = doctor(local_env, "--stack", "prod", "--no-invoke", "--skip", "offered")
    assert run.returncode == 0, run.stdout + run.stderr
    assert lines(run.stdout, "SKIP", "offered") and lines(run.stdout, "SKIP", "invoke")
    # prod reserves 20: moto has no GetAccountSettings, so the check cannot decide.
    (concurrency,) = lines(run.stdout, "WARN", "concurrency")
    assert "could not check (404" in concurrency
    assert emulator.calls["total"] == before


def test_no_credentials_is_one_clear_line(tmp_path: Path) -> None:
    run = doctor(isolated_env(tmp_path), "--stack", "dev")
    assert run.returncode == 1
    assert run.stderr == ""
    (failure,) = lines(run.stdout, "FAIL", "credentials")
    assert "no AWS credentials found: run `aws configure`" in failure
    assert "Stopped: every other check needs working AWS credentials." in run.stdout


def test_unknown_stack_is_one_line_on_stderr(tmp_path: Path) -> None:
    run = doctor(isolated_env(tmp_path), "--stack", "staging")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.startswith("imagegen doctor: no Pulumi.staging.yaml")
    assert len(run.stderr.splitlines()) == 1


def test_preflight_does_not_import_pulumi_or_infra(tmp_path: Path) -> None:
    code = (
        "import sys, preflight.doctor; roots = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(roots & {'pulumi', 'pulumi_aws', 'infra'}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "[]"
