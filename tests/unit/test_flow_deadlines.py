"""The flow answers by its deadline even when a dependency hangs (fakes, no servers)."""

import base64
import io
import json
import threading
import time

import pytest
from PIL import Image

from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import ModelTimeout, StorageFailed
from service.flow import Generator
from service.storage import ImageStore


def png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


class FakeBedrock:
    def __init__(self, release: threading.Event, hang: bool) -> None:
        self.release, self.hang = release, hang

    def invoke_model(self, **kwargs):
        if self.hang:
            self.release.wait()
        body = json.dumps({"seeds": [1], "finish_reasons": [None], "images": [png()]})
        return {"body": io.BytesIO(body.encode())}


class FakeS3:
    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def put_object(self, **kwargs):
        self.release.wait()

    def generate_presigned_url(self, *args, **kwargs):
        return "https://example/presigned"


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()  # let the abandoned worker threads finish


def generator(bedrock, s3) -> Generator:
    catalogue = default_catalogue()
    settings = Settings.from_env(
        {"IMAGEGEN_BUCKET": "bucket", "AWS_REGION": "us-west-2"}, catalogue
    )
    return Generator(settings, catalogue, bedrock, ImageStore(s3, "bucket", 60))


def test_a_hanging_model_is_a_model_timeout_at_the_deadline(release):
    flow = generator(FakeBedrock(release, hang=True), FakeS3(release))
    started = time.monotonic()
    with pytest.raises(ModelTimeout):
        flow.generate({"prompt": "a"}, deadline=time.monotonic() + 0.2)
    assert time.monotonic() - started < 5


def test_hanging_storage_is_a_storage_error_at_the_deadline(release):
    flow = generator(FakeBedrock(release, hang=False), FakeS3(release))
    with pytest.raises(StorageFailed, match="did not answer"):
        flow.generate({"prompt": "a"}, deadline=time.monotonic() + 0.2)
