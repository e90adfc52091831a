"""Browser-based POST uploads to the local S3 over real HTTP: a boto3 presigned POST posted as a
browser posts it is stored, and what S3 refuses is refused with S3's status, code and message."""

from __future__ import annotations

import base64
import json
import secrets
import xml.etree.ElementTree as ET

import pytest
import requests
from botocore.auth import S3SigV4PostAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from devstack.s3_post import MAX_FILE_BYTES, MAX_PRE_DATA_BYTES
from devstack.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from tests.e2e.conftest import Clock
from tests.e2e.test_local_s3 import REGION, SERVICE_CONFIG, client, create_bucket

MAX_IMAGE_BYTES = 1024
PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10


@pytest.fixture(scope="module")
def s3(server: S3Server):
    return client(server.url, SERVICE_CONFIG)


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    return create_bucket(s3)


@pytest.fixture
def key() -> str:
    return f"uploads/2026/11/26/{secrets.token_hex(8)}.png"


def presigned_post(
    s3,
    bucket: str,
    key: str,
    *,
    expires: int = 300,
    conditions: tuple[object, ...] = (),
    fields: dict[str, str] | None = None,
) -> dict:
    """What the service's ``POST /uploads`` hands a browser."""
    return s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": "image/png", **(fields or {})},
        Conditions=[
            {"Content-Type": "image/png"},
            ["content-length-range", 1, MAX_IMAGE_BYTES],
            *conditions,
        ],
        ExpiresIn=expires,
    )


def post(post_form: dict, file: bytes = PNG, **changes: str) -> requests.Response:
    """POST the form as a browser does: its fields, then ``file`` last."""
    fields = {**post_form["fields"], **changes}
    return requests.post(
        post_form["url"], data=fields, files={"file": ("image.png", file)}, timeout=30
    )


def post_parts(url: str, parts: list[tuple[str, str | bytes]]) -> requests.Response:
    """POST multipart parts in exactly this order; bytes values are sent as files."""
    files = [
        (name, ("upload.png", value) if isinstance(value, bytes) else (None, value))
        for name, value in parts
    ]
    return requests.post(url, files=files, timeout=30)


def refusal(response: requests.Response) -> tuple[int, str | None, str | None]:
    error = ET.fromstring(response.content)
    return response.status_code, error.findtext("Code"), error.findtext("Message")


def stored(s3, bucket: str, key: str) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] > 0


def signed(form: dict, policy: bytes) -> dict:
    """``form`` with another policy, signed as boto3 signs one: for policies boto3 never writes."""
    fields = form["fields"]
    encoded = base64.b64encode(policy).decode()
    request = AWSRequest()
    request.context["timestamp"] = fields["x-amz-date"]
    signer = S3SigV4PostAuth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "s3", REGION)
    signature = signer.signature(encoded, request)
    return {**form, "fields": {**fields, "policy": encoded, "x-amz-signature": signature}}


def tampered_policy(policy: str) -> str:
    document = json.loads(base64.b64decode(policy))
    document["conditions"][1] = ["content-length-range", 1, 10 * MAX_IMAGE_BYTES]
    return base64.b64encode(json.dumps(document).encode()).decode()


# Uploads S3 accepts


def test_a_presigned_post_made_as_the_service_makes_it_is_stored(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key))

    assert (response.status_code, response.content) == (204, b"")
    assert response.headers["Location"].endswith(f"/{bucket}/{key.replace('/', '%2F')}")
    stored_object = s3.get_object(Bucket=bucket, Key=key)
    assert stored_object["Body"].read() == PNG
    assert stored_object["ContentType"] == "image/png"
    assert stored_object["ETag"] == response.headers["ETag"]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(PNG)


def test_posting_the_same_form_again_replaces_the_object_as_s3_does(s3, bucket, key) -> None:
    form = presigned_post(s3, bucket, key)
    assert post(form).status_code == 204
    again = post(form, PNG + b"trailing bytes")

    assert again.status_code == 204, again.content
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PNG + b"trailing bytes"


