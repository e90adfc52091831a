"""The local S3 over real HTTP with real boto3: SDK calls work, and what real S3 refuses is refused
with S3's status and error code (signatures, expiry, skew, body hashes, racing conditional writes).
"""

from __future__ import annotations

import io
import secrets
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from devstack.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from tests.conftest import http
from tests.e2e.conftest import Clock

REGION = "us-west-2"
SIGV4 = Config(signature_version="s3v4")
SERVICE_CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "path"})  # service/aws.py


def client(
    url: str,
    config: Config | None = None,
    *,
    key: str = ACCESS_KEY_ID,
    secret: str = SECRET_ACCESS_KEY,
):
    """One attempt per call (no retries), so each refusal is the server's first answer."""
    single_attempt = Config(retries={"total_max_attempts": 1})
    return boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=single_attempt.merge(config) if config else single_attempt,
    )


def create_bucket(s3) -> str:
    name = f"local-s3-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture(scope="module")
def s3(server: S3Server):
    return client(server.url)


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    return create_bucket(s3)


@pytest.fixture
def key(s3, bucket: str) -> str:
    """A stored object of its own for each test."""
    name = f"images/{secrets.token_hex(4)}.png"
    s3.put_object(Bucket=bucket, Key=name, Body=b"png bytes", ContentType="image/png")
    return name


def error_code(body: bytes) -> str | None:
    return ET.fromstring(body).findtext("Code")


def refused(method: str, url: str, body: bytes | None = None) -> tuple[int, str | None]:
    status, _, answer = http(method, url, body)
    return status, error_code(answer) if answer else None


def client_error(call, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    pairs = [pair.partition("=") for pair in parts.query.split("&")]
    query = "&".join(f"{name}={changes.get(name, value)}" for name, _, value in pairs)
    return urlunsplit(parts._replace(query=query))


def presign(s3, bucket: str, key: str, expires: int = 300, config: Config = SIGV4) -> str:
    signer = client(s3.meta.endpoint_url, config)
    return signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
    )


# Normal SDK use


def test_sdk_calls_work_and_an_existing_key_is_a_412(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a b/c.txt", Body=b"hello", IfNoneMatch="*")
    status, code = client_error(
        s3.put_object, Bucket=bucket, Key="a b/c.txt", Body=b"again", IfNoneMatch="*"
    )
    assert (status, code) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="a b/c.txt")["Body"].read() == b"hello"
    assert s3.head_object(Bucket=bucket, Key="a b/c.txt")["ContentLength"] == 5
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="a b/")
    assert [item["Key"] for item in listed["Contents"]] == ["a b/c.txt"]
    s3.delete_object(Bucket=bucket, Key="a b/c.txt")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="a b/")["KeyCount"] == 0


def test_metadata_with_underscores_and_unusual_keys_are_signed_and_stored(s3, bucket: str) -> None:
    odd = "odd/+!'()*~ é&=.png"
    s3.put_object(Bucket=bucket, Key=odd, Body=b"x", Metadata={"my_key": "v"})
    assert s3.head_object(Bucket=bucket, Key=odd)["Metadata"] == {"my_key": "v"}


def test_unsigned_payload_works(server: S3Server, bucket: str) -> None:
    s3 = client(server.url, Config(s3={"payload_signing_enabled": False}))
    sent: list[str] = []
    s3.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append(request.headers["X-Amz-Content-SHA256"]),
    )
    s3.put_object(Bucket=bucket, Key="unsigned", Body=b"body")
    assert sent == [b"UNSIGNED-PAYLOAD"]
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"body"


def test_an_aws_chunked_upload_with_a_trailing_checksum_works(server: S3Server, s3, bucket) -> None:
    """What boto3 1.44 sends for put_object over https (over http it signs the body's SHA-256)."""
    data = b"chunked body " * 1000
    body = AwsChunkedWrapper(
        io.BytesIO(data), Crc32Checksum, "x-amz-checksum-crc32", chunk_size=4096
    ).read()
    request = AWSRequest(
        "PUT",
        f"{server.url}/{bucket}/chunked",
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aws-chunked",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data)),
        },
    )
    request.context["checksum"] = {"request_algorithm": {"in": "trailer"}}
    S3SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "s3", REGION).add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    status, _, _ = http("PUT", request.url, body, dict(request.headers.items()))
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data


def test_a_presigned_get_downloads(s3, bucket: str, key: str) -> None:
    status, headers, body = http("GET", presign(s3, bucket, key))
    assert (status, headers["Content-Type"], body) == (200, "image/png", b"png bytes")


def test_presigned_urls_made_as_the_service_makes_them_work(s3, bucket: str, key: str) -> None:
    signer = client(s3.meta.endpoint_url, SERVICE_CONFIG)
    get = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    assert http("GET", get)[2] == b"png bytes"
    put = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "put.png"})
    # An explicit type: moto drops bodies sent as form data (urllib's default type); S3 does not.
    assert http("PUT", put, b"uploaded", {"Content-Type": "image/png"})[0] == 200
    assert s3.get_object(Bucket=bucket, Key="put.png")["Body"].read() == b"uploaded"


# Refusals


def test_a_tampered_signature_is_refused(s3, bucket: str, key: str) -> None:
    url = presign(s3, bucket, key)
    signature = urlsplit(url).query.rpartition("X-Amz-Signature=")[2]
    tampered = with_query(url, **{"X-Amz-Signature": signature[::-1]})
    assert refused("GET", tampered) == (403, "SignatureDoesNotMatch")


