"""Which failures to retry, and how long to wait first.

Retried: connection errors, timeouts, 408, 409, 429 and >= 500, unless the
server says ``x-should-retry: false`` or the error code is one only a person can
fix (quota, billing). ``x-should-retry: true`` retries anything.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

from ._config import RetryPolicy
from ._errors import NON_RETRYABLE_CODES
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    ConflictError,
    DoubaoVisionError,
    InternalServerError,
    RateLimitError,
)

__all__ = ["backoff", "is_retryable", "retry_after", "retry_delay"]

_RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(error: DoubaoVisionError) -> bool:
    if isinstance(error, APIConnectionError):
        return True
    if not isinstance(error, APIStatusError):
        return False
    should = error.headers.get("x-should-retry", "").strip().lower()
    if should == "true":
        return True
    if should == "false":
        return False
    if error.code in NON_RETRYABLE_CODES or error.type in NON_RETRYABLE_CODES:
        return False
    if error.status_code == 200:
        # An error event inside a stream: its class (from its code) decides.
        return isinstance(error, (RateLimitError, InternalServerError, ConflictError))
    return error.status_code in _RETRYABLE_STATUS or error.status_code >= 500


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After``
    as seconds or an HTTP-date; ``None`` if absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(policy: RetryPolicy, retries_done: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**n)] (AWS architecture blog)."""
    ceiling = min(policy.max_delay, policy.initial_delay * (2**retries_done))
    return random.uniform(0, ceiling)


def retry_delay(policy: RetryPolicy, retries_done: int, error: DoubaoVisionError) -> float | None:
    """Seconds to sleep before the next attempt, or ``None`` to raise ``error`` now.

    A server-asked wait longer than ``policy.max_retry_after`` raises at once
    rather than sleeping past what a caller expects.
    """
    if retries_done >= policy.max_retries or not is_retryable(error):
        return None
    if isinstance(error, APIStatusError):
        asked = retry_after(error.headers)
        if asked is not None:
            return asked if asked <= policy.max_retry_after else None
    return backoff(policy, retries_done)
