"""The Lambda role's S3 grants, proven sufficient and minimal under moto's IAM enforcement.

The dev stack's role policy, built with ``infra/iam.py`` as the program builds it, is put on a
role in moto; the handler's own storage code (``ImageStore`` on the client ``service.aws``
builds from the Lambda's environment) then runs as that role while moto checks every request
against the role's policies (``enable_iam_authentication``: moto's
``INITIAL_NO_AUTH_ACTION_COUNT`` set to 0 in-process).

What moto cannot enforce, so this test does not claim it:
- S3 answers HEAD of a missing key with 403 unless the caller has ``s3:ListBucket``; moto
  answers 404 with ``s3:GetObject`` alone, so the need for ``TellMissingImages`` rests on AWS's
  HeadObject documentation. Here it is only shown that 404 comes through with the grant.
- Presigned (query-string) requests and presigned POST forms are not authenticated in moto's IAM
  mode (it reads only the Authorization header). The tests check that the URL and the form are
  signed with the role's temporary key and token, and that the same GetObject (URL) or
  PutObject (form) as the role is allowed.
- Conditions: moto treats every Condition as met (it evaluates only ``StringEquals`` in trust
  policies), so the bucket's TLS-only policy would deny every call here and is left out; the
  policy pack and tests/infra/test_stacks.py check that policy instead.
- Bedrock and CloudWatch Logs grants are not exercised: moto has no Bedrock runtime, and the
  Lambda runtime, not the handler, writes the logs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pulumi
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import disable_iam_authentication, enable_iam_authentication

from infra import iam
from infra.image_api import JOB_PREFIX, KEY_PREFIX, UPLOAD_PREFIX
from infra.settings import ImageApiSettings
from service import aws
from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import StorageFailed
from service.storage import ImageStore, StoredObject, new_key
from tests.infra.conftest import ACCOUNT, StackRun, stack_config

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
STORED = "images/2025/01/01/0123456789abcdef0123456789abcdef.png"  # generated earlier
UPLOADED = "uploads/2025/01/01/0123456789abcdef0123456789abcdef.png"  # posted by a client
OUTSIDE = "private/notes.txt"  # someone else's object in the same bucket


@dataclass
class AsRole:
    store: ImageStore
    s3: Any  # the handler's boto3 S3 client, signed with the role's credentials
    credentials: Mapping[str, str]


def lambda_environment(dev: StackRun) -> dict[str, str]:
    return dict(dev.function.inputs["environment"]["variables"])


@pytest.fixture(scope="module")
def document(dev: StackRun) -> dict:
    """The role policy of the dev stack, from infra/iam.py with dev's settings."""
    pulumi.runtime.set_all_config(stack_config("dev"))
    settings = ImageApiSettings.from_config(pulumi.Config("imagegen"), "dev", dev.region)
    assert not settings.kms_encryption and not settings.tracing  # no KMS or X-Ray grants in dev
    function = dev.function.inputs
    bucket = function["environment"]["variables"]["IMAGEGEN_BUCKET"]
    log_group = function["loggingConfig"]["logGroup"]
    queue = dev.named("imagegen-dev-jobs").inputs["name"]
    return iam.lambda_policy(
        model_arns=iam.bedrock_model_arns(settings.invocations, dev.region, ACCOUNT, "aws"),
        bucket_arn=f"arn:aws:s3:::{bucket}",
        key_prefix=KEY_PREFIX,
        upload_prefix=UPLOAD_PREFIX,
        job_prefix=JOB_PREFIX,
        jobs_queue_arn=f"arn:aws:sqs:{dev.region}:{ACCOUNT}:{queue}",
        log_group_arn=f"arn:aws:logs:{dev.region}:{ACCOUNT}:log-group:{log_group}",
        kms_key_arn=None,
        tracing=False,
    )


