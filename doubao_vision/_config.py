"""Frozen configuration values: base URLs, models, timeouts, pool limits, retry policy.

Per-call overrides use ``attrs.evolve``; nothing here is ever mutated.
"""

from __future__ import annotations

import attrs

from ._facts import (
    MODEL_UI_TARS,
    MODEL_VISION_LITE,
    MODEL_VISION_PRO,
    MODEL_VISION_PRO_32K,
    RETIRED_MODELS,
)
from ._validate import at_least, positive_or_none

__all__ = [
    "API_KEY_ENV",
    "ARK_BASE_URL",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "MODEL_UI_TARS",
    "MODEL_VISION_LITE",
    "MODEL_VISION_PRO",
    "MODEL_VISION_PRO_32K",
    "PROVIDER_302_BASE_URL",
    "RETIRED_MODELS",
    "Limits",
    "RetryPolicy",
    "Timeout",
]

PROVIDER_302_BASE_URL = "https://api.302.ai/v1"
ARK_BASE_URL = "https://ark.cn-beijing.volces.com/api/v3"
DEFAULT_BASE_URL = PROVIDER_302_BASE_URL
API_KEY_ENV = "DOUBAO_VISION_API_KEY"
BASE_URL_ENV = "DOUBAO_VISION_BASE_URL"

DEFAULT_MODEL = MODEL_VISION_PRO


@attrs.frozen
class Timeout:
    """How long one attempt may take, in seconds; ``None`` means no limit.

    Args:
        connect: to get a connection (from the pool or a new TCP/TLS handshake).
        read: the longest gap between two reads of the body. For a stream this is
            the idle timeout between *data events*: keep-alive comments do not
            reset it, so a relay that only sends pings still times out.
        total: the whole attempt, headers and body (a stream's whole life).

    Each retry gets the full budget again, as in openai-python.
    """

    connect: float | None = attrs.field(default=10.0, validator=positive_or_none)
    read: float | None = attrs.field(default=120.0, validator=positive_or_none)
    total: float | None = attrs.field(default=600.0, validator=positive_or_none)


DEFAULT_TIMEOUT = Timeout()


def to_timeout(value: Timeout | float | None) -> Timeout:
    """A number is a total deadline with the default connect and read limits."""
    if value is None or isinstance(value, Timeout):
        return value or Timeout(connect=None, read=None, total=None)
    return attrs.evolve(DEFAULT_TIMEOUT, total=float(value))


@attrs.frozen
class Limits:
    """The connection pool of one client (one aiohttp ``TCPConnector``).

    Args:
        max_connections: connections open at once, over all hosts.
        max_connections_per_host: per host; ``0`` means the same as the total.
        keepalive_expiry: seconds an idle connection stays in the pool.
        dns_cache_ttl: seconds a resolved address is reused.
    """

    max_connections: int = attrs.field(default=100, validator=at_least(1))
    max_connections_per_host: int = attrs.field(default=0, validator=at_least(0))
    keepalive_expiry: float = 30.0
    dns_cache_ttl: int = 300


@attrs.frozen
class RetryPolicy:
    """When and how long to wait before trying a failed call again.

    Args:
        max_retries: retries after the first attempt (0 disables retrying).
        initial_delay: the backoff base; attempt n waits up to
            ``min(max_delay, initial_delay * 2**n)``, chosen uniformly from 0
            ("full jitter"), so that many clients do not retry in lockstep.
        max_delay: the backoff cap.
        max_retry_after: the longest server-asked wait (``Retry-After``,
            ``retry-after-ms``) we honour; a longer ask raises the error at once
            rather than sleeping past what a caller expects.
    """

    max_retries: int = attrs.field(default=2, validator=at_least(0))
    initial_delay: float = attrs.field(default=0.5, validator=at_least(0))
    max_delay: float = attrs.field(default=8.0, validator=at_least(0))
    max_retry_after: float = attrs.field(default=60.0, validator=at_least(0))
