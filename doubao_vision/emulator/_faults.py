"""Faults: scripted misbehaviour, one per chat request.

A :class:`Fault` is a plain value. Queue faults with ``Emulator.script(...)`` or send
one in the ``X-Emulator-Fault`` header (``fault.to_header()``); either way the fault
applies to one ``POST /v1/chat/completions`` and the recorded request names it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

__all__ = ["ERROR_KINDS", "KINDS", "STREAM_KINDS", "Fault", "default_message", "error_type"]

# Answered at once with an error body (Ark's or 302.AI's shape).
ERROR_KINDS = frozenset({"error", "rate_limited", "quota", "unavailable"})
# Change how a stream=true answer is sent; a non-stream request ignores them.
STREAM_KINDS = frozenset(
    {
        "stream_error_event",
        "stream_data_error",
        "stream_bare_error",
        "truncate",
        "drop_mid_stream",
        "json_for_stream",
        "keepalive_only",
    }
)
KINDS = (
    ERROR_KINDS
    | STREAM_KINDS
    | {"html", "drop_before_headers", "drop_after_headers", "stall", "slow", "answer"}
)

_DEFAULT_CODES = {
    400: "InvalidParameter",
    401: "AuthenticationError",
    403: "AccessDenied",
    404: "InvalidEndpointOrModel.NotFound",
    429: "RateLimitExceeded.EndpointRPMExceeded",
    500: "InternalServiceError",
}
_MESSAGES = {
    "RateLimitExceeded.EndpointRPMExceeded": (
        "The request rate has exceeded the RPM limit of this endpoint. Please try again later."
    ),
    "RateLimitExceeded.EndpointTPMExceeded": (
        "The token rate has exceeded the TPM limit of this endpoint. Please try again later."
    ),
    "QuotaExceeded": "Your account has used up its free quota for this model.",
    "SetLimitExceeded": (
        "Your account has reached the inference limit set in Safe Experience Mode. "
        "Raise or turn off the limit in the console."
    ),
    "AccountOverdueError": "Your account has an overdue balance. Please top up.",
    "ServerOverloaded": "The service is overloaded at the moment. Please try again later.",
    "InternalServiceError": "The service encountered an unexpected internal error.",
}


def default_message(code: str) -> str:
    """A message in Ark's style for ``code`` (without the request-id suffix)."""
    return _MESSAGES.get(code, f"The emulator was scripted to fail with {code}.")


def error_type(code: str) -> str:
    """Ark's error ``type`` for an error ``code`` sent inside a stream."""
    if code.startswith(
        ("RateLimitExceeded", "ServerOverloaded", "QuotaExceeded", "SetLimitExceeded")
    ):
        return "TooManyRequests"
    if code.startswith(("InternalServiceError", "ServiceUnavailable")):
        return "InternalServerError"
    return "BadRequest"


def _headers(
    value: Mapping[str, str] | tuple[tuple[str, str], ...] | None,
) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


