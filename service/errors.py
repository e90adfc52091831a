"""The error hierarchy: every failure the API can answer, with its HTTP status and stable code.

Mapping to HTTP happens in one place (``handler``); everything else raises these.
"""

from __future__ import annotations


class ImageGenError(Exception):
    """Base error; ``code`` is stable and documented in openapi.yaml."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer needs besides the JSON body."""
        return {}

    def to_body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class InvalidJson(ImageGenError):
    """The body is not a JSON object."""

    status_code = 400
    code = "invalid_json"


class InvalidField(ImageGenError):
    """A field is missing, of the wrong type or outside its limit."""

    status_code = 400
    code = "invalid_field"


class ModelRetired(ImageGenError):
    """The model reached end of life on Bedrock and this deployment does not enable it."""

    status_code = 400
    code = "model_retired"


class NotFound(ImageGenError):
    """No such route or object."""

    status_code = 404
    code = "not_found"


class MethodNotAllowed(ImageGenError):
    """The route exists but not for this method; ``Allow`` names the methods it takes."""

    status_code = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


class OriginNotAllowed(ImageGenError):
    """A browser's CORS preflight from an origin the stack does not list (``allowedOrigins``)."""

    status_code = 403
    code = "origin_not_allowed"


class PayloadTooLarge(ImageGenError):
    """The request body is larger than the service accepts."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ImageGenError):
    """The request body is not declared as JSON."""

    status_code = 415
    code = "unsupported_media_type"


class ContentFiltered(ImageGenError):
    """The model's content filter blocked the prompt or the image."""

    status_code = 422
    code = "content_filtered"


class RetryLater(ImageGenError):
    """A temporary refusal; ``Retry-After`` says when to try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Throttled(RetryLater):
    """Bedrock throttled us after bounded retries; the client should retry later."""

    status_code = 429
    code = "throttled"


class BedrockUnavailable(RetryLater):
    """Bedrock itself is temporarily unavailable (ServiceUnavailableException)."""

    status_code = 503
    code = "bedrock_unavailable"


class ModelRejectedRequest(ImageGenError):
    """Bedrock refused a body the service built from a request its catalogue allowed: our bug
    (a wrong catalogue limit or adapter), not the caller's, so a 5xx."""

    status_code = 502
    code = "model_rejected_request"


class ModelFailed(ImageGenError):
    """The model errored or answered with output we cannot use."""

    status_code = 502
    code = "model_error"


class StorageFailed(ImageGenError):
    """S3 refused or failed the write or the presign."""

    status_code = 502
    code = "storage_error"


class ModelUnavailable(ImageGenError):
    """The model is not usable here: access not enabled, not offered in the region, or gone."""

    status_code = 503
    code = "model_unavailable"


class ModelTimeout(ImageGenError):
    """The model did not answer inside the request's time budget."""

    status_code = 504
    code = "model_timeout"


class ResponseTooLarge(ImageGenError):
    """The answer would exceed what a Lambda can return; ``images`` lists what was made."""

    status_code = 400
    code = "response_too_large"

    def __init__(self, message: str, *, field: str, images: list[dict[str, str]]) -> None:
        super().__init__(message, field=field)
        self.images = images

    def to_body(self) -> dict:
        body = super().to_body()
        body["error"]["images"] = self.images
        return body


class WorkerFailed(ImageGenError):
    """An asynchronous job's worker stopped (crashed or timed out) before ending the job."""

    status_code = 502
    code = "worker_failed"
