"""The flow's deadlines, threads and content-filter rule, with fakes (no servers)."""

import base64
import io
import json
import logging
import threading
import time

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from service.catalogue import default_catalogue
from service.config import Settings
from service.errors import ContentFiltered, ModelFailed, ModelTimeout, StorageFailed
from service.flow import STORAGE_RESERVE_SECONDS, Generator
from service.logs import JsonFormatter, request_id
from service.storage import ImageStore


def png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


class FakeBedrock:
    """Answers like Stable Image Core; hangs until released, or filters the listed calls."""

    def __init__(self, release: threading.Event, hang: bool, filtered: set[int] = frozenset()):
        self.release, self.hang, self.filtered = release, hang, filtered
        self.calls = 0
        self.read_timeouts: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, read_timeout: float) -> "FakeBedrock":
        self.read_timeouts.append(read_timeout)
        return self

    def invoke_model(self, **kwargs):
        with self._lock:
            call, self.calls = self.calls, self.calls + 1
        logging.getLogger("imagegen").info("fake model call")
        if self.hang:
            self.release.wait()
        if call in self.filtered:
            body = json.dumps({"finish_reasons": ["Filter reason: output image"]})
        else:
            body = json.dumps({"seeds": [1], "finish_reasons": [None], "images": [png()]})
        return {"body": io.BytesIO(body.encode())}


class FakeS3:
    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def put_object(self, **kwargs):
        self.release.wait()

    def head_object(self, **kwargs):
        raise AssertionError("no cache in these tests")

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


def test_a_hanging_model_is_a_model_timeout_before_the_deadline(release):
    flow = generator(FakeBedrock(release, hang=True), FakeS3(release))
    deadline = time.monotonic() + 1.5
    with pytest.raises(ModelTimeout):
        flow.generate({"prompt": "a"}, deadline=deadline)
    assert time.monotonic() < deadline  # storage's reserve was kept


def test_the_model_phase_leaves_storage_a_reserve(release):
    release.set()
    fake = FakeBedrock(release, hang=False)
    flow = generator(fake, FakeS3(release))
    flow.generate({"prompt": "a"}, deadline=time.monotonic() + 20)
    assert fake.read_timeouts and max(fake.read_timeouts) <= 20 - STORAGE_RESERVE_SECONDS


class FailFastThenThrottle:
    """Call 0 fails at once (not retryable); the others are throttled, but only once released."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, read_timeout: float) -> "FailFastThenThrottle":
        return self

    def invoke_model(self, **kwargs):
        with self._lock:
            call, self.calls = self.calls, self.calls + 1
        code = "ModelErrorException" if call == 0 else "ThrottlingException"
        if call:
            self.release.wait()
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "InvokeModel")


def test_a_failed_request_starts_no_further_paid_call_in_its_other_threads(release):
    """Once the answer is decided, the calls still running are abandoned: none is retried,
    though time is left for retries."""
    fake = FailFastThenThrottle(release)
    flow = generator(fake, FakeS3(release))
    with pytest.raises(ModelFailed):
        flow.generate({"prompt": "a", "number_of_images": 4}, deadline=time.monotonic() + 20)
    release.set()  # the other three are now throttled: they must not try again
    flow.close()
    assert fake.calls == 4


def test_hanging_storage_is_a_storage_error_at_the_deadline(release):
    flow = generator(FakeBedrock(release, hang=False), FakeS3(release))
    with pytest.raises(StorageFailed, match="did not answer"):
        flow.generate({"prompt": "a"}, deadline=time.monotonic() + 1.5)


def test_images_that_passed_the_filter_are_returned_with_a_note(release):
    release.set()
    flow = generator(FakeBedrock(release, hang=False, filtered={1, 2}), FakeS3(release))
    answer = flow.generate({"prompt": "a", "number_of_images": 4}, time.monotonic() + 20)
    assert len(answer["images"]) == 2
    assert "2 of 4 images were blocked" in answer["notes"][0]


def test_a_request_whose_every_image_is_blocked_is_a_422(release):
    release.set()
    flow = generator(FakeBedrock(release, hang=False, filtered={0, 1}), FakeS3(release))
    with pytest.raises(ContentFiltered, match="Filter reason: output image"):
        flow.generate({"prompt": "a", "number_of_images": 2}, time.monotonic() + 20)


def test_log_lines_written_in_pool_threads_carry_the_request_id(release):
    release.set()
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())  # formats in the thread that logs, as in Lambda
    logger = logging.getLogger("imagegen")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # whatever earlier tests configured
    flow = generator(FakeBedrock(release, hang=False), FakeS3(release))
    token = request_id.set("req-123")
    try:
        flow.generate({"prompt": "a"}, time.monotonic() + 20)
    finally:
        request_id.reset(token)
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    call = next(line for line in lines if line["message"] == "fake model call")
    assert call["request_id"] == "req-123"
