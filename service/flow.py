"""The generation flow: validate -> adapter -> Bedrock -> store -> presign. It knows no HTTP.

Bedrock calls run in a small shared pool (Stability models make one image per call) and the
whole flow answers by a deadline, so API Gateway never cuts a request off without an answer.
Images are stored only after every call has succeeded: a failed request leaves nothing behind.

Bedrock bills per image, so when the deployment enables it, a request with an explicit seed is
answered from S3 if the very same model call was made before (same body, same model).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from service import bedrock, imageinfo
from service.adapters import ModelImage, for_family
from service.catalogue import Catalogue
from service.config import Settings
from service.errors import (
    ImageGenError,
    InvalidField,
    ModelFailed,
    ModelTimeout,
    StorageFailed,
)
from service.request import ImageRequest
from service.storage import EXTENSIONS, ImageStore, StoredObject, new_key, utcnow
from service.validation import parse_request

logger = logging.getLogger("imagegen")
# Threads are created on demand: a Lambda container (one request at a time) uses at most one per
# Bedrock call of its request (<= 4), while a multi-threaded local server is not throttled by a
# small process-wide pool. Matches the boto3 connection pool.
MAX_PARALLEL_CALLS = 32
MAX_KEY_LENGTH = 1024


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


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def cache_key(prefix: str, model_id: str, body: dict, index: int, image_format: str) -> str:
    """The same model call (id + body) at the same position always maps to the same key."""
    canonical = json.dumps([model_id, body, index], sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{prefix}cache/{digest}.{EXTENSIONS[image_format]}"


def plan_calls(request: ImageRequest) -> list[tuple[int, int]]:
    """Split the requested images into (count, seed) per Bedrock call.

    Without a seed the service picks one, so the caller always learns a seed that reproduces
    the image; consecutive calls get consecutive seeds so their images differ.
    """
    limits = request.model.limits
    base = request.seed if request.seed is not None else secrets.randbelow(limits.seed_max) + 1
    calls, done = [], 0
    while done < request.number_of_images:
        count = min(limits.images_per_call, request.number_of_images - done)
        if limits.random_seed is None:  # every seed is deterministic
            seed = (base + done) % (limits.seed_max + 1)
        elif base == limits.random_seed:  # the caller asked for random seeds
            seed = base
        else:  # stay clear of the "random" value
            seed = (base + done - 1) % limits.seed_max + 1
        calls.append((count, seed))
        done += count
    return calls


class Generator:
    """Turns a request body into stored images; one per container, reused across requests."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        bedrock_client: Any,
        store: ImageStore,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self._bedrock = bedrock_client
        self.store = store
        self._clock = clock
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_CALLS, thread_name_prefix="bedrock")

    def _cacheable(self, request: ImageRequest) -> bool:
        """Only an explicit, non-random seed makes the output reproducible."""
        return (
            self.settings.cache_seeded
            and request.seed is not None
            and request.seed != request.model.limits.random_seed
        )

    def _produce(self, request: ImageRequest, count: int, seed: int) -> list[Produced]:
        adapter = for_family(request.model.family)
        body = adapter.request_body(request, count, seed)
        keys: list[str | None] = [None] * count
        if self._cacheable(request):
            keys = [
                cache_key(
                    self.settings.key_prefix, request.invoke_id, body, i, request.output_format
                )
                for i in range(count)
            ]
            hits = [self.store.head(key) for key in keys]
            if all(hits):
                return [Produced(seed, key=k, cached=h) for k, h in zip(keys, hits, strict=True)]
        payload = bedrock.invoke(
            self._bedrock,
            request.invoke_id,
            body,
            region=self.settings.region,
            retry_after=self.settings.retry_after_seconds,
        )
        images = adapter.parse_response(payload, count, seed)
        return [
            Produced(image.seed, image=image, key=key)
            for image, key in zip(images, keys, strict=False)
        ]

    def _gather(self, futures: list[Future], deadline: float, late: ImageGenError) -> list:
        """All results by the deadline; the first failure, or ``late`` if time runs out."""
        done, pending = wait(
            futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_EXCEPTION
        )
        for future in futures:
            if future in done and future.exception() is not None:
                for other in pending:
                    other.cancel()
                raise future.exception()
        if pending:
            for other in pending:
                other.cancel()
            raise late
        return [future.result() for future in futures]

    def _store(self, request: ImageRequest, produced: Produced, now: datetime) -> StoredImage:
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
            "model": request.model.id,
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

    def generate(self, body: Any, deadline: float) -> dict[str, Any]:
        """Validate ``body``, generate, store and presign; answer by ``deadline`` (monotonic)."""
        started = time.monotonic()
        now = self._clock()
        request = parse_request(body, self.settings, self.catalogue, now.date())
        calls = plan_calls(request)
        batches = self._gather(
            [self._pool.submit(self._produce, request, count, seed) for count, seed in calls],
            deadline,
            ModelTimeout("the model did not answer within the request's time budget"),
        )
        produced = [item for batch in batches for item in batch]
        model_ms = int((time.monotonic() - started) * 1000)
        notes = list(request.notes)
        if len(produced) < request.number_of_images:
            notes.append(
                f"{request.number_of_images - len(produced)} of {request.number_of_images}"
                " images were blocked by the content filter"
            )
        stored = self._gather(
            [self._pool.submit(self._store, request, item, now) for item in produced],
            deadline,
            StorageFailed("image storage did not answer within the request's time budget"),
        )
        result = {
            "image_url": stored[0].url,
            "images": [asdict(s) for s in stored],
            "model": request.model.alias,
            "model_id": request.invoke_id,
            "expires_at": _timestamp(now + timedelta(seconds=self.store.expiry_seconds)),
            "cost": self._cost(request, stored),
        }
        if notes:
            result["notes"] = notes
        fields = {
            "model": request.invoke_id,
            "images": len(stored),
            "cache_hits": sum(s.cached for s in stored),
            "bytes": sum(s.bytes for s in stored),
            "model_ms": model_ms,
            "total_ms": int((time.monotonic() - started) * 1000),
            "estimated_usd": result["cost"]["estimated_usd"],
            "saved_usd": result["cost"]["saved_usd"],
        }
        if logger.isEnabledFor(logging.DEBUG):
            fields["prompt"] = request.prompt
        logger.info("images generated", extra={"fields": fields})
        return result

    def fresh_url(self, key: Any) -> dict[str, Any]:
        """A new presigned URL for an image generated earlier (URLs expire; images stay)."""
        prefix = self.settings.key_prefix
        if not isinstance(key, str) or not key:
            raise InvalidField("'key' is required (the key of an earlier image)", field="key")
        if len(key) > MAX_KEY_LENGTH or not key.startswith(prefix) or ".." in key:
            raise InvalidField(
                f"'key' must be an image key under '{prefix}' of at most {MAX_KEY_LENGTH}"
                " characters",
                field="key",
            )
        now = self._clock()
        return {
            "url": self.store.presign_existing(key),
            "key": key,
            "expires_at": _timestamp(now + timedelta(seconds=self.store.expiry_seconds)),
        }

    def _cost(self, request: ImageRequest, stored: list[StoredImage]) -> dict[str, Any]:
        price = request.model.price_usd_per_image
        hits = sum(s.cached for s in stored)
        return {
            "estimated_usd": round(price * (len(stored) - hits), 6),
            "saved_usd": round(price * hits, 6),
            "per_image_usd": price,
            "note": self.catalogue.price_source,
        }

    def models(self, today: date) -> dict[str, Any]:
        """The models this deployment serves, with limits, lifecycle and estimated prices."""
        models = []
        for model in self.catalogue.models:
            if not self.settings.is_allowed(model.alias, self.catalogue):
                continue
            entry = model.as_dict()
            entry["usable"] = not model.is_retired(today) or self.settings.retired_enabled(
                model.alias, self.catalogue
            )
            entry["default"] = self.catalogue.find(self.settings.default_model) is model
            models.append(entry)
        return {
            "default_model": self.settings.default_model,
            "models": models,
            "price_source": self.catalogue.price_source,
            "cache_seeded_requests": self.settings.cache_seeded,
        }
