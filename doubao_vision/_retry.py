"""Which failures to retry, and how long to wait first.

Retried: connection errors, timeouts, 408, 409, 429 and >= 500, unless the
server says ``x-should-retry: false`` or the error code is one only a person can
fix (quota, billing). ``x-should-retry: true`` retries anything.
"""

from __future__ import annotations

import random

from ._config import RetryPolicy
from ._exceptions import (
    QUOTA_CODES,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConflictError,
    DoubaoVisionError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamClosedError,
)
from ._headers import retry_after

__all__ = [
    "NON_RETRYABLE_CODES",
    "backoff",
    "cannot_succeed",
    "is_retryable",
    "retry_after",
    "retry_delay",
]

# Error codes that only a person can fix (pay, raise a limit): never retried.
NON_RETRYABLE_CODES = QUOTA_CODES
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(error: DoubaoVisionError) -> bool:
    if isinstance(error, StreamClosedError):
        return False  # we closed it ourselves
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


def cannot_succeed(error: DoubaoVisionError) -> bool:
    """An error no other call with the same key can get past: a bad key, no access,
    an unknown model or endpoint, a used-up quota or balance. A batch stops on one."""
    if isinstance(error, (AuthenticationError, PermissionDeniedError, NotFoundError)):
        return True
    return isinstance(error, APIStatusError) and (
        error.code in NON_RETRYABLE_CODES or error.type in NON_RETRYABLE_CODES
    )


def backoff(policy: RetryPolicy, retries_done: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**n)] (AWS architecture blog)."""
    ceiling = min(policy.max_delay, policy.initial_delay * (2**retries_done))
    return random.uniform(0, ceiling)


def retry_delay(policy: RetryPolicy, retries_done: int, error: DoubaoVisionError) -> float | None:
    """Seconds to sleep before the next attempt, or ``None`` to raise ``error`` now.

    A server-asked wait longer than ``policy.max_retry_after`` raises at once
    rather than sleeping past what a caller expects (the error then says both
    numbers).
    """
    if retries_done >= policy.max_retries or not is_retryable(error):
        return None
    if isinstance(error, APIStatusError):
        asked = retry_after(error.headers)
        if asked is not None:
            if asked <= policy.max_retry_after:
                return asked
            error.explain(
                f"not retried: the server asked to wait {asked:g}s, more than "
                f"RetryPolicy.max_retry_after={policy.max_retry_after:g}s (raise it to wait)"
            )
            return None
    return backoff(policy, retries_done)
