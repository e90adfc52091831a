"""Private S3 storage: write-once keys that cannot collide, SigV4 presigned GET URLs, bounded
reads of input images, and presigned POST forms for uploads that never pass through Lambda."""

from __future__ import annotations

import random
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from service.errors import NotFound, PayloadTooLarge, StorageFailed

EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# Racing conditional writes (409): a few jittered retries, well inside the storage reserve.
CONFLICT_ATTEMPTS = 4
CONFLICT_BACKOFF_SECONDS = 0.05
_YEAR = re.compile(r"\d{4}")
_MONTH_OR_DAY = re.compile(r"\d{2}")


@dataclass(frozen=True)
class StoredObject:
    """What a HEAD tells about an image stored earlier."""

    content_type: str
    bytes: int
    width: int
    height: int


@dataclass(frozen=True)
class Listed:
    """One object of a listing."""

    key: str
    last_modified: datetime
    size: int

    def order(self) -> tuple[float, str]:
        """Newest first; objects of the same second by key, so the order is total."""
        return (-self.last_modified.timestamp(), self.key)


@dataclass(frozen=True)
class UploadForm:
    """A presigned POST: the client posts ``fields`` plus ``file`` (last) to ``url``."""

    url: str
    fields: dict[str, str]


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def new_key(prefix: str, image_format: str, now: datetime) -> str:
    """``images/YYYY/MM/DD/<128-bit random id>.<ext>``: unique without coordination."""
    return f"{prefix}{now:%Y/%m/%d}/{secrets.token_hex(16)}.{EXTENSIONS[image_format]}"


class ImageStore:
    """Puts images without ever overwriting and presigns them for a limited time."""

    def __init__(self, s3, bucket: str, expiry_seconds: int) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.expiry_seconds = expiry_seconds

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str],
        *,
        exists_ok: bool = False,
    ) -> None:
        """Write once: an existing key is never overwritten (an error unless ``exists_ok``).

        S3 answers 409 ConditionalRequestConflict while another conditional write to the key is
        in flight; that write may still fail, so the put is retried a few times, until S3 says
        "stored" or "exists" (412).
        """
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    Metadata=metadata,
                    IfNoneMatch="*",
                )
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if exists_ok and code == "PreconditionFailed":
                    return
                if code == "ConditionalRequestConflict" and attempt < CONFLICT_ATTEMPTS - 1:
                    time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**attempt))
                    continue
                raise StorageFailed(f"could not store the image ({code or 'S3 error'})") from exc
            except BotoCoreError as exc:
                raise StorageFailed("could not reach image storage") from exc

    def _fetch(self, call: Callable[..., dict], key: str) -> dict | None:
        """HEAD or GET ``key``: S3's answer, or None if there is no such key."""
        try:
            return call(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise StorageFailed("could not read image storage") from exc
        except BotoCoreError as exc:
            raise StorageFailed("could not reach image storage") from exc

    def head(self, key: str) -> StoredObject | None:
        """The stored object's type, size and pixel size, or None if there is no such key."""
        head = self._fetch(self._s3.head_object, key)
        if head is None:
            return None
        metadata = head.get("Metadata", {})
        return StoredObject(
            head.get("ContentType", "application/octet-stream"),
            head.get("ContentLength", 0),
            int(metadata.get("width", 0)),
            int(metadata.get("height", 0)),
        )

    def read(self, key: str, max_bytes: int) -> bytes | None:
        """The object's bytes, or None if there is no such key; larger than ``max_bytes`` is a
        413, refused before its body is read."""
        answer = self._fetch(self._s3.get_object, key)
        if answer is None:
            return None
        body = answer["Body"]
        try:
            if answer.get("ContentLength", 0) > max_bytes:
                raise PayloadTooLarge(
                    f"the stored object {key!r} is {answer['ContentLength']} bytes; inputs may"
                    f" have at most {max_bytes}"
                )
            return body.read()
        except BotoCoreError as exc:
            raise StorageFailed("could not read image storage") from exc
        finally:
            body.close()

    def upload_form(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> UploadForm:
        """A presigned POST whose policy pins the key, the content type and the size range."""
        try:
            form = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    {"Content-Type": content_type},
                    ["content-length-range", 1, max_bytes],
                ],
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageFailed("could not sign the upload form") from exc
        return UploadForm(form["url"], dict(form["fields"]))

    def presign(self, key: str) -> str:
        try:
            return self._s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self.expiry_seconds,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageFailed("could not sign the image URL") from exc

    def origin(self) -> str:
        """The scheme and host presigned URLs point at (a page's CSP allows images from it).
        Signing is local: no request is made."""
        parts = urlsplit(self.presign(f"{self.bucket}-origin-probe"))
        return f"{parts.scheme}://{parts.netloc}"

    def _list(self, **params: str) -> Iterator[dict]:
        """Every page of a ListObjectsV2 call."""
        token: str | None = None
        try:
            while True:
                extra = {"ContinuationToken": token} if token else {}
                page = self._s3.list_objects_v2(Bucket=self.bucket, **params, **extra)
                yield page
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    return
        except ClientError as exc:
            raise StorageFailed("could not list image storage") from exc
        except BotoCoreError as exc:
            raise StorageFailed("could not reach image storage") from exc

    def _children(self, prefix: str, pattern: re.Pattern[str]) -> list[str]:
        """The sub-folders of ``prefix`` whose name matches ``pattern``, newest (largest) first."""
        names = [
            common["Prefix"][len(prefix) :].rstrip("/")
            for page in self._list(Prefix=prefix, Delimiter="/")
            for common in page.get("CommonPrefixes", [])
        ]
        return sorted((n for n in names if pattern.fullmatch(n)), reverse=True)

    def days(self, prefix: str, newest: str | None = None) -> Iterator[str]:
        """The ``YYYY/MM/DD`` folders under ``prefix`` that hold keys, newest first, from
        ``newest`` on (inclusive). Walks years, then months, then days, lazily: a page of
        recent images lists a few folders, not the whole bucket."""
        for year in self._children(prefix, _YEAR):
            if newest is not None and year > newest[:4]:
                continue
            for month in self._children(f"{prefix}{year}/", _MONTH_OR_DAY):
                day_prefix = f"{year}/{month}"
                if newest is not None and day_prefix > newest[:7]:
                    continue
                for day in self._children(f"{prefix}{day_prefix}/", _MONTH_OR_DAY):
                    folder = f"{day_prefix}/{day}"
                    if newest is None or folder <= newest:
                        yield folder

    def objects(self, prefix: str) -> list[Listed]:
        """Every object directly under ``prefix``, newest first (ties by key)."""
        found = [
            Listed(item["Key"], item["LastModified"], item.get("Size", 0))
            for page in self._list(Prefix=prefix)
            for item in page.get("Contents", [])
            if "/" not in item["Key"][len(prefix) :]
        ]
        return sorted(found, key=Listed.order)

    def metadata(self, key: str) -> dict | None:
        """HEAD ``key``: S3's answer (with its user metadata), or None if it is gone."""
        return self._fetch(self._s3.head_object, key)

    def presign_existing(self, key: str) -> str:
        """A fresh URL for an image stored earlier; 404 if there is no such image."""
        if self.head(key) is None:
            raise NotFound(f"no image with key {key!r}", field="key")
        return self.presign(key)


def utcnow() -> datetime:
    return datetime.now(UTC)
