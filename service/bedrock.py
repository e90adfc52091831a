"""One ``InvokeModel`` call under a deadline, every Bedrock failure mapped to a documented error.

Retries are ours, not botocore's, because every attempt is a paid model call: an attempt starts
only while the request still has time and has not been abandoned, its read timeout never
reaches past the deadline, and a read timeout is not retried (the model may still be working,
and billing, on the first attempt).

Content filtering also arrives as a 400 ``ValidationException`` (banned prompt words), so the
message is inspected before a validation error is treated as a parameter problem.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from service.errors import (
    BedrockUnavailable,
    ContentFiltered,
    ImageGenError,
    ModelFailed,
    ModelRejectedRequest,
    ModelTimeout,
    ModelUnavailable,
    Throttled,
)

logger = logging.getLogger("imagegen")

MAX_ATTEMPTS = 3
MIN_CALL_SECONDS = 1.0  # starting a paid call with less time left than this cannot succeed
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 2.0

_FILTER_MARKERS = ("content filter", "blocked", "invalid_prompts", "filter reason", "moderation")
_THROTTLED = {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
# Worth another attempt: the request never reached a model, or the model was not ready.
_RETRYABLE = {
    "ThrottlingException",
    "TooManyRequestsException",
    "ModelNotReadyException",
    "ServiceUnavailableException",
    "InternalServerException",
}
_UNAVAILABLE = {"AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException"}

ClientFor = Callable[[float], Any]  # read timeout in seconds -> a bedrock-runtime client


@dataclass(frozen=True)
class CallLimits:
    """When a request's model calls must stop: its deadline, or the moment it is abandoned."""

    deadline: float  # time.monotonic() value
    abandoned: threading.Event
    retry_after: int  # seconds, for 429/503 answers

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


class _Retryable(Exception):
    """An attempt failed in a way another attempt may fix; ``error`` is the answer if not."""

    def __init__(self, error: ImageGenError) -> None:
        super().__init__(error.message)
        self.error = error


def _unusable(model_id: str, region: str, code: str, hint: str, message: str) -> ModelUnavailable:
    """Log an actionable hint for the operator; the caller only learns the model is unusable."""
    fields = {"model": model_id, "region": region, "bedrock_error": code, "hint": hint}
    logger.error("model not usable here", extra={"fields": fields})
    return ModelUnavailable(message)


def _client_error(exc: ClientError, model_id: str, region: str, retry_after: int) -> ImageGenError:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in _THROTTLED or code == "ModelNotReadyException":
        return Throttled("Bedrock is throttling requests; retry later", retry_after=retry_after)
    if code == "ServiceUnavailableException":
        return BedrockUnavailable("Bedrock is unavailable; retry later", retry_after=retry_after)
    if code == "ValidationException":
        if any(marker in message.lower() for marker in _FILTER_MARKERS):
            return ContentFiltered("blocked by the model's content filter")
        if "model identifier is invalid" in message.lower():
            hint = f"{model_id} is not offered in {region}; deploy where it is, or pick another"
            return _unusable(
                model_id, region, code, hint, f"model {model_id} is not offered in this region"
            )
        # Our catalogue allowed the request, so a refusal is a catalogue or adapter bug.
        fields = {"model": model_id, "bedrock_error": code, "bedrock_message": message[:1000]}
        logger.error("model rejected a request the catalogue allowed", extra={"fields": fields})
        return ModelRejectedRequest(
            "the model refused a request this service built; this is a service bug (see its"
            " logs, quote the request id)"
        )
    if code in _UNAVAILABLE:
        hint = (
            f"the account has no access to {model_id} in {region} yet: make its first call"
            " with credentials allowed to subscribe to AWS Marketplace (run `make doctor`),"
            " and let the role call bedrock:InvokeModel on it; a model past end of life"
            " answers ResourceNotFound"
        )
        return _unusable(
            model_id, region, code, hint, f"model {model_id} is not available to this deployment"
        )
    if code == "ModelTimeoutException":
        return ModelTimeout("the model did not finish in time")
    return ModelFailed(f"the model failed ({code or 'unknown error'})")


def _attempt(client: Any, model_id: str, body: str, region: str, retry_after: int) -> bytes:
    try:
        response = client.invoke_model(
            modelId=model_id,
            body=body,
            contentType="application/json",
            accept="application/json",
        )
        return response["body"].read()
    except ClientError as exc:
        error = _client_error(exc, model_id, region, retry_after)
        if exc.response.get("Error", {}).get("Code", "") in _RETRYABLE:
            raise _Retryable(error) from exc
        raise error from exc
    except ReadTimeoutError as exc:  # the model may still be generating (and billing): no retry
        raise ModelTimeout("the model did not answer in time") from exc
    except (ConnectTimeoutError, EndpointConnectionError) as exc:  # nothing reached the model
        raise _Retryable(ModelFailed("could not reach Bedrock")) from exc
    except BotoCoreError as exc:
        raise ModelFailed(f"Bedrock call failed ({type(exc).__name__})") from exc


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff (the AWS SDKs' standard retry strategy)."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def invoke(
    client_for: ClientFor, model_id: str, body: dict, *, region: str, limits: CallLimits
) -> dict:
    """Call the model (at most ``MAX_ATTEMPTS`` paid attempts) and return its decoded answer."""
    encoded = json.dumps(body)
    for attempt in range(MAX_ATTEMPTS):
        left = limits.time_left()
        if limits.abandoned.is_set() or left < MIN_CALL_SECONDS:
            raise ModelTimeout("the model did not answer within the request's time budget")
        try:
            raw = _attempt(client_for(left), model_id, encoded, region, limits.retry_after)
            break
        except _Retryable as retryable:
            delay = _backoff(attempt)
            last_attempt = attempt == MAX_ATTEMPTS - 1
            if last_attempt or limits.time_left() - delay < MIN_CALL_SECONDS:
                raise retryable.error from retryable.__cause__
            if limits.abandoned.wait(delay):
                raise ModelTimeout("the request was abandoned") from retryable.__cause__
    del encoded  # an edit's body holds its input images: free them before the answer is parsed
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFailed("the model returned a body that is not JSON") from exc
    if not isinstance(payload, dict):
        raise ModelFailed("the model returned JSON that is not an object")
    return payload
