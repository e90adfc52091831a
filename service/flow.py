"""The image flow: validate -> adapter -> Bedrock -> store -> presign. It knows no HTTP.

Generating and editing are the same flow: each request names a ``Target`` (a model, or an
editing operation with its input images), and the family's adapter builds the Bedrock body.

Bedrock calls run in a shared pool (one image per call, so every reported seed reproduces its
image) and the whole flow answers by a deadline, so API Gateway never cuts a request off without
an answer. The model phase ends early enough to leave storage a reserve, and an abandoned
request makes no further model calls. Images are stored only after every model call has
answered; a storage failure part-way can leave complete images of that request, which the
bucket's lifecycle expires.

Content filtering follows one rule for every family: the images that passed are returned with a
note saying how many were blocked; if none passed, the request is a 422.

Bedrock bills per image, so when the deployment enables it, a request with an explicit seed is
answered from S3 if the very same model call was made before (same body, same model), under a
key derived with the deployment's secret so it cannot be guessed from the prompt.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from service import bedrock, imageinfo, inputs
from service.adapters import ModelImage, for_family
from service.catalogue import Catalogue
from service.config import Settings
from service.edits import parse_edit
from service.errors import (
    ContentFiltered,
    ImageGenError,
    InvalidField,
    ModelFailed,
    ModelTimeout,
    NotFound,
    StorageFailed,
)
from service.job_queue import JobQueue
from service.jobs import JobStore
from service.request import EditRequest, ImageRequest
from service.storage import EXTENSIONS, ImageStore, Listed, StoredObject, new_key, utcnow
from service.validation import parse_request

logger = logging.getLogger("imagegen")
# Threads are created on demand: a Lambda container (one request at a time) uses at most one per
# Bedrock call of its request (<= 10), while a multi-threaded local server is not throttled by a
# small process-wide pool. Matches the boto3 connection pool.
MAX_PARALLEL_CALLS = 32
# Time kept back from the model phase for storing and presigning: at most this, or a quarter of
# a short budget.
STORAGE_RESERVE_SECONDS = 2.0
FINGERPRINT_OVER = 16 * 1024  # body members longer than this enter cache keys as a digest


@dataclass(frozen=True)
class StoredImage:
    url: str
    key: str
    width: int
    height: int
    seed: int
    content_type: str
    bytes: int
    cached: bool


@dataclass(frozen=True)
class Produced:
    """One image of the answer: fresh from the model, or already in S3 from an earlier call."""

    seed: int
    image: ModelImage | None = None
    key: str | None = None  # a deterministic cache key, or None for a fresh random key
    cached: StoredObject | None = None


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Batch:
    """What one model call gave: its images, or how many it had blocked and why."""

    produced: list[Produced] = field(default_factory=list)
    blocked: int = 0
    filter_message: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one request made, before it is shaped into an answer (ours or OpenAI's)."""

    request: ImageRequest | EditRequest
    stored: list[StoredImage]
    data: list[bytes | None]  # each image's bytes if fresh from the model; None if cached
    notes: tuple[str, ...]
    created: datetime

    @property
    def cost(self) -> dict[str, Any]:
        target = self.request.target
        price = target.price_usd_per_image
        hits = sum(s.cached for s in self.stored)
        return {
            "estimated_usd": round(price * (len(self.stored) - hits), 6),
            "saved_usd": round(price * hits, 6),
            "per_image_usd": price,
            "note": target.price_source,
        }


GALLERY_DEFAULT_LIMIT = 24
GALLERY_MAX_LIMIT = 100
_DAY = re.compile(r"\d{4}/\d{2}/\d{2}")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def gallery_limit(value: str | None) -> int:
    """``limit`` of ``GET /images``: 1..100, 24 if absent."""
    if value is None:
        return GALLERY_DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= GALLERY_MAX_LIMIT:
        raise InvalidField(
            f"'limit' must be a whole number from 1 to {GALLERY_MAX_LIMIT}", field="limit"
        )
    return int(value)


