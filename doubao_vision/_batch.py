"""Bounded fan-out: run many requests with at most ``concurrency`` in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from ._config import Timeout
from ._exceptions import BatchStoppedError, DoubaoVisionError, InvalidRequestError
from ._extract import parsed_from
from ._models import ChatCompletion
from ._request import ChatRequest
from ._retry import cannot_succeed
from ._structured import with_response_format
from ._validate import check_at_least

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = ["Batch", "BatchInput", "BatchItem", "BatchResult"]

BatchItem: TypeAlias = ChatRequest | Mapping[str, Any]
BatchInput: TypeAlias = Iterable[BatchItem] | AsyncIterable[BatchItem]


@attrs.frozen
class BatchResult:
    """The outcome of one batch item.

    Attributes:
        index: the item's position in the input (from 0).
        request: the :class:`ChatRequest` sent (built from your mapping if you
            gave one), or the item as given if it could not become a request.
        completion: the answer, or None if the item failed.
        error: the typed error, or None if it succeeded. Bad input is an
            :class:`InvalidRequestError` (or an ``ImageError``) here too; an
            answer that does not fit the ``response_format`` class is an
            ``OutputValidationError`` (the completion is kept).
        parsed: the answer as the ``response_format`` class, if one was asked for.
    """

    index: int
    request: Any
    completion: ChatCompletion | None = None
    error: DoubaoVisionError | None = None
    parsed: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> ChatCompletion:
        """The completion, or raise the item's error."""
        if self.error is not None:
            raise self.error
        assert self.completion is not None
        return self.completion


def _to_request(item: object, default_format: type[Any] | None) -> tuple[ChatRequest, Any]:
    """The request for ``item`` and the class its answer is read into (or None)."""
    if isinstance(item, ChatRequest):
        cls = default_format
        return (item if cls is None else with_response_format(item, cls)), cls
    if isinstance(item, _Unbuilt):
        raise item.error
    if isinstance(item, Mapping):
        wanted = item.get("response_format")
        if isinstance(wanted, type):
            fields = {key: value for key, value in item.items() if key != "response_format"}
            return with_response_format(_from_mapping(fields), wanted), wanted
        request = _from_mapping(item)
        cls = default_format
        return (request if cls is None else with_response_format(request, cls)), cls
    return _from_mapping(item), None


def _from_mapping(item: object) -> ChatRequest:
    if not isinstance(item, Mapping):
        raise InvalidRequestError(
            "a batch item must be a ChatRequest or a mapping of chat() arguments "
            f"(model, messages, ...), not {type(item).__name__}"
        )
    try:
        return ChatRequest(**item)
    except DoubaoVisionError:
        raise
    except (TypeError, ValueError) as exc:  # a missing or unknown argument, say
        raise InvalidRequestError(f"bad batch item: {exc}") from None


@attrs.frozen
class _Unbuilt:
    """An input item that raised while it was being made."""

    error: DoubaoVisionError


class _Source:
    """Pulls items one at a time from a sync or async iterable.

    A lazy sync iterable (a generator that builds each request, reading its
    image file with ``user(prompt, path)``) is advanced in a worker thread, one
    item at a time: its disk reads never stall the event loop, however many
    calls are in flight. A list or tuple, already built, is read in place.
    """

    __slots__ = ("_async", "_in_thread", "_sync")

    def __init__(self, items: BatchInput) -> None:
        self._async: AsyncIterator[BatchItem] | None = None
        self._sync: Iterator[BatchItem] | None = None
        self._in_thread = False
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._in_thread = not isinstance(items, (list, tuple))
            self._sync = iter(items)

    async def pull(self, most: int = 1) -> list[object]:
        """Up to ``most`` next items (at least one unless the input is exhausted:
        then ``[]``).

        An item the input failed to build (a generator that raised one of our
        errors, e.g. an ImageNotFoundError from ``user()``) comes back as that
        error, to become the item's result; a generator that raised ends there.
        A lazy sync input is advanced in a worker thread, as many items per hop
        as there are free slots: one hop per item would queue behind every
        other callback on a busy loop.
        """
        if self._sync is not None:
            if self._in_thread:
                return await asyncio.to_thread(_take, self._sync, most)
            return _take(self._sync, most)
        assert self._async is not None
        try:
            return [await anext(self._async)]
        except StopAsyncIteration:
            return []
        except DoubaoVisionError as error:
            return [_Unbuilt(error)]

    async def aclose(self) -> None:
        close = getattr(self._async, "aclose", None)
        if close is not None:
            await close()


def _take(items: Iterator[BatchItem], most: int) -> list[object]:
    """Up to ``most`` items; an error building one ends the list (and the input)."""
    taken: list[object] = []
    try:
        for item in items:
            taken.append(item)
            if len(taken) >= most:
                break
    except DoubaoVisionError as error:
        taken.append(_Unbuilt(error))
    return taken


