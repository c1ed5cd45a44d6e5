"""How we talk to aiohttp: our Timeout as its ClientTimeout, its errors as ours."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator

import aiohttp

from ._config import Timeout
from ._exceptions import APIConnectionError, APITimeoutError

__all__ = ["aiohttp_timeout", "map_transport_errors"]


@functools.lru_cache(maxsize=64)
def aiohttp_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """One attempt's limits. ``sock_connect``, not ``connect``: aiohttp's ``connect``
    also counts waiting for a pool slot, and our own semaphore queues callers first."""
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


@contextlib.contextmanager
def map_transport_errors(client_request_id: str | None) -> Iterator[None]:
    """aiohttp and socket failures become :class:`APIConnectionError` or :class:`APITimeoutError`.

    Like httpx's ``map_httpcore_exceptions``: one place, ``raise ... from exc``.
    Cancellation is never caught.
    """
    try:
        yield
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise APITimeoutError(
            f"timed out ({type(exc).__name__}); raise Timeout(...) or check the network",
            client_request_id=client_request_id,
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise APIConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}",
            client_request_id=client_request_id,
        ) from exc
