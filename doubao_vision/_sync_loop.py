"""LoopThread: one private event loop in a daemon thread, running coroutines for callers.

The blocking :class:`~doubao_vision.Client` is a thin layer over ``AsyncClient``:
each call becomes a coroutine that runs here, on the client's own loop, while the
calling thread waits. The calling thread may be anything: a plain script, one of
many worker threads, or a thread that runs an event loop of its own (Jupyter):
it only ever blocks, so nothing can deadlock.

Why not ``asyncio.run_coroutine_threadsafe``: on Ctrl-C we must cancel the task
*and wait until it has finished* (its connection closed, its pool slot given
back) before the ``KeyboardInterrupt`` reaches the user, so that the client is
usable at once. A cancelled ``concurrent.futures.Future`` is done immediately
and cannot say when the task is; :class:`_Call` keeps the task and only
completes the future from the task's done callback.

Nothing here refers to the ``Client``: the thread holds this object, never the
client, so a forgotten client can be collected (its finalizer then stops the
thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = ["LoopThread"]

_T = TypeVar("_T")

CLOSED = "this Client is closed; make a new one (or use 'with dv.Client() as client:')"
CLOSED_DURING = "the Client was closed (from another thread) while this call was running"
FORKED = (
    "this Client was used before the process forked; its loop thread lives in the parent "
    "only: make the client in each worker process (or use it first after the fork)"
)
SAME_THREAD = (
    "a blocking Client call from inside the Client's own event loop would deadlock; "
    "use an AsyncClient in async code"
)


class _Executor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor (``asyncio.to_thread``), usable at interpreter exit.

    A client left open is closed by its finalizer at exit, after Python has told
    every thread pool to refuse new work; closing may still need a thread (the
    async client reads and closes some things off the loop). Then the function
    runs inline, on the loop thread: at exit, nothing else is waiting for it.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        try:
            return super().submit(fn, *args, **kwargs)
        except RuntimeError:
            if self._shutdown:  # this executor was shut down: a real error
                raise
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Closable(Protocol):
    async def aclose(self) -> None: ...


class _Call(Generic[_T]):
    """One coroutine on the loop: its task, and the future the caller waits on."""

    __slots__ = ("_coro", "_task", "future", "loop")

    def __init__(self, coro: Coroutine[Any, Any, _T]) -> None:
        self._coro = coro
        self._task: asyncio.Task[_T] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # set just before start is queued
        self.future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def start(self) -> None:
        """On the loop: run the coroutine as a task."""
        assert self.loop is not None
        self._task = task = self.loop.create_task(self._coro)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[_T]) -> None:
        if task.cancelled():
            self._cancelled()
            return
        error = task.exception()
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(task.result())

    def cancel(self) -> None:
        """From the caller's thread: cancel the call; the future completes once it is over.

        A Ctrl-C can land anywhere, also before ``start`` was queued: then there
        is no task, and the coroutine is closed without ever running.
        """
        loop = self.loop
        if loop is None:
            self._cancelled()
            return
        try:
            loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is closed: teardown cancelled every task
            if not self.future.done():  # and start never ran
                self._cancelled()

    def _cancel(self) -> None:
        # If start was queued, it was queued before this (same thread, FIFO).
        if self._task is not None:
            self._task.cancel()
        else:
            self._cancelled()

    def _cancelled(self) -> None:
        self._coro.close()  # a coroutine that never ran: no "never awaited" warning
        if self.future.cancel():
            # Wakes concurrent.futures.wait()-style waiters too (cancel() alone does not).
            self.future.set_running_or_notify_cancel()


class LoopThread:
    """An event loop in a daemon thread, started on first use, that runs coroutines.

    Args:
        client: the ``AsyncClient`` living in this loop; closed on the loop when
            the thread stops.
        name: the thread's name.
    """

    def __init__(self, client: AsyncClient, name: str) -> None:
        self._client = client
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._pid = 0  # the process that started the thread
        self._teardown_error: BaseException | None = None
        # Streams opened through this loop, closed at teardown if their owner did not.
        self._streams: weakref.WeakSet[_Closable] = weakref.WeakSet()
        self.closed = False

    @property
    def started(self) -> bool:
        """True once the thread has been started (it may have stopped since)."""
        return self._thread is not None

    @property
    def forked(self) -> bool:
        """True in a child forked after the thread started (the thread is not here)."""
        return bool(self._pid) and self._pid != os.getpid()

    def track(self, stream: _Closable) -> None:
        """Close ``stream`` (``await stream.aclose()``) at teardown if still open then.

        Raises:
            RuntimeError: the client is closed.
        """
        with self._lock:
            if self.closed:
                raise RuntimeError(CLOSED)
            self._streams.add(stream)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result, in the calling thread.

        Any exception interrupting the wait (``KeyboardInterrupt`` from Ctrl-C)
        cancels the task, waits for it to finish, then propagates.

        Raises:
            RuntimeError: the client is closed (or was closed during the call),
                or this is the loop's own thread, or a forked child.
        """
        call = _Call(coro)
        future = call.future
        try:
            self._submit(call)
            return future.result()
        except concurrent.futures.CancelledError:
            if self.closed:
                raise RuntimeError(CLOSED_DURING) from None
            raise
        except BaseException:
            if future.done():  # the coroutine's own outcome
                raise
            call.cancel()
            # Wait for the cancelled task to unwind (a second Ctrl-C ends the wait).
            with contextlib.suppress(Exception):
                future.exception()
            raise

    def _submit(self, call: _Call[Any]) -> None:
        thread = self._thread
        if thread is not None and thread is threading.current_thread():
            raise RuntimeError(SAME_THREAD)
        with self._lock:
            if self.closed:
                raise RuntimeError(CLOSED)
            if self.forked:
                raise RuntimeError(FORKED)
            call.loop = self._loop if self._loop is not None else self._start()
            # Under the lock, so close() queues loop.stop only after every start.
            call.loop.call_soon_threadsafe(call.start)

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(_Executor(thread_name_prefix=f"{self._name}-worker"))
        thread = threading.Thread(target=self._serve, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()
        return loop

    def close(self) -> None:
        """Stop the loop and join the thread; idempotent, safe from any thread.

        The thread cancels every call still running (their callers get a
        ``RuntimeError``), closes open streams and the client's pool, then the loop.

        Raises:
            Exception: whatever closing the pool raised.
        """
        with self._lock:
            self.closed = True
            if self.forked:
                return  # a forked child: the thread and its loop are the parent's
            loop, thread = self._loop, self._thread
            if loop is not None and not self._stopping:
                self._stopping = True
                # RuntimeError: the loop already ended (its thread died).
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(loop.stop)
        if thread is None or thread is threading.current_thread():
            return  # never started; or a collection on the loop thread: it stops by itself
        thread.join()
        error, self._teardown_error = self._teardown_error, None
        if error is not None:
            raise error

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread: run the loop until close(), then tear down like ``asyncio.run``."""
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            with self._lock:
                self.closed = True  # also if the loop died: later calls fail, not hang
            try:
                loop.run_until_complete(_cancel_all())
                loop.run_until_complete(loop.shutdown_asyncgens())  # streams being read
                loop.run_until_complete(_close_all(list(self._streams)))  # and the rest
                loop.run_until_complete(self._client.aclose())
                loop.run_until_complete(loop.shutdown_default_executor())
            except BaseException as exc:
                self._teardown_error = exc
            finally:
                asyncio.set_event_loop(None)
                loop.close()


async def _close_all(streams: list[_Closable]) -> None:
    for stream in streams:
        await stream.aclose()


async def _cancel_all() -> None:
    """Cancel every other task on this loop and wait for them, until none is left."""
    me = asyncio.current_task()
    while tasks := [task for task in asyncio.all_tasks() if task is not me]:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
