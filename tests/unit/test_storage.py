"""ImageStore against botocore's Stubber: write-once puts, S3's conditional-write answers, HEAD,
bounded reads of inputs and upload forms."""

import base64
import json

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from service import aws
from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import NotFound, PayloadTooLarge, StorageFailed
from service.storage import CONFLICT_ATTEMPTS, ImageStore


@pytest.fixture
def s3():
    return boto3.client(
        "s3", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )


PUT = {
    "Bucket": "b",
    "Key": "images/k.png",
    "Body": ANY,
    "ContentType": "image/png",
    "Metadata": {"seed": "1"},
    "IfNoneMatch": "*",
}


def put(s3, *, exists_ok: bool) -> None:
    ImageStore(s3, "b", 60).put(
        "images/k.png", b"png", "image/png", {"seed": "1"}, exists_ok=exists_ok
    )


def test_put_is_conditional_so_it_never_overwrites(s3):
    with Stubber(s3) as stub:
        stub.add_response("put_object", {}, PUT)
        put(s3, exists_ok=False)
        stub.assert_no_pending_responses()


def test_an_existing_random_key_is_a_storage_error(s3):
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", "PreconditionFailed", http_status_code=412)
        with pytest.raises(StorageFailed, match="PreconditionFailed"):
            put(s3, exists_ok=False)


def test_an_existing_cache_key_is_fine(s3):
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", "PreconditionFailed", http_status_code=412)
        put(s3, exists_ok=True)


def test_a_racing_conditional_write_409_is_retried_until_s3_decides(s3):
    """S3 answers 409 ConditionalRequestConflict while another conditional write is in flight."""
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", "ConditionalRequestConflict", http_status_code=409)
        stub.add_client_error("put_object", "PreconditionFailed", http_status_code=412)
        put(s3, exists_ok=True)
        stub.assert_no_pending_responses()


def test_a_409_that_never_settles_is_a_bounded_storage_error(s3):
    with Stubber(s3) as stub:
        for _ in range(CONFLICT_ATTEMPTS):
            stub.add_client_error("put_object", "ConditionalRequestConflict", http_status_code=409)
        with pytest.raises(StorageFailed, match="ConditionalRequestConflict"):
            put(s3, exists_ok=True)
        stub.assert_no_pending_responses()


def test_head_of_a_missing_key_is_none_and_presign_existing_is_404(s3):
    store = ImageStore(s3, "b", 60)
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", "404", http_status_code=404)
        assert store.head("images/nope.png") is None
        stub.add_client_error("head_object", "404", http_status_code=404)
        with pytest.raises(NotFound):
            store.presign_existing("images/nope.png")


def test_head_reads_type_size_and_pixels_from_metadata(s3):
    with Stubber(s3) as stub:
        stub.add_response(
            "head_object",
            {
                "ContentType": "image/png",
                "ContentLength": 10,
                "Metadata": {"width": "3", "height": "4"},
            },
        )
        hit = ImageStore(s3, "b", 60).head("images/k.png")
    assert (hit.content_type, hit.bytes, hit.width, hit.height) == ("image/png", 10, 3, 4)


def test_the_services_s3_client_presigns_sigv4_urls_on_the_regional_endpoint():
    settings = Settings.from_env(
        {"IMAGEGEN_BUCKET": "b-images", "AWS_REGION": "eu-west-1"}, default_catalogue()
    )
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    )
    url = ImageStore(aws.s3(session, settings, {}), "b-images", 900).presign("images/k.png")
    assert url.startswith("https://b-images.s3.eu-west-1.amazonaws.com/images/k.png?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Expires=900" in url


class Body:
    """A streaming body that records whether it was read and closed."""

    def __init__(self, data: bytes) -> None:
        self.data, self.read_called, self.closed = data, False, False

    def read(self) -> bytes:
        self.read_called = True
        return self.data

    def close(self) -> None:
        self.closed = True


def test_read_returns_the_bytes_and_none_for_a_missing_key(s3):
    body = Body(b"png bytes")
    with Stubber(s3) as stub:
        stub.add_response("get_object", {"Body": body, "ContentLength": 9})
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        store = ImageStore(s3, "b", 60)
        assert store.read("uploads/a.png", 100) == b"png bytes"
        assert store.read("uploads/gone.png", 100) is None
    assert body.closed


def test_read_refuses_an_object_over_the_limit_before_reading_it(s3):
    body = Body(b"x" * 101)
    with Stubber(s3) as stub:
        stub.add_response("get_object", {"Body": body, "ContentLength": 101})
        with pytest.raises(PayloadTooLarge, match="101 bytes"):
            ImageStore(s3, "b", 60).read("uploads/big.png", 100)
    assert (body.read_called, body.closed) == (False, True)


def test_read_failures_are_storage_errors(s3):
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", "AccessDenied", http_status_code=403)
        with pytest.raises(StorageFailed, match="could not read"):
            ImageStore(s3, "b", 60).read("uploads/a.png", 100)


def test_the_upload_form_pins_key_content_type_and_size():
    s3 = boto3.client(
        "s3",
        region_name="us-west-2",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(signature_version="s3v4"),
    )
    form = ImageStore(s3, "b", 60).upload_form("uploads/a.png", "image/png", 1000, 900)
    assert form.fields["key"] == "uploads/a.png" and form.fields["Content-Type"] == "image/png"
    policy = json.loads(base64.b64decode(form.fields["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert form.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
