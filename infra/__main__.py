"""Pulumi program: read the stack's settings, build one ImageApi, export what users need."""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `infra` as a package

from infra.program import build

build(pulumi.get_stack(), aws.config.region or "us-east-1")
