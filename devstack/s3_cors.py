"""CORS as S3 evaluates it, for the local S3 front: moto's own check grants what S3 refuses.

moto answers a preflight for a bucket without CORS configuration with 200, ignores the requested
method and headers, and refuses a preflight when any rule (not the first matching one) names
other origins. S3 [cors][options]:

- a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is not signed.
  S3 takes the first rule whose ``AllowedOrigin`` matches the origin (each may hold one ``*``
  wildcard), whose ``AllowedMethod`` holds the requested method, and whose ``AllowedHeader``
  entries match every header of ``Access-Control-Request-Headers`` (without case; ``*``
  wildcards). Granted: 200 with ``Access-Control-Allow-Origin`` (the origin), ``-Allow-Methods``,
  ``-Allow-Headers`` (the requested ones), ``-Expose-Headers`` and ``-Max-Age`` from the rule.
  A bucket without CORS configuration, or no rule matching: 403, with no ``Access-Control-``
  header [options]; the error code and message are those seen from S3 [seen-403]. Without
  ``Origin`` or the requested method (both required [options]): 400 (code and message
  unverified);
- any other request with an ``Origin`` that a rule matches (origin and the request's method)
  gets the same headers but ``-Allow-Headers`` on its answer, refusals included; one no rule
  matches is answered without them, which the browser then refuses to show to the page.

[cors] https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html ("How does Amazon S3
  evaluate the CORS configuration on a bucket?") and .../ManageCorsUsing.html
[options] https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html
[seen-403] "CORSResponse: This CORS request is not allowed...", as moto reproduces it
  (moto/s3/responses.py) and https://github.com/aws/aws-sdk-js/issues/1386
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from devstack.s3_errors import S3Error

NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of"
    " Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers"
    " are not whitelisted by the resource's CORS spec."
)


def preflight(bucket: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a granted preflight to ``bucket``; raises the S3Error S3 answers instead."""
    origin = headers.get("origin")
    method = headers.get("access-control-request-method")
    if not origin or not method:
        raise S3Error(400, "BadRequest", "Insufficient information. Origin request header needed.")
    requested = [h.strip() for h in headers.get("access-control-request-headers", "").split(",")]
    requested = [h for h in requested if h]
    rules = _rules(bucket)
    if not rules:
        raise S3Error(403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
    for rule in rules:
        if _matches(rule, origin, method) and all(_allows_header(rule, h) for h in requested):
            granted = _granted(rule, origin)
            if requested:
                granted["Access-Control-Allow-Headers"] = ", ".join(requested)
            return granted
    raise S3Error(403, "AccessForbidden", NOT_ALLOWED)


def grant(bucket: str, origin: str | None, method: str) -> dict[str, str]:
    """The CORS headers of an answer to a (non-preflight) request, or none."""
    if not origin:
        return {}
    for rule in _rules(bucket):
        if _matches(rule, origin, method):
            return _granted(rule, origin)
    return {}


def _rules(bucket: str) -> Sequence[Any]:
    """moto's CorsRule objects of ``bucket`` (none for a bucket that does not exist)."""
    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is None:
        return ()
    partition, account_id = owner
    try:
        return s3_backends[account_id][partition].get_bucket(bucket).cors
    except MissingBucket:
        return ()


def _matches(rule: Any, origin: str, method: str) -> bool:
    return method in (rule.allowed_methods or ()) and any(
        _wildcard_match(allowed, origin) for allowed in rule.allowed_origins or ()
    )


def _allows_header(rule: Any, name: str) -> bool:
    return any(
        _wildcard_match(allowed, name, ignore_case=True) for allowed in rule.allowed_headers or ()
    )


def _granted(rule: Any, origin: str) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if rule.exposed_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.exposed_headers)
    if rule.max_age_seconds is not None:
        headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    return headers


def _wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """S3's ``*`` wildcard: any run of characters."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None
