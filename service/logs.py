"""Structured JSON logs: one object per line, with the request id and per-call fields.

Fields go in ``extra={"fields": {...}}``; prompts are logged only at DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

logger = logging.getLogger("imagegen")
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# Lambda's JSON log format filters on its own level names (TRACE, DEBUG, INFO, WARN, ERROR,
# FATAL): https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
LAMBDA_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": LAMBDA_LEVELS.get(record.levelname, record.levelname),
            "message": record.getMessage(),
        }
        current_request = request_id.get()
        if current_request:
            entry["request_id"] = current_request
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> logging.Logger:
    """Attach one JSON handler to the ``imagegen`` logger (idempotent)."""
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
