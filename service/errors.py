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


class ModelRejectedRequest(ImageGenError):
    """Bedrock refused the parameters (a limit our catalogue did not know)."""

    status_code = 400
    code = "model_rejected_request"


class NotFound(ImageGenError):
    """No such route or object."""

    status_code = 404
    code = "not_found"


class MethodNotAllowed(ImageGenError):
    """The route exists but not for this method."""

    status_code = 405
    code = "method_not_allowed"


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


class Throttled(ImageGenError):
    """Bedrock throttled us after bounded retries; the client should retry later."""

    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