@pytest.mark.parametrize(("asked", "status"), [("200", 200), ("201", 201), ("302", 204)])
def test_success_action_status_chooses_the_answer(s3, bucket, key, asked, status) -> None:
    form = presigned_post(
        s3,
        bucket,
        key,
        fields={"success_action_status": asked},
        conditions=({"success_action_status": asked},),
    )

    response = post(form)

    assert response.status_code == status
    if status == 201:
        document = ET.fromstring(response.content)
        assert (document.findtext("Bucket"), document.findtext("Key")) == (bucket, key)
        assert document.findtext("ETag") == response.headers["ETag"]
    else:
        assert response.content == b""
    assert stored(s3, bucket, key)


def test_filename_in_the_key_is_the_uploaded_file_name(s3, bucket) -> None:
    prefix = f"uploads/{secrets.token_hex(4)}/"
    form = presigned_post(s3, bucket, prefix + "${filename}")

    response = requests.post(
        form["url"], data=form["fields"], files={"file": ("photos/cat.png", PNG)}, timeout=30
    )

    assert response.status_code == 204
    assert s3.get_object(Bucket=bucket, Key=prefix + "cat.png")["Body"].read() == PNG


def test_fields_prefixed_x_ignore_need_no_condition(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key), **{"x-ignore-filename": "image.png"})

    assert response.status_code == 204


# Uploads S3 refuses


def test_a_tampered_policy_is_refused(s3, bucket, key) -> None:
    form = presigned_post(s3, bucket, key)

    response = post(form, policy=tampered_policy(form["fields"]["policy"]))

    assert refusal(response)[:2] == (403, "SignatureDoesNotMatch")
    assert not stored(s3, bucket, key)


def test_a_tampered_signature_is_refused(s3, bucket, key) -> None:
    form = presigned_post(s3, bucket, key)

    response = post(form, **{"x-amz-signature": form["fields"]["x-amz-signature"][::-1]})

    assert refusal(response)[:2] == (403, "SignatureDoesNotMatch")
    assert not stored(s3, bucket, key)


def test_an_expired_policy_is_refused(s3, bucket, key, clock: Clock) -> None:
    form = presigned_post(s3, bucket, key, expires=1)
    clock.shift = 2

    response = post(form)

    assert refusal(response) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    )
    assert not stored(s3, bucket, key)


def test_another_content_type_fails_its_condition(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key), **{"Content-Type": "image/gif"})

    failed = '["eq", "$Content-Type", "image/png"]'
    assert refusal(response) == (
        403,
        "AccessDenied",
        f"Invalid according to Policy: Policy Condition failed: {failed}",
    )
    assert not stored(s3, bucket, key)


def test_another_key_fails_its_condition(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key), key=key + ".html")

    assert refusal(response)[:2] == (403, "AccessDenied")
    assert not stored(s3, bucket, key + ".html")


def test_another_bucket_fails_its_condition(s3, bucket, key) -> None:
    other = create_bucket(s3)
    form = presigned_post(s3, bucket, key)

    response = post({**form, "url": form["url"].replace(bucket, other)})

    assert refusal(response) == (
        403,
        "AccessDenied",
        f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{bucket}"]',
    )
    assert not stored(s3, other, key)


def test_a_field_without_a_condition_is_refused(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key), **{"x-amz-meta-owner": "mallory"})

    assert refusal(response) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: x-amz-meta-owner",
    )
    assert not stored(s3, bucket, key)


def test_a_file_over_the_range_is_entity_too_large(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key), file=b"x" * (MAX_IMAGE_BYTES + 1))

    assert refusal(response)[:2] == (400, "EntityTooLarge")
    error = ET.fromstring(response.content)
    assert error.findtext("ProposedSize") == str(MAX_IMAGE_BYTES + 1)
    assert error.findtext("MaxSizeAllowed") == str(MAX_IMAGE_BYTES)
    assert not stored(s3, bucket, key)