def encode_cursor(day: str, item: Listed) -> str:
    """Where the next page starts: after ``item`` of ``day``, in the listing's order."""
    raw = json.dumps([day, item.last_modified.timestamp(), item.key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def gallery_cursor(value: str | None) -> tuple[str, tuple[float, str]] | None:
    """The day and the position (``Listed.order``) a ``cursor`` stands for."""
    if value is None:
        return None
    try:
        if len(value) > 2048:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        day, stamp, key = json.loads(raw)
        if not (isinstance(day, str) and _DAY.fullmatch(day) and isinstance(key, str)):
            raise ValueError(day)
        return day, (-float(stamp), key)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidField(
            "'cursor' is not a cursor of this listing; pass next_cursor from the previous page",
            field="cursor",
        ) from None


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _fingerprint(value: Any) -> Any:
    """Long text (an image's base64) by its SHA-256; anything else as it is."""
    if isinstance(value, str) and len(value) > FINGERPRINT_OVER:
        return "sha256:" + hashlib.sha256(value.encode("ascii", "replace")).hexdigest()
    return value


def cache_key(
    secret: bytes, prefix: str, model_id: str, body: dict, index: int, image_format: str
) -> str:
    """The same model call (id + body) at the same position maps to the same key; without the
    deployment's secret nobody can derive the key from a guessed prompt and seed. An edit's
    input images count by their digest, so the key costs no copy of megabytes of base64."""
    shown = {name: _fingerprint(value) for name, value in body.items()}
    canonical = json.dumps([model_id, shown, index], sort_keys=True, separators=(",", ":"))
    digest = hmac.new(secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}cache/{digest}.{EXTENSIONS[image_format]}"


def model_deadline(deadline: float, now: float) -> float:
    """The moment the model phase must end so storage keeps its reserve."""
    return deadline - min(STORAGE_RESERVE_SECONDS, max(0.0, deadline - now) / 4)


Request = ImageRequest | EditRequest
UPLOAD_CONTENT_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
UPLOAD_EXPIRY_SECONDS = 900  # the upload form's lifetime; the object lives as long as images


def plan_calls(request: Request) -> list[tuple[int, int]]:
    """Split the requested images into (count, seed) per Bedrock call.

    Without a seed the service picks one, so the caller always learns a seed that reproduces
    the image; consecutive calls get consecutive seeds so their images differ.
    """
    target = request.target
    if target.seed_max is None:  # the service takes no seed
        return [(1, 0)] * request.number_of_images
    base = request.seed if request.seed is not None else secrets.randbelow(target.seed_max) + 1
    calls, done = [], 0
    while done < request.number_of_images:
        count = min(target.images_per_call, request.number_of_images - done)
        if target.random_seed is None:  # every seed is deterministic
            seed = (base + done) % (target.seed_max + 1)
        elif base == target.random_seed:  # the caller asked for random seeds
            seed = base
        else:  # stay clear of the "random" value
            seed = (base + done - 1) % target.seed_max + 1
        calls.append((count, seed))
        done += count
    return calls


class Generator:
    """Turns a request body into stored images; one per container, reused across requests."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        bedrock_client_for: bedrock.ClientFor,
        store: ImageStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        jobs: JobStore | None = None,
        queue: JobQueue | None = None,
    ) -> None:
        """``jobs`` and ``queue`` serve asynchronous requests (``service.job_api``): where
        jobs live, and how they reach their worker (None: this deployment runs no jobs)."""
        self.settings = settings
        self.jobs = jobs
        self.queue = queue
        self.catalogue = catalogue
        self.bedrock = bedrock_client_for
        self.store = store
        self._clock = clock
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_CALLS, thread_name_prefix="bedrock")

    def close(self) -> None:
        """Wait for running calls and stop the pool's threads (for servers and tests)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn`` in the pool with the caller's context, so logs keep the request id."""
        return self._pool.submit(contextvars.copy_context().run, fn, *args)

    def _cacheable(self, request: Request) -> bool:
        """Only an explicit, non-random seed makes the output reproducible."""
        return (
            self.settings.cache_seeded
            and request.seed is not None
            and request.seed != request.target.random_seed
        )

    def _produce(
        self, request: Request, count: int, seed: int, limits: bedrock.CallLimits
    ) -> Batch:
        target = request.target
        adapter = for_family(target.family)
        body = adapter.request_body(request, count, seed)
        keys: list[str | None] = [None] * count
        if self._cacheable(request):
            keys = [
                cache_key(
                    self.settings.cache_secret,
                    self.settings.key_prefix,
                    target.invoke_id,
                    body,
                    i,
                    request.output_format,
                )
                for i in range(count)
            ]
            hits = [self.store.head(key) for key in keys]
            if all(hits):
                return Batch(
                    [Produced(seed, key=k, cached=h) for k, h in zip(keys, hits, strict=True)]
                )
        try:
            payload = bedrock.invoke(
                self.bedrock, target.invoke_id, body, region=self.settings.region, limits=limits
            )
            images = adapter.parse_response(payload, count, seed)
        except ContentFiltered as blocked:
            return Batch(blocked=count, filter_message=blocked.message)
        produced = [
            Produced(image.seed, image=image, key=key)
            for image, key in zip(images, keys, strict=False)
        ]
        return Batch(produced, blocked=count - len(produced))

    def _gather(
        self, futures: list[Future], deadline: float, late: ImageGenError, abandon: threading.Event
    ) -> list:
        """All results by the deadline; the first failure, or ``late`` if time runs out.

        Either way ``abandon`` is set, so calls still running start no new paid attempt.
        """
        done, pending = wait(
            futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_EXCEPTION
        )
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None or pending:
            abandon.set()
            for other in pending:
                other.cancel()
            raise failed.exception() if failed is not None else late
        return [future.result() for future in futures]

    def _store(self, request: Request, produced: Produced, now: datetime) -> StoredImage:
        if produced.cached is not None:
            hit = produced.cached
            return StoredImage(
                self.store.presign(produced.key),
                produced.key,
                hit.width,
                hit.height,
                produced.seed,
                hit.content_type,
                hit.bytes,
                True,
            )
        image = produced.image
        try:
            info = imageinfo.inspect(image.data)
        except imageinfo.NotAnImage as exc:
            raise ModelFailed(f"the model returned data that is not an image ({exc})") from exc
        key = produced.key or new_key(self.settings.key_prefix, info.format, now)
        content_type = f"image/{info.format}"
        metadata = {
            "model": request.target.model_id,
            "seed": str(image.seed),
            "prompt-sha256": prompt_digest(request.prompt),
            "width": str(info.width),
            "height": str(info.height),
        }
        # A cache key may be written concurrently by an identical request: same bytes, fine.
        self.store.put(key, image.data, content_type, metadata, exists_ok=produced.key is not None)
        return StoredImage(
            self.store.presign(key),
            key,
            info.width,
            info.height,
            image.seed,
            content_type,
            len(image.data),
            False,
        )

    def now(self) -> datetime:
        return self._clock()

    def today(self) -> date:
        """The date that decides which models have reached end of life."""
        return self._clock().date()

    def generation(self, body: Any) -> ImageRequest:
        """Validate a ``POST /images`` body (a 400 names the field)."""
        return parse_request(body, self.settings, self.catalogue, self.today())

    def editing(self, body: Any, source: inputs.InputSource | None = None) -> EditRequest:
        """Validate a ``POST /images/edits`` body and read its input images: keys from this
        deployment's S3 prefixes, or from ``source`` (images that came with the request)."""
        source = source or inputs.InputSource(
            (self.settings.key_prefix, self.settings.upload_prefix), self.store.read
        )
        return parse_edit(body, self.settings, self.catalogue, self.today(), source)

    def generate(self, body: Any, deadline: float) -> dict[str, Any]:
        """Validate ``body``, generate, store and presign; answer by ``deadline`` (monotonic)."""
        started = time.monotonic()
        return self.describe(self.run(self.generation(body), deadline, started))

    def edit(self, body: Any, deadline: float) -> dict[str, Any]:
        """Validate ``body`` and read its input images, edit, store and presign, by ``deadline``."""
        started = time.monotonic()
        return self.describe(self.run(self.editing(body), deadline, started))

    def run(self, request: Request, deadline: float, started: float | None = None) -> Outcome:
        """Make, store and presign the request's images by ``deadline`` (monotonic); ``started``
        is when the request arrived, if earlier (validation may have read input images)."""
        started = time.monotonic() if started is None else started
        now = self._clock()
        target = request.target
        abandon = threading.Event()
        limits = bedrock.CallLimits(
            model_deadline(deadline, started), abandon, self.settings.retry_after_seconds
        )
        batches: list[Batch] = self._gather(
            [
                self._submit(self._produce, request, count, seed, limits)
                for count, seed in plan_calls(request)
            ],
            limits.deadline,
            ModelTimeout("the model did not answer within the request's time budget"),
            abandon,
        )
        produced = [item for batch in batches for item in batch.produced]
        blocked = sum(batch.blocked for batch in batches)
        if not produced:
            reason = next((b.filter_message for b in batches if b.filter_message), None)
            raise ContentFiltered(reason or "blocked by the model's content filter")
        model_ms = int((time.monotonic() - started) * 1000)
        notes = list(request.notes)
        if blocked:
            notes.append(
                f"{blocked} of {request.number_of_images} images were blocked by the model's"
                " content filter; the others are returned"
            )
        stored = self._gather(
            [self._submit(self._store, request, item, now) for item in produced],
            deadline,
            StorageFailed("image storage did not answer within the request's time budget"),
            abandon,
        )
        outcome = Outcome(
            request,
            stored,
            [item.image.data if item.image is not None else None for item in produced],
            tuple(notes),
            now,
        )
        fields = {
            "model": target.invoke_id,
            "images": len(stored),
            "blocked": blocked,
            "cache_hits": sum(s.cached for s in stored),
            "bytes": sum(s.bytes for s in stored),
            "model_ms": model_ms,
            "total_ms": int((time.monotonic() - started) * 1000),
            "estimated_usd": outcome.cost["estimated_usd"],
            "saved_usd": outcome.cost["saved_usd"],
        }
        if isinstance(request, EditRequest):
            fields["operation"] = request.operation.operation
        if logger.isEnabledFor(logging.DEBUG):
            fields["prompt"] = request.prompt
        logger.info("images generated", extra={"fields": fields})
        return outcome

    def describe(self, outcome: Outcome) -> dict[str, Any]:
        """The answer of ``POST /images`` and ``POST /images/edits`` (openapi.yaml)."""
        request, stored = outcome.request, outcome.stored
        result: dict[str, Any] = {}
        if isinstance(request, EditRequest):
            result["operation"] = request.operation.operation
        result |= {
            "image_url": stored[0].url,
            "images": [asdict(s) for s in stored],
            "model": request.target.name,
            "model_id": request.target.invoke_id,
            "expires_at": _timestamp(
                outcome.created + timedelta(seconds=self.store.expiry_seconds)
            ),
            "cost": outcome.cost,
        }
        if outcome.notes:
            result["notes"] = list(outcome.notes)
        return result

    def _expiry(self, created: datetime) -> str:
        return _timestamp(created + timedelta(seconds=self.store.expiry_seconds))

    def image_data(self, outcome: Outcome) -> list[bytes]:
        """Every image's bytes: fresh ones as the model gave them, cached ones read back."""
        return [
            data if data is not None else self._read_back(image.key, image.bytes)
            for image, data in zip(outcome.stored, outcome.data, strict=True)
        ]

    def _read_back(self, key: str, size: int) -> bytes:
        data = self.store.read(key, size)
        if data is None:  # expired between the HEAD that found it and now
            raise StorageFailed(f"the cached image {key!r} is gone; try again")
        return data

    def upload(self, body: Any) -> dict[str, Any]:
        """A presigned POST for one input image, so large inputs go to S3, not through Lambda."""
        if self.settings.allowed_operations == ():
            raise NotFound("uploads are for editing, which this deployment turns off")
        if not isinstance(body, dict) or set(body) - {"content_type"}:
            raise InvalidField(
                'the body must be {"content_type": "image/png"} (or image/jpeg, image/webp)',
                field="body",
            )
        content_type = body.get("content_type")
        if not isinstance(content_type, str) or content_type not in UPLOAD_CONTENT_TYPES:
            raise InvalidField(
                f"'content_type' must be one of {', '.join(UPLOAD_CONTENT_TYPES)}",
                field="content_type",
            )
        now = self._clock()
        key = new_key(self.settings.upload_prefix, UPLOAD_CONTENT_TYPES[content_type], now)
        form = self.store.upload_form(
            key, content_type, inputs.MAX_INPUT_BYTES, UPLOAD_EXPIRY_SECONDS
        )
        return {
            "url": form.url,
            "fields": form.fields,
            "key": key,
            "content_type": content_type,
            "max_bytes": inputs.MAX_INPUT_BYTES,
            "expires_at": _timestamp(now + timedelta(seconds=UPLOAD_EXPIRY_SECONDS)),
        }

    def fresh_url(self, key: Any) -> dict[str, Any]:
        """A new presigned URL for an image generated earlier (URLs expire; images stay)."""
        if not isinstance(key, str) or not key:
            raise InvalidField("'key' is required (the key of an earlier image)", field="key")
        inputs.check_key(key, "key", (self.settings.key_prefix,))
        now = self._clock()
        return {
            "url": self.store.presign_existing(key),
            "key": key,
            "expires_at": self._expiry(now),
        }

    def gallery(self, query: dict[str, str] | None) -> dict[str, Any]:
        """``GET /images``: this deployment's images, newest first, a page at a time.

        Keys are ``<prefix>YYYY/MM/DD/<random>``, which S3 lists in key order only, so the
        listing walks the day folders newest first and sorts each day's objects by
        LastModified (ties by key). The opaque cursor is the last item's day, time and key.
        Seeded-cache objects (``<prefix>cache/``) are not listed: they are shared by every
        identical request, carry no date in their key (only listing the whole cache would
        order them) and may have been made for another caller; uploads are inputs, not images
        this service made. Each item's metadata comes from a HEAD, made in parallel.
        """
        query = query or {}
        limit = gallery_limit(query.get("limit"))
        after = gallery_cursor(query.get("cursor"))
        prefix = self.settings.key_prefix
        wanted: list[tuple[str, Listed]] = []
        for day in self.store.days(prefix, after[0] if after else None):
            for item in self.store.objects(f"{prefix}{day}/"):
                if after and day == after[0] and item.order() <= after[1]:
                    continue
                wanted.append((day, item))
                if len(wanted) > limit:
                    break
            if len(wanted) > limit:
                break
        page, more = wanted[:limit], len(wanted) > limit
        heads = [self._submit(self.store.metadata, item.key) for _, item in page]
        images = []
        for (_, item), future in zip(page, heads, strict=True):
            head = future.result()
            if head is None:  # expired between the listing and the HEAD
                continue
            metadata = head.get("Metadata", {})
            images.append(
                {
                    "key": item.key,
                    "url": self.store.presign(item.key),
                    "width": _int_or_none(metadata.get("width")),
                    "height": _int_or_none(metadata.get("height")),
                    "model": metadata.get("model"),
                    "seed": _int_or_none(metadata.get("seed")),
                    "content_type": head.get("ContentType", "application/octet-stream"),
                    "bytes": head.get("ContentLength", item.size),
                    "created_at": _timestamp(item.last_modified.astimezone(UTC)),
                }
            )
        next_cursor = None
        if more and page:
            day, last = page[-1]
            next_cursor = encode_cursor(day, last)
        return {
            "images": images,
            "next_cursor": next_cursor,
            "expires_at": self._expiry(self._clock()),
        }

    def models(self, today: date) -> dict[str, Any]:
        """The models this deployment serves, with limits, lifecycle and estimated prices."""
        models = []
        for model in self.catalogue.models:
            if not self.settings.is_allowed(model.alias, self.catalogue):
                continue
            entry = model.as_dict()
            # What this deployment accepts, not only what the model could do.
            entry["limits"]["max_images"] = min(model.limits.max_images, self.settings.max_images)
            entry["usable"] = self.settings.usable(model, self.catalogue, today)
            entry["default"] = self.catalogue.find(self.settings.default_model) is model
            models.append(entry)
        operations = []
        for operation in self.catalogue.operations:
            if not self.settings.operation_allowed(operation.operation):
                continue
            entry = operation.as_dict()
            entry["usable"] = self.settings.operation_usable(operation, today)
            entry["invoke_id"] = operation.invoke_id(self.settings.region)
            operations.append(entry)
        return {
            "default_model": self.settings.default_model,
            "models": models,
            "operations": operations,
            "uploads": {
                "content_types": list(UPLOAD_CONTENT_TYPES) if operations else [],
                "max_bytes": inputs.MAX_INPUT_BYTES,
            },
            "price_source": self.catalogue.price_source,
            "cache_seeded_requests": self.settings.cache_seeded,
        }
