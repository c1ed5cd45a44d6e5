"""Call: one logical call (chat, stream or model list), with its retries.

A call holds one in-flight slot from admission to its end (a stream's whole
life), passes the rate limiter before every attempt, retries what
:mod:`._retry` says to retry, and keeps the client's usage totals. It is the
one place per-attempt behaviour attaches (logging, tracing, response info),
for every kind of call alike.

``Runtime`` is what every call of one client shares: the transport, the slot
semaphore, the rate limiter and the usage totals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._config import RetryPolicy, Timeout
from ._exceptions import APIStatusError, DoubaoVisionError, RateLimitError
from ._http_info import NO_HEADERS, RateLimitInfo, ResponseInfo, read_only_headers
from ._models import ChatCompletion
from ._retry import retry_delay
from ._transport import Transport
from ._usage import UsageTotals

if TYPE_CHECKING:
    from ._request import ChatRequest

__all__ = ["Call", "CallObserver", "Limiter", "Runtime", "new_client_request_id"]

log = logging.getLogger("doubao_vision")

T = TypeVar("T")


class CallObserver(Protocol):
    """Hooks every call runs through (logging and tracing attach here, once).

    Each hook must be cheap and must not raise. ``call`` carries the state:
    ``kind``, ``method``, ``url``, ``request``, ``client_request_id``,
    ``retries``, ``started_at``/``attempt_started_at`` (``time.perf_counter``),
    ``status``/``response_headers`` of the last answered attempt, ``body_size``,
    and for streams ``first_chunk_at`` and ``chunks``.
    """

    def call_started(self, call: Call) -> None: ...

    def attempt_answered(self, call: Call) -> None: ...

    def attempt_failed(self, call: Call, error: DoubaoVisionError, delay: float | None) -> None:
        """An attempt failed; ``delay`` is the wait before the next one, None if final."""

    def call_finished(self, call: Call, result: object, error: BaseException | None) -> None:
        """The call ended: ``result`` (a completion, a model list) or ``error``."""


class Limiter(Protocol):
    """What a call needs of a rate limiter (:class:`RateLimiter`, or a cluster-wide one)."""

    async def acquire(self, request: ChatRequest | None) -> None: ...

    def cool_down(self, seconds: float) -> None: ...


class _RequestIds:
    """Ark's shape, ``YYYYmmddHHMMSS`` + 20 hex digits, without a syscall per call:
    a random per-process prefix and a counter (re-seeded in a forked child, so
    parent and child never share ids), and the time stamp formatted once a second."""

    __slots__ = ("_count", "_prefix", "_second", "_stamp")

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""
        self._reseed()
        if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
            os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_hex(5)
        self._count = 0

    def next(self) -> str:
        self._count += 1
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(second))
        return f"{self._stamp}{self._prefix}{self._count & 0xFFFFFFFFFF:010x}"


new_client_request_id = _RequestIds().next


class Runtime:
    """What the calls of one client share (and ``with_options`` views of it)."""

    __slots__ = ("_max_in_flight", "_slots", "limiter", "observers", "transport", "usage")

    def __init__(
        self,
        transport: Transport,
        limiter: Limiter,
        max_in_flight: int,
        observers: Sequence[CallObserver] = (),
    ) -> None:
        self.transport = transport
        self.limiter = limiter
        self.usage = UsageTotals()
        self.observers = tuple(observers)
        self._max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None

    def slots(self) -> asyncio.Semaphore:
        """The in-flight semaphore, made in the transport's loop on first use."""
        self.transport.bind()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_in_flight)
        return self._slots


