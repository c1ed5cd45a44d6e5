"""Client: the blocking client for scripts, notebooks and web workers.

A thin layer over :class:`AsyncClient`, never a copy of it: every method builds
the async call and runs it on the client's own event loop, in a daemon thread
started on first use (see ``_sync_loop``). Retries, limits, streaming and
errors are the async client's.

The trap it removes: an ``AsyncClient`` belongs to the loop it first ran in, so
a script that calls ``asyncio.run`` twice with one module-level client breaks.
A ``Client`` has its own loop for its whole life, whichever thread (or running
loop: Jupyter) calls it.
"""

from __future__ import annotations

import copy
import itertools
import warnings
import weakref
from collections.abc import Awaitable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

# Built on the public API only: these are the names `import doubao_vision` gives.
from . import (
    DEFAULT_MODEL,
    AsyncClient,
    BatchResult,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    ImageInput,
    Limits,
    Message,
    ParsedCompletion,
    RetryPolicy,
    StructuredStream,
    Timeout,
    UsageTotals,
)
from ._sync_loop import CLOSED, LoopThread
from ._sync_stream import Stream, SyncStructuredStream, blocking_iter

if TYPE_CHECKING:
    import aiohttp
    from typing_extensions import Unpack

    from . import ChatParams
    from ._calls import CallObserver, Limiter
    from ._messages import Detail
    from ._request import RequestParams

__all__ = ["Client", "Stream", "SyncStructuredStream"]

_T = TypeVar("_T")
_names = itertools.count(1)


