"""What a result says about the HTTP exchange behind it: ``completion.http``, ``stream.http``.

Headers are kept read-only and never include an ``Authorization`` header
(responses do not carry one; a misbehaving proxy might echo it back).
Rate-limit headers as OpenAI-compatible gateways send them
(``x-ratelimit-limit-requests``, ``x-ratelimit-remaining-tokens``,
``x-ratelimit-reset-requests: 1s`` / ``6m0s`` / ``20ms``) are parsed into a small
typed value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["RateLimitInfo", "ResponseInfo", "parse_duration", "read_only_headers"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_X = frozenset("xX")  # most headers fail on their first letter, before a lowercase copy
_AUTH, _PROXY_AUTH, _COOKIE = "authorization", "proxy-authorization", "set-cookie"
_HIDDEN = frozenset({_AUTH, _PROXY_AUTH, _COOKIE})


def parse_duration(text: str | None) -> float | None:
    """Seconds in ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` or a bare number; else None."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@attrs.frozen
class RateLimitInfo:
    """The gateway's rate-limit headers; each ``None`` where it did not send one.

    ``reset_*`` are seconds until the window refills.
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo | None:
        """The parsed headers, or ``None`` if there are none."""
        get = headers.get
        for name in headers:  # every call reads this: a loop, not a list and a generator
            if name[:1] in _X and name[:12].lower() == "x-ratelimit-":
                break
        else:
            return None
        return cls(
            _int(get("x-ratelimit-limit-requests")),
            _int(get("x-ratelimit-remaining-requests")),
            parse_duration(get("x-ratelimit-reset-requests")),
            _int(get("x-ratelimit-limit-tokens")),
            _int(get("x-ratelimit-remaining-tokens")),
            parse_duration(get("x-ratelimit-reset-tokens")),
        )


def read_only_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """Read-only and case-insensitive, without credentials (a copy only if needed)."""
    if (
        type(headers) is _proxy_type()
        and _AUTH not in headers
        and _PROXY_AUTH not in headers
        and _COOKIE not in headers
    ):
        # aiohttp's response headers already are that, and it never changes them: no
        # copy per call (three case-insensitive lookups instead).
        return headers
    from multidict import CIMultiDict, CIMultiDictProxy

    kept = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _HIDDEN)
    return CIMultiDictProxy(kept)


@functools.cache
def _proxy_type() -> type[Any]:
    """multidict's ``CIMultiDictProxy``, imported on first use (not by ``import
    doubao_vision``) and then kept: a ``from ... import`` in a function runs the
    import machinery's Python code on every call."""
    from multidict import CIMultiDictProxy

    return CIMultiDictProxy


@attrs.frozen(eq=False)
class ResponseInfo:
    """The exchange behind one result.

    Attributes:
        status_code: the last attempt's HTTP status.
        headers: its response headers (read-only; credentials never kept).
        elapsed: seconds from the call's start (queueing included) to its end;
            for a stream, to when the stream closed (``None`` while it is open).
        attempts: attempts made (1 without retries).
        time_to_first_chunk: streams only: seconds from the start to the first chunk.
        chunks: streams only: chunks received.
        rate_limit: the parsed ``x-ratelimit-*`` headers, if the gateway sent them.
    """

    status_code: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: float | None
    attempts: int
    time_to_first_chunk: float | None = None
    chunks: int = 0
    rate_limit: RateLimitInfo | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Header views do not pickle: rebuild one from the pairs.
        pairs = list(self.headers.items())
        fields = (self.elapsed, self.attempts, self.time_to_first_chunk, self.chunks)
        return _rebuild_info, (self.status_code, pairs, *fields, self.rate_limit)

    @property
    def chunks_per_second(self) -> float | None:
        """Streams: chunks over the time from the first chunk to the end."""
        if self.elapsed is None or self.time_to_first_chunk is None or self.chunks < 2:
            return None
        span = self.elapsed - self.time_to_first_chunk
        return self.chunks / span if span > 0 else None


def _rebuild_info(status: int, pairs: list[tuple[str, str]], *rest: Any) -> ResponseInfo:
    return ResponseInfo(status, read_only_headers(_pairs(pairs)), *rest)


def _pairs(pairs: list[tuple[str, str]]) -> Mapping[str, str]:
    from multidict import CIMultiDict

    return CIMultiDict(pairs)


NO_HEADERS: Mapping[str, str] = MappingProxyType({})
