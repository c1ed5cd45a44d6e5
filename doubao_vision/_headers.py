"""What response headers say: request ids and how long the server asks us to wait."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

__all__ = ["retry_after", "server_request_id"]

# LiteLLM's proxy forwards the upstream Retry-After only under its own name.
_RETRY_AFTER_NAMES = ("retry-after", "llm_provider-retry-after")


def server_request_id(headers: Mapping[str, str]) -> str | None:
    """The server's id for the call (Ark: ``x-request-id``; 302.AI: ``request-id``)."""
    return headers.get("x-request-id") or headers.get("request-id")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After``
    (or LiteLLM's ``llm_provider-retry-after``) as seconds or an HTTP-date;
    ``None`` if absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = next((headers[name] for name in _RETRY_AFTER_NAMES if headers.get(name)), None)
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
