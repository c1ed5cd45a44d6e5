"""Stream: the blocking face of an ``AsyncStream``, and async iterators made blocking.

The chunks, the accumulation and the closing rules are the async stream's own;
this module only moves items from the client's loop thread to the caller.

A hop between threads costs tens of microseconds, more than parsing a chunk,
and a fast stream delivers dozens of chunks per network read. So a stream is
read by a *pump*: a task on the loop that iterates the async stream into a
bounded queue (at most ``_READ_AHEAD`` chunks ahead of the caller), and each
hop hands the caller every chunk that is ready, not one. Batches use one hop
per result instead (:func:`blocking_iter`): reading results ahead would start
requests sooner than the caller asks for them.

Leaving a loop early (``break``, an exception, Ctrl-C) closes the response at
once, before the loop's next statement runs: the sync generator is finalised as
soon as the ``for`` drops it, and it stops the pump and closes the async side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

# Built on the public API only: these are the names `import doubao_vision` gives.
from . import ChatCompletion, ChatCompletionChunk

if TYPE_CHECKING:
    from . import AsyncStream, StructuredStream

__all__ = ["Stream", "SyncStructuredStream", "blocking_iter"]

_T = TypeVar("_T")
_ChunkT = TypeVar("_ChunkT", bound=ChatCompletionChunk, covariant=True)


class Run(Protocol):
    """Runs a coroutine on the client's loop and returns its result (``Client._run``)."""

    def __call__(self, coro: Coroutine[Any, Any, _T], /) -> _T: ...


class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def _next(iterator: AsyncIterator[_T]) -> _T:
    return await iterator.__anext__()


async def _close(reader: object, owner: _Closable) -> None:
    """Close the reader (an async generator or a pump), then what it reads."""
    close = getattr(reader, "aclose", None)
    if close is not None:
        await close()
    await owner.aclose()


def blocking_iter(
    run: Run, iterator: AsyncIterator[_T], owner: _Closable, closed: Callable[[], bool]
) -> Iterator[_T]:
    """Iterate ``iterator`` one step per ``run``; on any exit, close it and ``owner``.

    ``closed()`` says whether the client is closed: then its loop has already
    closed every async generator, and there is nothing left to do here.
    """
    try:
        while True:
            try:
                item = run(_next(iterator))
            except StopAsyncIteration:
                return
            yield item
    finally:
        if not closed():
            run(_close(iterator, owner))


_READ_AHEAD = 256  # chunks a pump may hold before the caller takes them
_ITEM, _END, _ERROR = 0, 1, 2