def test_a_url_for_another_key_is_refused(s3, bucket: str, key: str) -> None:
    url = presign(s3, bucket, key)
    other = url.replace(f"/{key}?", f"/{key}.other?")
    assert other != url
    assert refused("GET", other) == (403, "SignatureDoesNotMatch")


def test_an_expired_url_is_refused(s3, bucket: str, key: str, clock: Clock) -> None:
    url = presign(s3, bucket, key, expires=60)
    assert http("GET", url)[0] == 200
    clock.shift = 61
    status, _, body = http("GET", url)
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert ET.fromstring(body).findtext("Message") == "Request has expired"


def test_a_url_dated_in_the_future_is_refused(s3, bucket: str, key: str, clock: Clock) -> None:
    clock.shift = -16 * 60
    status, _, body = http("GET", presign(s3, bucket, key))
    assert (status, ET.fromstring(body).findtext("Message")) == (403, "Request is not valid yet")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD"])
def test_a_get_url_used_with_another_method_is_refused(s3, bucket, key, method) -> None:
    status, code = refused(
        method, presign(s3, bucket, key), b"overwrite" if method == "PUT" else None
    )
    assert status == 403
    assert code == (None if method == "HEAD" else "SignatureDoesNotMatch")  # HEAD has no body
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"png bytes"


@pytest.mark.parametrize("path", ["/", "/{bucket}", "/{bucket}/{key}"])
def test_unsigned_requests_are_refused(server: S3Server, bucket: str, key: str, path: str) -> None:
    url = server.url + path.format(bucket=bucket, key=key)
    assert refused("GET", url) == (403, "AccessDenied")


def test_an_unsigned_put_is_refused_and_stores_nothing(server: S3Server, s3, bucket: str) -> None:
    assert refused("PUT", f"{server.url}/{bucket}/anonymous", b"data") == (403, "AccessDenied")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="anonymous")["KeyCount"] == 0


def test_a_wrong_secret_key_is_refused(server: S3Server, bucket: str) -> None:
    wrong = client(server.url, secret="not-the-secret")
    assert client_error(wrong.list_objects_v2, Bucket=bucket) == (403, "SignatureDoesNotMatch")


def test_an_unknown_access_key_is_refused(server: S3Server, bucket: str) -> None:
    stranger = client(server.url, key="AKIASTRANGER")
    assert client_error(stranger.list_objects_v2, Bucket=bucket) == (403, "InvalidAccessKeyId")


@pytest.mark.parametrize("expires", ["604801", "soon", "-1"])
def test_bad_expiry_parameters_are_refused(s3, bucket: str, key: str, expires: str) -> None:
    url = with_query(presign(s3, bucket, key), **{"X-Amz-Expires": expires})
    assert refused("GET", url) == (400, "AuthorizationQueryParametersError")


def test_a_week_long_url_works(s3, bucket: str, key: str) -> None:
    assert http("GET", presign(s3, bucket, key, expires=604800))[0] == 200


def test_a_body_that_does_not_match_its_signed_hash_is_refused(server: S3Server, bucket) -> None:
    s3 = client(server.url)

    def swap_body(request, **_) -> None:
        request.body = b"swapped after signing"
        request.headers["Content-Length"] = str(len(request.body))

    s3.meta.events.register("before-send.s3.PutObject", swap_body)
    status, code = client_error(s3.put_object, Bucket=bucket, Key="swapped", Body=b"signed body")
    assert (status, code) == (400, "XAmzContentSHA256Mismatch")
    assert client(server.url).list_objects_v2(Bucket=bucket, Prefix="swapped")["KeyCount"] == 0


@pytest.mark.parametrize("minutes", [16, -16])
def test_a_skewed_request_date_is_refused(s3, bucket: str, clock: Clock, minutes: int) -> None:
    clock.shift = minutes * 60
    assert client_error(s3.list_objects_v2, Bucket=bucket) == (403, "RequestTimeTooSkewed")


def test_a_date_within_the_allowed_skew_is_accepted(s3, bucket: str, clock: Clock) -> None:
    clock.shift = 14 * 60
    assert s3.list_objects_v2(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_boto3_default_presigning_is_sigv2_which_new_buckets_refuse(s3, bucket, key) -> None:
    url = presign(s3, bucket, key, config=Config())
    assert "AWSAccessKeyId=" in url
    assert refused("GET", url) == (400, "InvalidRequest")


def test_a_conditional_write_racing_another_is_a_409() -> None:
    """The first write blocks in the hook while holding its key; the rival then meets it."""
    holding, release = threading.Event(), threading.Event()

    def hold(_key: str) -> None:
        holding.set()
        release.wait()

    server = S3Server(on_conditional_write=hold).start()
    try:
        first, rival = client(server.url), client(server.url)
        bucket = create_bucket(first)
        put = {"Bucket": bucket, "Key": "race.png", "IfNoneMatch": "*"}
        with ThreadPoolExecutor(1) as pool:
            try:
                winner = pool.submit(first.put_object, Body=b"first", **put)
                assert holding.wait(timeout=30)
                conflict = client_error(rival.put_object, Body=b"rival", **put)
            finally:
                release.set()
            winner.result()
        assert conflict == (409, "ConditionalRequestConflict")
        assert client_error(rival.put_object, Body=b"late", **put) == (412, "PreconditionFailed")
        assert rival.get_object(Bucket=bucket, Key="race.png")["Body"].read() == b"first"
    finally:
        server.stop()