def _check_kind(instance: Fault, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in KINDS:
        raise ValueError(f"unknown fault kind {value!r}; known: {', '.join(sorted(KINDS))}")


@attrs.frozen
class Fault:
    """One scripted misbehaviour. Build it with the classmethods, not directly.

    Attributes:
        kind: what happens (``"error"``, ``"stall"``, ``"truncate"``, ...).
        status: the HTTP status for error-like faults.
        code: Ark's error ``code``; type: Ark's error ``type`` (derived when None).
        message: the error message (a default per code when None).
        shape: ``"ark"`` or ``"302"``: which error body to send.
        err_code: 302.AI's numeric ``err_code``.
        headers: extra response headers, as ``(name, value)`` pairs.
        after: for stream faults, how many ``data:`` chunks go out first.
        seconds: how long a stall, slow-down or keep-alive run lasts.
        content: for ``"answer"``, the exact answer text.
        finish_reason: for ``"answer"``, the choice's ``finish_reason``.
    """

    kind: str = attrs.field(validator=_check_kind)
    status: int | None = None
    code: str | None = None
    message: str | None = None
    type: str | None = None
    shape: str = attrs.field(default="ark", validator=attrs.validators.in_(("ark", "302")))
    err_code: int | None = None
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_headers)
    after: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    seconds: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    content: str | None = None
    finish_reason: str = "stop"

    # -- errors ---------------------------------------------------------------------

    @classmethod
    def error(
        cls,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        type: str | None = None,
        shape: str = "ark",
        err_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Any error status; the body in Ark's shape or, with ``shape="302"``, 302.AI's."""
        if code is None and shape == "ark":
            code = _DEFAULT_CODES.get(
                status, "InternalServiceError" if status >= 500 else "InvalidParameter"
            )
        if err_code is None and shape == "302":
            err_code = -10003
        return cls(
            "error", status=status, code=code, message=message, type=type, shape=shape,
            err_code=err_code, headers=_headers(headers),
        )  # fmt: skip

    @classmethod
    def rate_limited(
        cls,
        retry_after: str | None = "1",
        *,
        retry_after_ms: str | None = None,
        code: str = "RateLimitExceeded.EndpointRPMExceeded",
    ) -> Fault:
        """429 in Ark's shape, with ``Retry-After`` / ``retry-after-ms`` when given."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        return cls("rate_limited", status=429, code=code, headers=_headers(headers))

    @classmethod
    def quota(cls, code: str = "QuotaExceeded") -> Fault:
        """429 in Ark's shape with a quota code (``QuotaExceeded``, ``SetLimitExceeded``)."""
        return cls("quota", status=429, code=code)

    @classmethod
    def unavailable(cls) -> Fault:
        """503 in 302.AI's shape, ``err_code`` -10008: no model available."""
        return cls("unavailable", status=503, shape="302", err_code=-10008)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """A proxy's HTML error page (``text/html``), not JSON."""
        return cls("html", status=status)

    # -- transport --------------------------------------------------------------------

    @classmethod
    def drop_before_headers(cls) -> Fault:
        """Close the connection without sending any response."""
        return cls("drop_before_headers")

    @classmethod
    def drop_after_headers(cls) -> Fault:
        """Send 200 and the headers, part of the body, then close the connection."""
        return cls("drop_after_headers")

    @classmethod
    def stall(cls, seconds: float = 30.0) -> Fault:
        """Wait ``seconds`` before answering; stops early if the client goes away."""
        return cls("stall", seconds=seconds)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        """Wait ``delay`` between stream chunks (once before a JSON answer)."""
        return cls("slow", seconds=delay)

    # -- streams ----------------------------------------------------------------------

    @classmethod
    def stream_error_event(
        cls,
        after: int,
        code: str = "ServerOverloaded",
        *,
        message: str | None = None,
        type: str | None = None,
    ) -> Fault:
        """After ``after`` chunks: ``event: error`` + ``data: {"error": ...}``, then end."""
        return cls("stream_error_event", code=code, message=message, type=type, after=after)

    @classmethod
    def stream_data_error(
        cls,
        after: int,
        code: str = "ServerOverloaded",
        *,
        message: str | None = None,
        type: str | None = None,
    ) -> Fault:
        """After ``after`` chunks: ``data: {"error": ...}`` with no event name, then end."""
        return cls("stream_data_error", code=code, message=message, type=type, after=after)

    @classmethod
    def stream_bare_error(
        cls, after: int, err_code: int = -10003, *, message: str | None = None
    ) -> Fault:
        """After ``after`` chunks: a bare 302.AI error JSON line, no ``data:``, then end."""
        return cls(
            "stream_bare_error", shape="302", err_code=err_code, message=message, after=after
        )

    @classmethod
    def truncate(cls, after: int) -> Fault:
        """End the body cleanly after ``after`` chunks: no finish_reason, no ``[DONE]``."""
        return cls("truncate", after=after)

    @classmethod
    def drop_mid_stream(cls, after: int) -> Fault:
        """Close the connection after ``after`` chunks, without ending the chunked body."""
        return cls("drop_mid_stream", after=after)

    @classmethod
    def json_for_stream(cls) -> Fault:
        """Answer a ``stream: true`` request with a plain ``application/json`` completion."""
        return cls("json_for_stream")

    @classmethod
    def keepalive_only(cls, seconds: float) -> Fault:
        """After the first chunk, only ``: keep-alive`` comments every 0.05 s for ``seconds``."""
        return cls("keepalive_only", seconds=seconds)

    # -- answers ----------------------------------------------------------------------

    @classmethod
    def answer(cls, content: str, finish_reason: str = "stop") -> Fault:
        """Answer exactly ``content`` (streamed too), with ``finish_reason``.

        For scripting what a model may really say: invalid JSON for a schema, a
        truncated answer (``finish_reason="length"``), a refusal.
        """
        return cls("answer", content=content, finish_reason=finish_reason)

    # -- header form -------------------------------------------------------------------

    def to_header(self) -> str:
        """Compact ASCII JSON for the ``X-Emulator-Fault`` request header."""
        data: dict[str, Any] = {}
        for field in attrs.fields(Fault):
            value = getattr(self, field.name)
            if value != field.default:
                data[field.name] = dict(value) if field.name == "headers" else value
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_header(cls, value: str) -> Fault:
        """Parse :meth:`to_header`'s output.

        Raises:
            ValueError: not a JSON object naming a known fault.
        """
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"X-Emulator-Fault is not JSON: {exc}") from None
        if not isinstance(data, dict) or "kind" not in data:
            raise ValueError('X-Emulator-Fault must be a JSON object with a "kind"')
        names = {field.name for field in attrs.fields(Fault)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"X-Emulator-Fault has unknown fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X-Emulator-Fault is not a valid fault: {exc}") from None
