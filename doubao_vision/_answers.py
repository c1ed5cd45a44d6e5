"""Read what the server said: a completion, a stream chunk, or our typed error.

One reader for every answer: HTTP status, headers and body become a
:class:`ChatCompletion`, a :class:`ChatCompletionChunk` or an
:class:`APIStatusError` subclass, with the request ids attached.

Error bodies of every shape we have met parse: Ark's
``{"error":{"code","message","param","type"}}``, 302.AI's
``{"error":{"err_code":-10008,"message","message_cn",...}}``, FastAPI's
``{"detail": "..."}`` and ``{"detail": [{"loc": [...], "msg": ...}]}``
(llama-cpp-python and many self-hosted servers), and bodies that are not JSON
(an HTML page from a proxy: the typed error, with a short snippet). Some
gateways answer 200 with an error body: that is an error too. Inside a
stream (status 200) the error's *code* decides its class, numeric codes
(LiteLLM's ``"429"``) like statuses.

No message or body we keep carries the caller's key, or anything shaped like
one: servers sometimes quote it back ("Incorrect API key provided: sk-...").
"""

from __future__ import annotations

import re
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
    ResponseValidationError,
    ServiceUnavailableError,
    StreamDecodeError,
    UnprocessableEntityError,
)
from ._headers import server_request_id
from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceDelta,
    ChunkChoice,
    FunctionCallDelta,
    ToolCallDelta,
)
from ._serde import parse_chunk, parse_completion

