"""The one error tree of doubao_vision.

::

    DoubaoVisionError
    ├── InvalidRequestError (ValueError)     bad input, raised before anything is sent
    │   ├── MissingAPIKeyError
    │   └── ImageError
    │       ├── ImageNotFoundError
    │       ├── UnsupportedImageFormatError
    │       ├── ImageTooLargeError
    │       └── ImageDimensionsError
    ├── ResponseValidationError              a response that does not fit our models
    ├── OutputValidationError                structured output that does not fit the class
    ├── LengthFinishReasonError              structured output cut by max_tokens
    ├── ContentFilterFinishReasonError       structured output stopped by a filter or refusal
    ├── ActionParseError (ValueError)        UI-TARS text outside the action grammar
    ├── StreamDecodeError                    an SSE body that is not valid UTF-8
    ├── StreamClosedError                    read from a stream you closed (break, aclose)
    ├── BatchStoppedError                    a batch item not sent: an earlier one cannot succeed
    ├── APIConnectionError                   transport failures
    │   ├── APITimeoutError (TimeoutError)
    │   └── StreamTruncatedError             body ended without [DONE] or finish_reason
    └── APIStatusError                       the server said no
        ├── BadRequestError              400
        ├── AuthenticationError          401
        ├── PermissionDeniedError        403
        ├── NotFoundError                404
        ├── ConflictError                409
        ├── RequestTooLargeError         413
        ├── UnprocessableEntityError     422
        ├── RateLimitError               429
        └── InternalServerError          >= 500
            └── ServiceUnavailableError  503

No message built here ever includes an API key: errors carry the server's words,
request ids and our own text only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._headers import retry_after as _retry_after

__all__ = [
    "QUOTA_CODES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionParseError",
    "AuthenticationError",
    "BadRequestError",
    "BatchStoppedError",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "DoubaoVisionError",
    "ImageDimensionsError",
    "ImageError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "MissingAPIKeyError",
    "NotFoundError",
    "OutputValidationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseValidationError",
    "ServiceUnavailableError",
    "StreamClosedError",
    "StreamDecodeError",
    "StreamTruncatedError",
    "UnprocessableEntityError",
    "UnsupportedImageFormatError",
]


# Error codes that mean the account's quota or balance is used up: only a person
# can fix them (pay, raise a limit), so they are never retried.
QUOTA_CODES = frozenset(
    {"QuotaExceeded", "SetLimitExceeded", "AccountOverdueError", "insufficient_quota"}
)


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class DoubaoVisionError(Exception):
    """Root of every error this package raises on purpose.

    Every error pickles and unpickles to an equal one (same class, message and
    attributes): they cross process pools, Ray tasks and caches. The chain
    (``__cause__``) is not pickled: it may be a transport object.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        headers = state.get("headers")
        if headers is not None and not isinstance(headers, dict):
            # aiohttp's read-only header views do not pickle; a case-insensitive copy does.
            from multidict import CIMultiDict

            state["headers"] = CIMultiDict(headers)
        return _rebuild, (type(self), self.args, state)


class InvalidRequestError(DoubaoVisionError, ValueError):
    """The request is wrong as given; nothing was sent. Fix the input."""


class MissingAPIKeyError(InvalidRequestError):
    """No API key was passed and ``DOUBAO_VISION_API_KEY`` is not set."""