class Batch:
    """A run of many requests through one client; made by :meth:`AsyncClient.batch`.

    Two ways to consume it (once):

    - ``async for result in batch``: :class:`BatchResult` objects as they
      complete, each with its input ``index``. Memory stays bounded by
      ``concurrency`` however long the input is.
    - ``await batch``: the list of results in input order.

    The input is pulled lazily: a new item is taken only when fewer than
    ``concurrency`` are in flight, so a generator of a million requests never
    becomes a million tasks. Items may be :class:`ChatRequest` objects or
    mappings of ``chat()`` arguments; a mapping that is not a valid request
    becomes an ``InvalidRequestError`` result in its slot. A failed item does
    not stop the others unless ``fail_fast`` is set: then the first error is
    raised and everything still in flight is cancelled.

    Cancelling the task that iterates or awaits a batch cancels every call in
    flight and waits for them to finish (their connections are closed). After
    ``break`` the iterator is closed when Python finalises it (at once in
    CPython); ``async with client.batch(...) as batch:`` closes it when the
    block ends, for certain.

    Raises:
        ValueError: ``concurrency`` below 1.
        RuntimeError: a batch consumed twice.
    """

    def __init__(
        self,
        client: AsyncClient,
        requests: BatchInput,
        *,
        concurrency: int = 16,
        fail_fast: bool = False,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | None = None,
    ) -> None:
        check_at_least("concurrency", concurrency, 1)
        self._response_format = response_format
        self._client = client
        self._requests = requests
        self.concurrency = concurrency
        self.fail_fast = fail_fast
        self._timeout = timeout
        self._started = False
        self._closed = False
        # Held here, not only in the iterator, so that aclose() can stop the run
        # after `break` (CPython clears weak references to a dropped generator
        # before finalising it, and finalises it in a task of its own).
        self._running: set[asyncio.Task[BatchResult]] = set()
        self._source: _Source | None = None

    def __repr__(self) -> str:
        state = "started" if self._started else "not started"
        return f"<Batch concurrency={self.concurrency} fail_fast={self.fail_fast} {state}>"

    def __aiter__(self) -> AsyncIterator[BatchResult]:
        return self._iterate()

    def __await__(self) -> Generator[Any, None, list[BatchResult]]:
        return self._ordered().__await__()

    async def __aenter__(self) -> Batch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the run: cancel what is in flight and wait for it. Idempotent."""
        self._closed = True
        await self.aclose_running()
        source, self._source = self._source, None
        if source is not None:
            await source.aclose()

    async def aclose_running(self) -> None:
        """Cancel the calls in flight and wait for them (their connections close)."""
        running, self._running = self._running, set()
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
            for task in running:
                if not task.cancelled():
                    task.exception()  # retrieved, so asyncio does not log it

    async def _ordered(self) -> list[BatchResult]:
        slots: list[BatchResult | None] = []
        async with contextlib.aclosing(self._iterate()) as results:
            async for result in results:
                if result.index >= len(slots):
                    slots.extend([None] * (result.index + 1 - len(slots)))
                slots[result.index] = result
        return [result for result in slots if result is not None]

    async def _iterate(self) -> AsyncGenerator[BatchResult, None]:
        if self._started:
            raise RuntimeError("a Batch runs once; make a new one with client.batch(...)")
        self._started = True
        loop = asyncio.get_running_loop()
        source = self._source = _Source(self._requests)
        # Finished tasks arrive here from a done-callback: O(1) per completion,
        # where asyncio.wait would re-register on every pending task each time.
        finished: asyncio.Queue[asyncio.Task[BatchResult]] = asyncio.Queue()
        running = self._running
        items: dict[asyncio.Task[BatchResult], tuple[int, object]] = {}
        index = 0
        exhausted = False
        try:
            while True:
                while not exhausted and len(running) < self.concurrency:
                    pulled = await source.pull(self.concurrency - len(running))
                    if not pulled:
                        exhausted = True
                        break
                    for item in pulled:
                        task = loop.create_task(self._one(index, item))
                        task.add_done_callback(finished.put_nowait)
                        running.add(task)
                        items[task] = (index, item)
                        index += 1
                if not running or self._closed:
                    return
                task = await finished.get()
                running.discard(task)
                del items[task]
                result = task.result()  # anything but a DoubaoVisionError is a bug: raise it
                if self.fail_fast and result.error is not None:
                    raise result.error
                yield result
                if result.error is not None and cannot_succeed(result.error):
                    async for stopped in self._stop(result, items, source, index):
                        yield stopped
                    return
        finally:
            await self.aclose()

    async def _stop(
        self,
        failed: BatchResult,
        in_flight: dict[asyncio.Task[BatchResult], tuple[int, object]],
        source: _Source,
        next_index: int,
    ) -> AsyncGenerator[BatchResult, None]:
        """After an error no item can get past: cancel what is in flight and report
        it and every item not yet pulled as not sent, with the cause; nothing more
        is read or uploaded."""
        cause = failed.error
        assert cause is not None
        message = (
            f"not sent: the batch stopped after item {failed.index} failed with "
            f"{type(cause).__name__} ({cause})"
        )
        pending = dict(in_flight)
        await self.aclose_running()
        for task, (index, item) in sorted(pending.items(), key=lambda pair: pair[1][0]):
            if task.done() and not task.cancelled() and task.exception() is None:
                yield task.result()  # it finished before the cancel reached it
            else:
                yield BatchResult(index, item, None, BatchStoppedError(message, cause=cause))
        index = next_index
        while pulled := await source.pull(64):
            for item in pulled:
                yield BatchResult(index, item, None, BatchStoppedError(message, cause=cause))
                index += 1

    async def _one(self, index: int, item: object) -> BatchResult:
        try:
            request, cls = _to_request(item, self._response_format)
        except DoubaoVisionError as error:
            return BatchResult(index, item, None, error)
        try:
            completion = await self._client.send(request, timeout=self._timeout)
        except DoubaoVisionError as error:
            return BatchResult(index, request, None, error)
        if cls is None:
            return BatchResult(index, request, completion, None)
        try:
            parsed = parsed_from(completion, cls)
        except DoubaoVisionError as error:
            return BatchResult(index, request, completion, error)
        return BatchResult(index, request, completion, None, parsed)