async def _awaited(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


def _forgotten(loop: LoopThread, name: str) -> None:
    """The finalizer of a client collected (or left at exit) without close()."""
    if loop.started and not loop.closed and not loop.forked:
        warnings.warn(
            f"{name} was never closed: use 'with dv.Client() as client:' or 'client.close()'",
            ResourceWarning,
            stacklevel=2,
        )
    loop.close()


class Client:
    """A blocking client for Doubao vision chat: ``AsyncClient``'s calls, without ``await``.

    Takes the same arguments as :class:`AsyncClient` (see there), except
    ``session``: an aiohttp session belongs to one event loop, and this
    client's loop is private.

    One client may be shared by any number of threads. It runs its requests on
    a private event loop in a daemon thread, started at the first call and
    stopped (and joined) by :meth:`close`; it works the same inside a thread
    that runs an event loop of its own (Jupyter), since the calling thread only
    waits. Ctrl-C during a call cancels the request (its connection is closed)
    and leaves the client usable.

    Use ``with Client() as client:`` or call :meth:`close`; a client collected
    unclosed issues a ``ResourceWarning`` and stops its thread.

    Raises:
        RuntimeError: any call after :meth:`close` (or one that was running
            when another thread closed the client).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        max_connections: int | None = None,
        max_concurrency: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        rate_limiter: Limiter | None = None,
        trust_env: bool = True,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        observers: Sequence[CallObserver] = (),
        resize_images: bool = False,
        image_workers: int = 2,
    ) -> None:
        # `timeout=None` means the AsyncClient's default, which stays defined in one place.
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        self._async = AsyncClient(
            api_key,
            base_url=base_url,
            max_retries=max_retries,
            max_connections=max_connections,
            max_concurrency=max_concurrency,
            default_headers=default_headers,
            retry=retry,
            limits=limits,
            rpm=rpm,
            tpm=tpm,
            rate_limiter=rate_limiter,
            trust_env=trust_env,
            trace_configs=trace_configs,
            observers=observers,
            resize_images=resize_images,
            image_workers=image_workers,
            **options,
        )
        self._parent: Client | None = None
        self._loop = LoopThread(self._async, f"doubao-vision-client-{next(_names)}")
        # The finalizer holds the loop thread, never the client, so a forgotten
        # client is collected (and its thread stopped) like any other object.
        name = f"Client(base_url={self._async.base_url!r})"
        self._finalizer = weakref.finalize(self, _forgotten, self._loop, name)

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> Client:
        """A view of this client with other per-call options (see :meth:`AsyncClient.with_options`).

        It shares the loop thread, the pool, the limits and the usage totals;
        closing either closes both.
        """
        view = copy.copy(self)
        view._async = self._async.with_options(
            timeout=timeout, max_retries=max_retries, retry=retry, default_headers=default_headers
        )
        view._parent = self  # the client's finalizer must not run while a view is in use
        return view

    # -- lifecycle -------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel calls still running, close the pool, stop and join the loop thread.

        Safe to call more than once, and from any thread.
        """
        self._finalizer.detach()
        self._loop.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._loop.closed

    def __repr__(self) -> str:
        state = "closed" if self._loop.closed else "open"
        return f"<Client base_url={self.base_url!r} {state}>"

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run one of the async client's coroutines on the loop thread; wait for it."""
        return self._loop.run(coro)

    # -- what the async client knows ---------------------------------------

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def timeout(self) -> Timeout:
        return self._async.timeout

    @property
    def retry(self) -> RetryPolicy:
        return self._async.retry

    @property
    def limits(self) -> Limits:
        return self._async.limits

    @property
    def usage(self) -> UsageTotals:
        """Requests, retries, errors and tokens so far (see :class:`UsageTotals`)."""
        return self._async.usage

    # -- calls -----------------------------------------------------------

    def chat(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        **params: Unpack[ChatParams],
    ) -> ChatCompletion:
        """Ask for a whole completion (see :meth:`AsyncClient.chat`)."""
        return self._run(self._async.chat(model, messages, timeout=timeout, **params))

    def send(
        self, request: ChatRequest, *, timeout: Timeout | float | None = None
    ) -> ChatCompletion:
        """Send a prepared :class:`ChatRequest` and return its completion."""
        return self._run(self._async.send(request, timeout=timeout))

    @overload
    def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = ...,
        detail: Detail | None = ...,
        system: str | None = ...,
        timeout: Timeout | float | None = ...,
        response_format: Mapping[str, Any] | None = ...,
        **params: Unpack[RequestParams],
    ) -> str: ...
    @overload
    def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = ...,
        detail: Detail | None = ...,
        system: str | None = ...,
        timeout: Timeout | float | None = ...,
        response_format: type[_T],
        **params: Unpack[RequestParams],
    ) -> _T: ...
    def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = DEFAULT_MODEL,
        detail: Detail | None = None,
        system: str | None = None,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Any:
        """The one-liner: ``client.ask("What is this?", "cat.png")`` -> the answer text
        (or, with ``response_format=SomeClass``, an instance; see :meth:`AsyncClient.ask`)."""
        fmt: Any = response_format  # passed through whole: the async overloads pick the type
        return self._run(
            self._async.ask(
                prompt, *images, model=model, detail=detail, system=system, timeout=timeout,
                response_format=fmt, **params,
            )
        )  # fmt: skip

    @overload
    def parse(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        response_format: type[_T],
        max_repairs: int = ...,
        timeout: Timeout | float | None = ...,
        **params: Unpack[RequestParams],
    ) -> ParsedCompletion[_T]: ...
    @overload
    def parse(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        response_format: Mapping[str, Any],
        max_repairs: int = ...,
        timeout: Timeout | float | None = ...,
        **params: Unpack[RequestParams],
    ) -> ParsedCompletion[Any]: ...
    def parse(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        response_format: type[Any] | Mapping[str, Any],
        max_repairs: int = 1,
        timeout: Timeout | float | None = None,
        **params: Unpack[RequestParams],
    ) -> ParsedCompletion[Any]:
        """Ask for an instance of ``response_format``: ``client.parse(...).parsed``
        (see :meth:`AsyncClient.parse`)."""
        return self._run(
            self._async.parse(
                model, messages, response_format=response_format, max_repairs=max_repairs,
                timeout=timeout, **params,
            )
        )  # fmt: skip

    def models(self) -> list[str]:
        """The model ids the gateway lists (``GET /models``)."""
        return self._run(self._async.models())

    @overload
    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = ...,
        response_format: Mapping[str, Any] | None = ...,
        **params: Unpack[RequestParams],
    ) -> Stream[ChatCompletionChunk]: ...
    @overload
    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = ...,
        response_format: type[_T],
        **params: Unpack[RequestParams],
    ) -> SyncStructuredStream[_T]: ...
    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Stream[ChatCompletionChunk]:
        """Stream a completion: ``with client.stream(...) as s: for chunk in s: ...``.

        The request is checked now (bad input raises here); it is sent on
        ``with`` or the first ``for``. With ``response_format=SomeClass`` it is a
        :class:`SyncStructuredStream` (``partial_objects()``, ``final_parsed()``).
        """
        self._check_open()
        stream = self._async.stream(
            model, messages, timeout=timeout, response_format=response_format, **params
        )
        self._loop.track(stream)  # close() closes a stream its user left open
        if isinstance(stream, StructuredStream):
            return SyncStructuredStream(self._run, stream, self._is_closed)
        return Stream(self._run, stream, self._is_closed)

    def stream_request(
        self, request: ChatRequest, *, timeout: Timeout | float | None = None
    ) -> Stream[ChatCompletionChunk]:
        """Stream a prepared :class:`ChatRequest`."""
        self._check_open()
        stream = self._async.stream_request(request, timeout=timeout)
        self._loop.track(stream)
        return Stream(self._run, stream, self._is_closed)

    def batch(
        self,
        requests: Iterable[ChatRequest | Mapping[str, Any]],
        *,
        concurrency: int = 16,
        fail_fast: bool = False,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | None = None,
    ) -> list[BatchResult]:
        """Run many requests, ``concurrency`` at a time; the results in input order.

        A failed item is a result with its ``error`` set, unless ``fail_fast``:
        then the first error is raised and the rest cancelled. The input is
        pulled lazily (on the client's loop thread). See :class:`Batch`.
        """
        batch = self._async.batch(
            requests,
            concurrency=concurrency,
            fail_fast=fail_fast,
            timeout=timeout,
            response_format=response_format,
        )
        return self._run(_awaited(batch))

    def batch_iter(
        self,
        requests: Iterable[ChatRequest | Mapping[str, Any]],
        *,
        concurrency: int = 16,
        fail_fast: bool = False,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | None = None,
    ) -> Iterator[BatchResult]:
        """Like :meth:`batch`, but yield each :class:`BatchResult` as it completes.

        Each carries its input ``index``. Leaving the loop early cancels what is
        still in flight.
        """
        self._check_open()
        batch = self._async.batch(
            requests,
            concurrency=concurrency,
            fail_fast=fail_fast,
            timeout=timeout,
            response_format=response_format,
        )
        return blocking_iter(self._run, batch.__aiter__(), batch, self._is_closed)

    # -- helpers ---------------------------------------------------------

    def _is_closed(self) -> bool:
        return self._loop.closed

    def _check_open(self) -> None:
        # Calls that return an object before running anything check here, so a
        # closed client fails at once rather than at the first iteration.
        if self._loop.closed:
            raise RuntimeError(CLOSED)