class ImageError(InvalidRequestError):
    """An image input cannot be sent as it is.

    Attributes:
        source: what the image was given as (a path, ``<bytes>``, a URL).
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class ImageNotFoundError(ImageError):
    """The image file is missing or cannot be read."""


class UnsupportedImageFormatError(ImageError):
    """The bytes are not an image format Doubao accepts."""


class ImageTooLargeError(ImageError):
    """The image is over the 10 MB limit."""


class ImageDimensionsError(ImageError):
    """A side is 14 px or less, or width x height is outside [196, 36,000,000]."""


class ResponseValidationError(DoubaoVisionError):
    """The server's JSON does not fit the response model.

    Attributes:
        path: where the bad field is, such as ``$.choices[0].message.content``.
        body: the parsed JSON that failed.
    """

    def __init__(self, message: str, *, path: str, body: object = None) -> None:
        super().__init__(message)
        self.path = path
        self.body = body


class OutputValidationError(DoubaoVisionError):
    """The model's structured answer does not fit the requested class, after repairs.

    Attributes:
        text: the model's last answer, as it came.
        errors: ``(path, message)`` for each problem, e.g. ``("$.total", "expected float")``.
    """

    def __init__(self, message: str, *, text: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.text = text
        self.errors = errors


class LengthFinishReasonError(DoubaoVisionError):
    """Structured output stopped at ``max_tokens`` (``finish_reason == "length"``).

    Attributes:
        text: the partial answer.
    """

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text


class ContentFilterFinishReasonError(DoubaoVisionError):
    """Structured output stopped by a content filter or refused.

    Attributes:
        text: what the model said, if anything.
        finish_reason: the server's finish_reason.
    """

    def __init__(self, message: str, *, text: str, finish_reason: str | None) -> None:
        super().__init__(message)
        self.text = text
        self.finish_reason = finish_reason


class ActionParseError(DoubaoVisionError, ValueError):
    """A UI-TARS answer that is not in the action grammar.

    Attributes:
        line: the offending text.
    """

    def __init__(self, message: str, *, line: str) -> None:
        super().__init__(message)
        self.line = line


class BatchStoppedError(DoubaoVisionError):
    """This batch item was not sent (or was cut off): an earlier item failed with an
    error no item can get past (a bad key, no access, an unknown model, no quota).

    Attributes:
        cause: that error (also the ``__cause__``).
    """

    def __init__(self, message: str, *, cause: DoubaoVisionError) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


class StreamClosedError(DoubaoVisionError):
    """The stream was closed before its end (``break``, ``aclose()``), then read again.

    Nothing went wrong on the network and retrying is pointless; the part read
    before closing is still in ``stream.completion``.
    """


class StreamDecodeError(DoubaoVisionError):
    """A streamed body is not valid UTF-8 or not valid JSON where JSON is due."""


class APIConnectionError(DoubaoVisionError):
    """The request did not get a complete answer: connection refused, reset, or cut.

    Attributes:
        client_request_id: the ``X-Client-Request-Id`` we sent, for support tickets.
    """

    def __init__(self, message: str, *, client_request_id: str | None = None) -> None:
        super().__init__(message)
        self.client_request_id = client_request_id


class APITimeoutError(APIConnectionError, TimeoutError):
    """A connect, read, idle or total timeout ran out."""


class StreamTruncatedError(APIConnectionError):
    """The stream ended without ``[DONE]`` and without a finish_reason."""


class APIStatusError(DoubaoVisionError):
    """The server answered with an error.

    Attributes:
        status_code: the HTTP status (200 for an error that arrived inside a stream).
        code: the server's error code: Ark's ``code`` (``RateLimitExceeded...``)
            or 302.AI's ``err_code`` (``-10008``), as a string.
        type: the server's error ``type``.
        message: the server's human message (never includes our API key).
        param: the offending parameter, when the server names one.
        body: the parsed error body, or a short text snippet if it was not JSON.
        request_id: the server's request id (``x-request-id`` / ``request-id``).
        client_request_id: the ``X-Client-Request-Id`` we sent.
        headers: the response headers (``Retry-After`` and friends).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        body: Any = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.type = type
        self.param = param
        self.body = body
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        super().__init__(self._describe())

    def _describe(self) -> str:
        bits = [f"{self.status_code}"]
        if self.code:
            bits.append(self.code)
        text = f"{' '.join(bits)}: {self.message}"
        if self.request_id and self.request_id not in self.message:
            text += f" (request id {self.request_id})"
        hint = self._hint()
        if hint:
            text += f" -- {hint}"
        return text

    def _hint(self) -> str | None:
        return _HINTS.get(type(self))

    def explain(self, text: str) -> None:
        """Add what we did about the error to its message (e.g. why it was not retried)."""
        self.args = (f"{self.args[0]}; {text}", *self.args[1:])


class BadRequestError(APIStatusError):
    """400: the server refused the request's content."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, malformed, expired or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or the account is overdue."""


class NotFoundError(APIStatusError):
    """404: unknown model, endpoint or path."""


class ConflictError(APIStatusError):
    """409: a conflicting request; retried by default."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is too large (base64 images count 4/3 of their size)."""


class UnprocessableEntityError(APIStatusError):
    """422: well-formed but semantically invalid."""


class RateLimitError(APIStatusError):
    """429, or a rate-limit or quota code inside a stream.

    ``is_quota`` tells a used-up quota or balance (a person must act; never
    retried) from a rate limit (wait and retry); ``retry_after`` is the wait the
    server asked for, in seconds, if it said.
    """

    @property
    def is_quota(self) -> bool:
        return self.code in QUOTA_CODES or self.type in QUOTA_CODES

    @property
    def retry_after(self) -> float | None:
        return _retry_after(self.headers)

    def _hint(self) -> str | None:
        if self.is_quota:
            return (
                "the account's quota or balance is used up: top it up or raise the limit "
                "in the provider's console (retrying will not help)"
            )
        return "lower concurrency or set rpm/tpm limits on the client"


class InternalServerError(APIStatusError):
    """A 5xx: the server failed."""


class ServiceUnavailableError(InternalServerError):
    """503: overloaded or no model available (302.AI ``err_code`` -10008)."""


_HINTS: dict[type[APIStatusError], str] = {
    AuthenticationError: "check DOUBAO_VISION_API_KEY or the api_key argument",
    PermissionDeniedError: "the key's account may lack access to this model or be overdue",
    NotFoundError: "check the model name and base_url",
    RequestTooLargeError: "send fewer or smaller images (base64 adds a third)",
}