class _Pump(Generic[_T]):
    """Iterates an async iterator on the loop into a bounded queue (see the module doc)."""

    __slots__ = ("_iterator", "_queue", "_task", "closed", "finished")

    def __init__(self, iterator: AsyncIterator[_T]) -> None:
        self._iterator = iterator
        self._queue: asyncio.Queue[tuple[int, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.finished = False  # the end (or the error) has left the queue
        self.closed = False

    async def take(self) -> list[tuple[int, Any]]:
        """On the loop: the next entry, and every one after it that is ready."""
        if self.finished:  # drain() read the rest for final_completion()
            return [(_END, None)]
        queue = self._queue
        if queue is None:
            queue = self._queue = asyncio.Queue(_READ_AHEAD)
            self._task = asyncio.get_running_loop().create_task(self._fill(queue))
        entries = [await queue.get()]
        while entries[-1][0] == _ITEM and not queue.empty():
            entries.append(queue.get_nowait())
        if entries[-1][0] != _ITEM:
            self.finished = True  # nothing more will come: later takes must not wait
        return entries

    async def _fill(self, queue: asyncio.Queue[tuple[int, Any]]) -> None:
        try:
            async for item in self._iterator:
                await queue.put((_ITEM, item))
        except Exception as exc:  # the caller raises it; cancellation is not caught
            await queue.put((_ERROR, exc))
        else:
            await queue.put((_END, None))

    async def drain(self) -> None:
        """On the loop: read to the end, dropping the chunks (the stream keeps their sum)."""
        while not self.finished:
            for kind, value in await self.take():
                if kind == _ERROR:
                    raise value

    async def aclose(self) -> None:
        """On the loop: stop the task, then close the iterator. Idempotent."""
        self.closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            await close()


def _pumped(
    run: Run, pump: _Pump[_T], owner: _Closable, closed: Callable[[], bool]
) -> Iterator[_T]:
    """The caller's side of a pump: one hop per batch of ready items."""
    try:
        while True:
            for kind, value in run(pump.take()):
                if kind == _ITEM:
                    yield value
                elif kind == _ERROR:
                    raise value
                else:
                    return
    finally:
        if not closed():
            run(_close(pump, owner))


class Stream(Generic[_ChunkT]):
    """A streamed chat completion, blocking. Use ``with`` and ``for``.

    Made by :meth:`Client.stream`; mirrors :class:`AsyncStream`: iterate it for
    :class:`ChatCompletionChunk` objects, or use :meth:`text_deltas`,
    :meth:`reasoning_deltas` and :meth:`final_completion`. Leaving a ``for``
    loop early closes the response (as the async stream does); so does leaving
    ``with``, and :meth:`close`.

    Raises (while iterating): the same errors as :class:`AsyncStream`.
    """

    def __init__(self, run: Run, stream: AsyncStream[_ChunkT], closed: Callable[[], bool]) -> None:
        self._run = run
        self._stream = stream
        self._closed = closed
        self._pump: _Pump[Any] | None = None  # the latest loop's, for final_completion

    def __enter__(self) -> Stream[_ChunkT]:
        self._run(self._stream.__aenter__())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the response and free its pool slot. Safe to call more than once."""
        if not self._closed():
            self._run(self._stream.aclose())

    def __iter__(self) -> Iterator[_ChunkT]:
        return self._pumped(self._stream.__aiter__())

    def text_deltas(self) -> Iterator[str]:
        """The content text, piece by piece."""
        return self._pumped(self._stream.text_deltas())

    def reasoning_deltas(self) -> Iterator[str]:
        """The reasoning_content text, piece by piece."""
        return self._pumped(self._stream.reasoning_deltas())

    def final_completion(self) -> ChatCompletion:
        """Read what is left and return the whole completion (see :class:`AsyncStream`)."""
        self._settle()
        return self._run(self._stream.final_completion())

    def _settle(self) -> None:
        pump = self._pump
        if pump is not None and not pump.finished and not pump.closed:
            # A loop over this stream is under way (and its pump reading ahead):
            # finish through it, so that only one reader ever touches the stream.
            self._run(pump.drain())

    def _pumped(self, iterator: AsyncIterator[_T]) -> Iterator[_T]:
        pump = self._pump = _Pump(iterator)
        return _pumped(self._run, pump, self._stream, self._closed)

    @property
    def completion(self) -> ChatCompletion:
        """The completion accumulated from the chunks seen so far."""
        return self._stream.completion

    @property
    def request_id(self) -> str | None:
        """The server's request id, once the response headers arrived."""
        return self._stream.request_id

    @property
    def client_request_id(self) -> str:
        """The ``X-Client-Request-Id`` this stream sent."""
        return self._stream.client_request_id

    def __repr__(self) -> str:
        return f"<Stream client_request_id={self.client_request_id!r}>"


class SyncStructuredStream(Stream[ChatCompletionChunk], Generic[_T]):
    """A blocking stream asked for a ``response_format`` class: ``client.stream(...,
    response_format=Cls)``. Everything a :class:`Stream` does, plus
    :meth:`partial_objects` and :meth:`final_parsed` (see :class:`StructuredStream`).
    """

    _stream: StructuredStream[_T]

    def partial_objects(self) -> Iterator[dict[str, Any]]:
        """The object so far, as a dict, while it streams (needs the ``structured`` extra)."""
        return self._pumped(self._stream.partial_objects())

    def final_parsed(self) -> _T:
        """Read the rest and return the answer as the requested class (no repair round)."""
        self._settle()
        return self._run(self._stream.final_parsed())