def test_an_empty_file_under_the_range_is_entity_too_small(s3, bucket, key) -> None:
    response = post(presigned_post(s3, bucket, key), file=b"")

    assert refusal(response)[:2] == (400, "EntityTooSmall")
    error = ET.fromstring(response.content)
    assert (error.findtext("ProposedSize"), error.findtext("MinSizeAllowed")) == ("0", "1")
    assert not stored(s3, bucket, key)


def test_a_file_over_the_front_limit_is_entity_too_large(s3, bucket, key) -> None:
    form = s3.generate_presigned_post(
        Bucket=bucket, Key=key, Conditions=[["content-length-range", 0, 5 * 1024**3]]
    )

    response = post(form, file=bytes(MAX_FILE_BYTES + 1))

    assert refusal(response)[:2] == (400, "EntityTooLarge")
    assert ET.fromstring(response.content).findtext("MaxSizeAllowed") == str(MAX_FILE_BYTES)
    assert not stored(s3, bucket, key)


def test_a_form_without_a_file_is_refused(s3, bucket, key) -> None:
    form = presigned_post(s3, bucket, key)

    response = requests.post(form["url"], files={**form["fields"]}, timeout=30)

    assert refusal(response) == (
        400,
        "InvalidArgument",
        "POST requires exactly one file upload per request.",
    )


def test_fields_after_the_file_are_ignored(s3, bucket, key) -> None:
    form = presigned_post(s3, bucket, key)
    fields = [(name, value) for name, value in form["fields"].items() if name != "key"]

    response = post_parts(form["url"], [*fields, ("file", PNG), ("key", key)])

    assert refusal(response)[:2] == (400, "InvalidArgument")
    assert ET.fromstring(response.content).findtext("ArgumentName") == "key"


def test_more_than_20_kb_of_fields_before_the_file_is_refused(s3, bucket, key) -> None:
    padding = "x" * MAX_PRE_DATA_BYTES

    response = post(presigned_post(s3, bucket, key), **{"x-ignore-padding": padding})

    assert refusal(response)[:2] == (400, "MaxPostPreDataLengthExceeded")


def test_an_unsigned_post_is_refused_by_the_private_bucket(server: S3Server, s3, bucket, key):
    response = post_parts(f"{server.url}/{bucket}", [("key", key), ("file", PNG)])

    assert refusal(response) == (403, "AccessDenied", "Access Denied")
    assert not stored(s3, bucket, key)


def test_boto3_default_presigned_post_is_sigv2_which_new_buckets_refuse(server, bucket, key):
    sigv2 = client(server.url, Config(s3={"addressing_style": "path"}))
    form = sigv2.generate_presigned_post(Bucket=bucket, Key=key)
    assert "AWSAccessKeyId" in form["fields"]

    assert refusal(post(form))[:2] == (400, "InvalidRequest")


def test_a_body_that_is_not_multipart_is_a_failed_precondition(server: S3Server, bucket, key):
    response = requests.post(f"{server.url}/{bucket}", data={"key": key}, timeout=30)

    assert refusal(response)[:2] == (412, "PreconditionFailed")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (b"{not json", "Invalid Policy: Invalid JSON."),
        (
            json.dumps({"expiration": "2099-01-01T00:00:00Z", "conditions": [{"acl": 1}]}).encode(),
            "Invalid Policy: Invalid Simple-Condition: value must be a string.",
        ),
    ],
    ids=["not-json", "number-in-exact-match"],
)
def test_a_signed_policy_s3_cannot_read_is_an_invalid_policy_document(
    s3, bucket, key, policy: bytes, message: str
) -> None:
    response = post(signed(presigned_post(s3, bucket, key), policy))

    assert refusal(response) == (400, "InvalidPolicyDocument", message)


def test_every_content_type_in_a_list_must_start_with_the_prefix(s3, bucket, key) -> None:
    form = s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": "image/png,text/html"},
        Conditions=[["starts-with", "$Content-Type", "image/"]],
    )

    assert refusal(post(form))[:2] == (403, "AccessDenied")
