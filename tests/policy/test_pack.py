"""The pack starts the way the Pulumi CLI starts it and answers the engine's gRPC calls.

The CLI's Python policy shim runs ``python -m pulumi.policy <engine> .`` inside the pack's
folder; the pack then prints its port and serves the Analyzer service.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy.rules import LOG_GROUP, POLICIES

PACK = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.communicate()


def test_the_pack_serves_every_policy_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "imagegen"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_a_violation_reaches_the_engine(analyzer):
    properties = struct_pb2.Struct()
    properties.update({"name": "/aws/lambda/fn"})
    request = analyzer_pb2.AnalyzeRequest(
        type=LOG_GROUP, urn=f"urn:pulumi:dev::imagegen::{LOG_GROUP}::fn", name="fn"
    )
    request.properties.CopyFrom(properties)
    (diagnostic,) = analyzer.Analyze(request, timeout=10).diagnostics
    assert diagnostic.policyName == "logs-retention-set"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
