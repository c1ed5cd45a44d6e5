"""Turn what a server said into our typed errors, in one place.

Both error bodies parse: Ark's ``{"error":{"code","message","param","type"}}`` and
302.AI's ``{"error":{"err_code":-10008,"message","message_cn",...,"type"}}``. A body
that is not JSON (an HTML page from a proxy) still gives the typed error, with a
short snippet of the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)

__all__ = [
    "NON_RETRYABLE_CODES",
    "error_from_payload",
    "error_from_response",
    "server_request_id",
]

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}

# Error codes that only a person can fix (pay, raise a limit): never retried.
NON_RETRYABLE_CODES = frozenset(
    {"QuotaExceeded", "SetLimitExceeded", "AccountOverdueError", "insufficient_quota"}
)

# For errors inside a 200 stream, the code decides the class (anthropic #1918:
# an overload in a stream must still be a rate-limit error to code that catches one).
_BY_CODE_PREFIX: tuple[tuple[str, type[APIStatusError]], ...] = (
    ("RateLimitExceeded", RateLimitError),
    ("ModelAccountRpmRateLimitExceeded", RateLimitError),
    ("ModelAccountTpmRateLimitExceeded", RateLimitError),
    ("APIAccountRpmRateLimitExceeded", RateLimitError),
    ("AccountRateLimitExceeded", RateLimitError),
    ("ServerOverloaded", RateLimitError),
    ("QuotaExceeded", RateLimitError),
    ("SetLimitExceeded", RateLimitError),
    ("InflightBatchsizeExceeded", RateLimitError),
    ("insufficient_quota", RateLimitError),
    ("rate_limit", RateLimitError),
    ("AuthenticationError", AuthenticationError),
    ("AccountOverdueError", PermissionDeniedError),
    ("AccessDenied", PermissionDeniedError),
    ("OperationDenied", PermissionDeniedError),
    ("InvalidEndpointOrModel", NotFoundError),
    ("ModelNotOpen", NotFoundError),
    ("InternalServiceError", InternalServerError),
    ("-10008", ServiceUnavailableError),
    ("MissingParameter", BadRequestError),
    ("InvalidParameter", BadRequestError),
    ("InvalidArgumentError", BadRequestError),
    ("InvalidImageURL", BadRequestError),
    ("OutofContextError", BadRequestError),
)
_BY_TYPE: dict[str, type[APIStatusError]] = {
    "TooManyRequests": RateLimitError,
    "rate_limit_error": RateLimitError,
    "Unauthorized": AuthenticationError,
    "Forbidden": PermissionDeniedError,
    "NotFound": NotFoundError,
    "BadRequest": BadRequestError,
    "InternalServerError": InternalServerError,
}
_SNIPPET = 200


def server_request_id(headers: Mapping[str, str]) -> str | None:
    return headers.get("x-request-id") or headers.get("request-id")


def _class_for(status: int, code: str | None, type_: str | None) -> type[APIStatusError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return InternalServerError
    if status >= 300:
        return APIStatusError  # an HTTP status we have no class for
    if code:
        for prefix, cls in _BY_CODE_PREFIX:
            if code.startswith(prefix) or (cls is not RateLimitError and prefix in code):
                return cls
        if "SensitiveContentDetected" in code:
            return BadRequestError
    if type_ and type_ in _BY_TYPE:
        return _BY_TYPE[type_]
    return APIStatusError


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def error_from_payload(
    payload: Any,
    *,
    status: int,
    headers: Mapping[str, str] | None = None,
    client_request_id: str | None = None,
) -> APIStatusError:
    """The typed error for a parsed error body (``{"error": {...}}``) or a bare error object."""
    headers = headers or {}
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, dict):
        code = _text(error.get("code")) or _text(error.get("err_code"))
        type_ = _text(error.get("type"))
        message = _text(error.get("message")) or _text(error.get("message_cn")) or "no message"
        param = _text(error.get("param"))
    else:
        code = type_ = param = None
        message = _text(error) or "no message"
    cls = _class_for(status, code, type_)
    return cls(
        message,
        status_code=status,
        code=code,
        type=type_,
        param=param,
        body=payload,
        request_id=server_request_id(headers),
        client_request_id=client_request_id,
        headers=headers,
    )


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    client_request_id: str | None = None,
) -> APIStatusError:
    """The typed error for an HTTP error response, JSON body or not."""
    try:
        payload: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        return error_from_payload(
            payload, status=status, headers=headers, client_request_id=client_request_id
        )
    snippet = " ".join(raw[:_SNIPPET].decode("utf-8", "replace").split())
    more = "..." if len(raw) > _SNIPPET else ""
    message = f"non-JSON error body: {snippet}{more}" if snippet else "empty error body"
    cls = _class_for(status, None, None)
    return cls(
        message,
        status_code=status,
        body=snippet,
        request_id=server_request_id(headers),
        client_request_id=client_request_id,
        headers=headers,
    )
