"""The emulator on its own loop in a background thread, for tests of the blocking Client.

A blocking call holds the calling thread, so the emulator cannot share the
test's loop: it gets a thread of its own here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from doubao_vision.emulator import Emulator

from .conftest import API_KEY

T = TypeVar("T")


class EmulatorThread:
    """An :class:`Emulator` served from a loop in a daemon thread."""

    def __init__(self, **options: Any) -> None:
        self.emulator = Emulator(api_key=API_KEY, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulator", daemon=True)

    def start(self) -> str:
        self._thread.start()
        return self.run(self.emulator.start())

    def stop(self) -> None:
        self.run(self.emulator.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the emulator's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    def settled(self) -> None:
        """Wait until the emulator's loop has run every callback queued so far."""
        self.run(asyncio.sleep(0))


def wait_until(predicate: Callable[[], bool], what: str, deadline: float = 15.0) -> None:
    """Poll ``predicate`` until it holds (a generous deadline, only so a bug cannot hang)."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"still not true after {deadline}s: {what}")
        time.sleep(0.005)


def open_fds() -> set[str]:
    """This process's open file descriptors (Linux)."""
    return set(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def emulator_thread(**options: Any) -> Iterator[EmulatorThread]:
    """A started :class:`EmulatorThread`, stopped on exit (use it in a fixture)."""
    server = EmulatorThread(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