class Call:
    """One logical call: ``async with call:`` holds its slot; :meth:`run` retries.

    Args:
        runtime: the client's shared parts.
        retry: the retry policy in force for this call.
        timeout: one attempt's limits.
        headers: the request headers (the key included; never logged).
        request: the chat request (for the limiter's token estimate), or None.
    """

    __slots__ = (
        "_finished",
        "_holds_slot",
        "_observers",
        "_runtime",
        "attempt_started_at",
        "body_size",
        "chunks",
        "client_request_id",
        "ended_at",
        "first_chunk_at",
        "headers",
        "kind",
        "method",
        "request",
        "response_headers",
        "retries",
        "retry",
        "started_at",
        "status",
        "timeout",
        "url",
    )

    def __init__(
        self,
        runtime: Runtime,
        retry: RetryPolicy,
        timeout: Timeout,
        headers: Mapping[str, str],
        request: ChatRequest | None,
        client_request_id: str,
        *,
        kind: str,
        method: str,
        url: str,
    ) -> None:
        self._runtime = runtime
        self._observers = runtime.observers
        self.retry = retry
        self.timeout = timeout
        self.headers = headers
        self.request = request
        self.client_request_id = client_request_id
        self.kind = kind
        self.method = method
        self.url = url
        self.retries = 0
        self.body_size: int | None = None
        self.status: int | None = None
        self.response_headers: Mapping[str, str] = NO_HEADERS
        self.started_at = self.attempt_started_at = time.perf_counter()
        self.ended_at: float | None = None
        self.first_chunk_at: float | None = None
        self.chunks = 0
        self._holds_slot = False
        self._finished = False

    @property
    def transport(self) -> Transport:
        return self._runtime.transport

    @property
    def usage(self) -> UsageTotals:
        return self._runtime.usage

    async def __aenter__(self) -> Call:
        await self.enter()
        return self

    async def __aexit__(self, exc_type: object, error: BaseException | None, tb: object) -> None:
        self.finish(None, error)

    async def enter(self) -> None:
        """Take a slot, count the call, and pass the rate limiter for the first attempt."""
        # A call made now but started later (a stream entered later) is timed from here.
        self.started_at = self.attempt_started_at = time.perf_counter()
        for observer in self._observers:
            observer.call_started(self)
        try:
            slots = self._runtime.slots()
            await slots.acquire()
            self._holds_slot = True
            self._runtime.usage.requests += 1
            await self._runtime.limiter.acquire(self.request)
        except BaseException as error:  # cancelled while queued, say: the call is over
            self.finish(None, error)
            raise

    def exit(self) -> None:
        """Give the slot back (once, however often it is called)."""
        if self._holds_slot:
            self._holds_slot = False
            slots = self._runtime._slots
            if slots is not None:
                slots.release()

    def finish(self, result: object, error: BaseException | None) -> None:
        """The call is over: tell the observers (once) and give the slot back."""
        if not self._finished:
            self._finished = True
            self.ended_at = time.perf_counter()
            if isinstance(result, ChatCompletion) and result.http is None:
                # Built just now for this call: fill in the field in place (as
                # read_completion does for the request ids), before observers look.
                object.__setattr__(result, "http", self.response_info())
            for observer in self._observers:
                observer.call_finished(self, result, error)
        self.exit()

    async def run(self, attempt: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await attempt(*args)`` until it succeeds or its error is final."""
        while True:
            self.attempt_started_at = time.perf_counter()
            try:
                return await attempt(*args)
            except DoubaoVisionError as error:
                await self.retry_or_raise(error)

    def answered(self, status: int, headers: Mapping[str, str]) -> None:
        """An attempt's response headers arrived (called by the attempt)."""
        self.status = status
        self.response_headers = headers
        for observer in self._observers:
            observer.attempt_answered(self)

    def response_info(self) -> ResponseInfo:
        """What ``result.http`` shows of this call."""
        headers = self.response_headers
        ended = self.ended_at
        first = self.first_chunk_at
        return ResponseInfo(
            status_code=self.status or 0,
            headers=read_only_headers(headers),
            elapsed=None if ended is None else ended - self.started_at,
            attempts=self.retries + 1,
            time_to_first_chunk=None if first is None else first - self.started_at,
            chunks=self.chunks,
            rate_limit=RateLimitInfo.from_headers(headers),
        )

    async def retry_or_raise(self, error: DoubaoVisionError) -> None:
        """Sleep before the next attempt (and pass the limiter again), or raise ``error``."""
        delay = retry_delay(self.retry, self.retries, error)
        for observer in self._observers:
            observer.attempt_failed(self, error, delay)
        limiter = self._runtime.limiter
        if isinstance(error, RateLimitError):
            limiter.cool_down(delay if delay is not None else 0.0)
        if delay is None:
            self.failed(error)
            raise error
        self.retries += 1
        self._runtime.usage.retries += 1
        status = error.status_code if isinstance(error, APIStatusError) else type(error).__name__
        log.info(
            "retrying in %.2fs after %s (retry %d of %d, client request id %s)",
            delay,
            status,
            self.retries,
            self.retry.max_retries,
            self.client_request_id,
        )
        await asyncio.sleep(delay)
        await limiter.acquire(self.request)

    def failed(self, error: BaseException) -> None:
        """Count a call that finally failed (a stream may fail after its retries are over)."""
        self._runtime.usage.add_error(error)