__all__ = [
    "as_chunk",
    "error_from_payload",
    "error_from_response",
    "is_error_payload",
    "loads_event",
    "read_completion",
    "read_model_ids",
    "redact",
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
# Bearer tokens and sk-style keys, wherever a server quotes them back.
_KEY_LIKE = re.compile(r"(?i)\bsk-[A-Za-z0-9_\-]{6,}|(?<=Bearer )[^\s\"',]{6,}")
_REDACTED = "[redacted]"


def redact(value: Any, secret: str | None) -> Any:
    """``value`` with ``secret`` and anything key-shaped replaced, strings nested
    in dicts and lists included; other values as they are."""
    if isinstance(value, str):
        if secret and secret in value:
            value = value.replace(secret, _REDACTED)
        return _KEY_LIKE.sub(_REDACTED, value) if ("-" in value or "Bearer" in value) else value
    if isinstance(value, dict):
        return {key: redact(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secret) for item in value]
    return value


def _class_for(status: int, code: str | None, type_: str | None) -> type[APIStatusError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return InternalServerError
    if status >= 300:
        return APIStatusError  # an HTTP status we have no class for
    if code:
        if code.isdigit() and len(code) == 3:  # an HTTP status as the code (LiteLLM)
            return _class_for(int(code), None, None)
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


def _detail_message(detail: Any) -> str | None:
    """FastAPI's ``detail``: a string, or a list of ``{"loc": [...], "msg": ...}``."""
    if isinstance(detail, list):
        problems = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = ".".join(str(part) for part in item.get("loc") or ())
                msg = _text(item.get("msg")) or "invalid"
                problems.append(f"{loc}: {msg}" if loc else msg)
            else:
                problems.append(str(item))
        return "; ".join(problems) or None
    return _text(detail)


def is_error_payload(data: Any) -> bool:
    """An error body, as opposed to a completion (some gateways send one with 200)."""
    return (
        isinstance(data, dict) and "choices" not in data and ("error" in data or "detail" in data)
    )


def error_from_payload(
    payload: Any,
    *,
    status: int,
    headers: Mapping[str, str] | None = None,
    client_request_id: str | None = None,
    secret: str | None = None,
) -> APIStatusError:
    """The typed error for a parsed error body (``{"error": {...}}``, ``{"detail": ...}``)
    or a bare error object."""
    headers = headers or {}
    payload = redact(payload, secret)
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    code = type_ = param = None
    if isinstance(error, dict) and "detail" in error and "message" not in error:
        message = _detail_message(error["detail"]) or "no message"
    elif isinstance(error, dict):
        code = _text(error.get("code")) or _text(error.get("err_code"))
        type_ = _text(error.get("type"))
        message = _text(error.get("message")) or _text(error.get("message_cn")) or "no message"
        param = _text(error.get("param"))
    else:
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
    secret: str | None = None,
) -> APIStatusError:
    """The typed error for an HTTP error response, JSON body or not."""
    try:
        payload: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        return error_from_payload(
            payload,
            status=status,
            headers=headers,
            client_request_id=client_request_id,
            secret=secret,
        )
    snippet = redact(" ".join(raw[:_SNIPPET].decode("utf-8", "replace").split()), secret)
    more = "..." if len(raw) > _SNIPPET else ""
    message = f"non-JSON error body: {snippet}{more}" if snippet else "empty error body"
    location = headers.get("Location")
    if 300 <= status < 400 and location:
        # The transport follows redirects within the base URL's origin only.
        message = (
            f"redirected to {location[:200]!r}, another origin: not followed, so the key and "
            "images are not sent there; set base_url to the final URL if you trust it"
        )
    cls = _class_for(status, None, None)
    return cls(
        message,
        status_code=status,
        body=snippet,
        request_id=server_request_id(headers),
        client_request_id=client_request_id,
        headers=headers,
    )


def read_completion(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    client_request_id: str,
    secret: str | None = None,
) -> ChatCompletion:
    """A whole answer: the completion, with our request ids filled in.

    Raises:
        APIStatusError: an error status, or an error body with status 200.
        ResponseValidationError: the body is not JSON or not a completion.
    """
    if status >= 300:  # a redirect we did not follow is an error too
        raise error_from_response(
            status, headers, raw, client_request_id=client_request_id, secret=secret
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        snippet = raw[:120].decode("utf-8", "replace")
        raise ResponseValidationError(
            f"the completion is not JSON ({exc}): {snippet!r}", path="$", body=snippet
        ) from exc
    if is_error_payload(data):
        raise error_from_payload(
            data,
            status=status,
            headers=headers,
            client_request_id=client_request_id,
            secret=secret,
        )
    completion = parse_completion(data)
    # The completion was built just now and nothing else holds it: fill in our two
    # bookkeeping fields in place (as attrs' own __init__ would) instead of copying
    # every field through attrs.evolve on each request.
    object.__setattr__(completion, "request_id", server_request_id(headers))
    object.__setattr__(completion, "client_request_id", client_request_id)
    return completion


def read_model_ids(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    client_request_id: str,
    secret: str | None = None,
) -> list[str]:
    """``GET /models``: the ids listed under ``data``.

    Raises:
        APIStatusError: an error status.
        ResponseValidationError: the body is not a model list.
    """
    if status >= 300:  # a redirect we did not follow is an error too
        raise error_from_response(
            status, headers, raw, client_request_id=client_request_id, secret=secret
        )
    try:
        return [item["id"] for item in orjson.loads(raw)["data"]]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ResponseValidationError(f"the model list does not fit: {exc}", path="$.data") from exc


def loads_event(raw: bytes | str) -> Any:
    """One stream event's JSON; :class:`StreamDecodeError` if it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        raise StreamDecodeError(f"a stream event is not JSON ({exc}): {text[:120]!r}") from exc


def read_chunk(payload: Any) -> ChatCompletionChunk:
    """One stream event's parsed JSON as a chunk."""
    return parse_chunk(payload)


def as_chunk(completion: ChatCompletion) -> ChatCompletionChunk:
    """One chunk that carries a whole completion, so a JSON answer streams as one piece."""
    choices = []
    for choice in completion.choices:
        message = choice.message
        calls = None
        if message.tool_calls:
            calls = [
                ToolCallDelta(
                    i, c.id, c.type, FunctionCallDelta(c.function.name, c.function.arguments)
                )
                for i, c in enumerate(message.tool_calls)
            ]
        delta = ChoiceDelta(message.role, message.content, message.reasoning_content, calls)
        choices.append(ChunkChoice(choice.index, delta, choice.finish_reason))
    if not choices and completion.usage is None:
        raise ResponseValidationError("a JSON answer to a stream has no choices", path="$.choices")
    return ChatCompletionChunk(
        completion.id,
        choices,
        completion.model,
        completion.created,
        service_tier=completion.service_tier,
        usage=completion.usage,
    )
