"""One ``InvokeModel`` call, with every Bedrock failure mapped to a documented error.

Content filtering also arrives as a 400 ``ValidationException`` (banned prompt words), so the
message is inspected before a validation error is treated as a parameter problem.
"""

from __future__ import annotations

import json
import logging

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from service.errors import (
    ContentFiltered,
    ImageGenError,
    ModelFailed,
    ModelRejectedRequest,
    ModelTimeout,
    ModelUnavailable,
    Throttled,
)

logger = logging.getLogger("imagegen")

_FILTER_MARKERS = ("content filter", "blocked", "invalid_prompts", "filter reason", "moderation")
_THROTTLED = {
    "ThrottlingException",
    "ServiceQuotaExceededException",
    "ModelNotReadyException",
    "TooManyRequestsException",
}
_UNAVAILABLE = {"AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException"}


def _unusable(model_id: str, region: str, code: str, hint: str, message: str) -> ModelUnavailable:
    """Log an actionable hint for the operator; the caller only learns the model is unusable."""
    fields = {"model": model_id, "region": region, "bedrock_error": code, "hint": hint}
    logger.error("model not usable here", extra={"fields": fields})
    return ModelUnavailable(message)


def _client_error(exc: ClientError, model_id: str, region: str, retry_after: int) -> ImageGenError:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in _THROTTLED:
        return Throttled("Bedrock is throttling requests; retry later", retry_after=retry_after)
    if code == "ValidationException":
        if any(marker in message.lower() for marker in _FILTER_MARKERS):
            return ContentFiltered("blocked by the model's content filter")
        if "model identifier is invalid" in message.lower():
            hint = f"{model_id} is not offered in {region}; deploy where it is, or pick another"
            return _unusable(
                model_id, region, code, hint, f"model {model_id} is not offered in this region"
            )
        return ModelRejectedRequest(f"the model rejected the request: {message[:300]}")
    if code in _UNAVAILABLE:
        hint = (
            f"enable access to {model_id} in the Bedrock console ({region}) and let the role call"
            " bedrock:InvokeModel on it; a model past end of life answers ResourceNotFound"
        )
        return _unusable(
            model_id, region, code, hint, f"model {model_id} is not available to this deployment"
        )
    if code == "ModelTimeoutException":
        return ModelTimeout("the model did not finish in time")
    return ModelFailed(f"the model failed ({code or 'unknown error'})")


def invoke(client, model_id: str, body: dict, *, region: str, retry_after: int) -> dict:
    """Call the model and return its decoded JSON answer."""
    try:
        response = client.invoke_model(
            modelId=model_id,
            body=json.dumps(body),
            contentType="application/json",
            accept="application/json",
        )
        raw = response["body"].read()
    except ClientError as exc:
        raise _client_error(exc, model_id, region, retry_after) from exc
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        raise ModelTimeout("the model did not answer in time") from exc
    except EndpointConnectionError as exc:
        raise ModelFailed("could not reach Bedrock") from exc
    except BotoCoreError as exc:
        raise ModelFailed(f"Bedrock call failed ({type(exc).__name__})") from exc
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFailed("the model returned a body that is not JSON") from exc
    if not isinstance(payload, dict):
        raise ModelFailed("the model returned JSON that is not an object")
    return payload