@contextmanager
def as_lambda_role(document: dict, dev: StackRun) -> Iterator[AsRole]:
    """moto with the bucket, the role and its policy; yields the handler's store as the role."""
    env = lambda_environment(dev)
    bucket, region = env["IMAGEGEN_BUCKET"], dev.region
    with mock_aws():
        admin = boto3.client("s3", region_name=region)
        admin.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        admin.put_object(Bucket=bucket, Key=STORED, Body=PNG, ContentType="image/png")
        admin.put_object(Bucket=bucket, Key=UPLOADED, Body=PNG, ContentType="image/png")
        admin.put_object(Bucket=bucket, Key=OUTSIDE, Body=b"not an image")
        client = boto3.client("iam", region_name=region)
        trust = json.dumps(iam.assume_role("lambda.amazonaws.com"))
        role = client.create_role(RoleName="imagegen-dev-fn", AssumeRolePolicyDocument=trust)
        client.put_role_policy(
            RoleName="imagegen-dev-fn", PolicyName="fn", PolicyDocument=json.dumps(document)
        )
        # Lambda assumes the role for each container; enforcement starts after this setup.
        credentials = boto3.client("sts", region_name=region).assume_role(
            RoleArn=role["Role"]["Arn"], RoleSessionName="imagegen-dev-fn"
        )["Credentials"]
        env |= {
            "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
        settings = Settings.from_env(env, default_catalogue())
        s3 = aws.s3(aws.session(settings, env), settings, env)
        with enable_iam_authentication():
            yield AsRole(ImageStore(s3, bucket, settings.url_expiry_seconds), s3, credentials)


def test_the_document_is_the_one_the_dev_stack_ships(document, dev):
    assert document == dev.policy


def test_the_handlers_s3_calls_succeed_as_the_role(document, dev):
    with as_lambda_role(document, dev) as role:
        key = new_key(KEY_PREFIX, "png", datetime(2025, 1, 2, tzinfo=UTC))
        role.store.put(key, PNG, "image/png", {"width": "1", "height": "1"})
        # IfNoneMatch reaches S3 as the role: an existing key is 412, not 403.
        with pytest.raises(StorageFailed, match="PreconditionFailed"):
            role.store.put(key, PNG, "image/png", {})
        role.store.put(key, PNG, "image/png", {}, exists_ok=True)

        # 404 comes through (on AWS only thanks to s3:ListBucket; moto cannot tell the two apart).
        assert role.store.head(f"{KEY_PREFIX}2025/01/02/missing.png") is None
        assert role.store.head(key) == StoredObject("image/png", len(PNG), 1, 1)
        bucket = role.store.bucket
        assert role.s3.get_object(Bucket=bucket, Key=STORED)["Body"].read() == PNG

        url = role.store.presign(STORED)
        query = parse_qs(urlparse(url).query)
        assert query["X-Amz-Credential"][0].startswith(f"{role.credentials['AccessKeyId']}/")
        assert query["X-Amz-Security-Token"] == [role.credentials["SessionToken"]]
        with disable_iam_authentication():  # moto cannot authenticate presigned requests
            assert requests.get(url, timeout=5).content == PNG


def test_upload_forms_are_signed_as_the_role_and_uploads_are_read_back(document, dev):
    """S3 authorizes a presigned POST as the form's signer, so the role itself must be allowed
    to put under uploads/; edits then read the upload as the role."""
    with as_lambda_role(document, dev) as role:
        key = new_key(UPLOAD_PREFIX, "png", datetime(2025, 1, 2, tzinfo=UTC))
        form = role.store.upload_form(key, "image/png", 1024, 900)
        assert form.fields["x-amz-credential"].startswith(f"{role.credentials['AccessKeyId']}/")
        assert form.fields["x-amz-security-token"] == role.credentials["SessionToken"]
        role.s3.put_object(Bucket=role.store.bucket, Key=key, Body=PNG, ContentType="image/png")
        assert role.store.read(UPLOADED, 1024) == PNG
        with disable_iam_authentication():  # moto cannot authenticate POST forms
            posted = requests.post(
                form.url, data=form.fields, files={"file": ("in.png", PNG)}, timeout=5
            )
        assert posted.status_code == 204, posted.text


@pytest.mark.parametrize(
    ("action", "needed_by"),
    [
        ("s3:PutObject", lambda s3, b: s3.put_object(Bucket=b, Key=f"{UPLOADED}.new", Body=PNG)),
        ("s3:GetObject", lambda s3, b: s3.get_object(Bucket=b, Key=UPLOADED)),
    ],
)
def test_without_each_upload_grant_the_upload_flow_fails(document, dev, action, needed_by):
    """Minimal: both actions on uploads/* are needed, by the form's signer and by edits."""
    statements = [
        {**s, "Action": [a for a in s["Action"] if a != action]}
        if s["Sid"] == "SignUploadFormsAndReadUploads"
        else s
        for s in document["Statement"]
    ]
    narrowed = {**document, "Statement": [s for s in statements if s["Action"]]}
    with as_lambda_role(narrowed, dev) as role, pytest.raises(ClientError) as refused:
        needed_by(role.s3, role.store.bucket)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    "call",
    [
        lambda s3, b: s3.put_object(Bucket=b, Key="elsewhere/x.png", Body=PNG),
        lambda s3, b: s3.delete_object(Bucket=b, Key=UPLOADED),
        lambda s3, b: s3.get_object(Bucket=b, Key=OUTSIDE),
        lambda s3, b: s3.delete_object(Bucket=b, Key=STORED),
        lambda s3, b: s3.put_object_acl(Bucket=b, Key=STORED, ACL="public-read"),
        lambda s3, b: s3.put_bucket_policy(Bucket=b, Policy="{}"),
        lambda s3, b: s3.delete_bucket(Bucket=b),
        lambda s3, b: s3.list_buckets(),
    ],
    ids=[
        "put-outside-images",
        "delete-upload",
        "get-outside-images",
        "delete",
        "make-public",
        "replace-bucket-policy",
        "delete-bucket",
        "list-all-buckets",
    ],
)
def test_calls_beyond_the_grants_are_refused(document, dev, call):
    with as_lambda_role(document, dev) as role, pytest.raises(ClientError) as refused:
        call(role.s3, role.store.bucket)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    ("action", "needed_by"),
    [
        ("s3:PutObject", lambda store: store.put(STORED.replace(".png", "-new.png"), PNG, "x", {})),
        ("s3:GetObject", lambda store: store.head(STORED)),
    ],
)
def test_without_each_object_grant_the_handler_fails(document, dev, action, needed_by):
    """Minimal: every object action granted is one the handler needs."""
    statements = [
        {**s, "Action": [a for a in s["Action"] if a != action]} for s in document["Statement"]
    ]
    narrowed = {**document, "Statement": [s for s in statements if s["Action"]]}
    with as_lambda_role(narrowed, dev) as role, pytest.raises(StorageFailed) as failed:
        needed_by(role.store)
    assert failed.value.__cause__.response["Error"]["Code"] in ("AccessDenied", "403")


def test_the_role_may_use_no_other_s3_action(document):
    actions = {a for s in document["Statement"] for a in s["Action"] if a.startswith("s3:")}
    assert actions == {"s3:PutObject", "s3:GetObject", "s3:ListBucket"}
