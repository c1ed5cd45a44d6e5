"""The blocking Client's life: close, leaks, forgotten clients, Ctrl-C, real scripts."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import doubao_vision as dv
from doubao_vision._sync import Client
from doubao_vision.emulator import Emulator, Fault

from ._emulator_thread import EmulatorThread, emulator_thread, open_fds, wait_until
from ._expect import answer
from .conftest import API_KEY

MODEL = dv.MODEL_VISION_PRO
STALL = {"X-Emulator-Fault": Fault.stall(60).to_header()}


@pytest.fixture
def server() -> Iterator[EmulatorThread]:
    with emulator_thread() as running:
        yield running


# -- close -----------------------------------------------------------------------


def test_close_leaves_no_thread_fd_connection_or_warning(
    server: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """After close(), even with streams left open: no threads, fds, connections, warnings or logs."""
    threads = set(threading.enumerate())
    fds = open_fds()
    slow = {"X-Emulator-Chunk-Delay": "0.05", "X-Emulator-Chunks": "40"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client(API_KEY, base_url=server.base_url, max_connections=4)
        assert client.ask("one") == answer("one")
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(client.ask, ["a", "b", "c", "d"])) == list(map(answer, "abcd"))
        half_read = client.stream(MODEL, [dv.user("half read")], extra_headers=slow)
        chunks = iter(half_read.__enter__())
        next(chunks)  # one chunk read, the rest left on the wire
        entered = client.stream(MODEL, [dv.user("entered")], extra_headers=slow).__enter__()
        assert server.emulator.open_connections >= 2
        client.close()
        assert client.closed
        del chunks, half_read, entered
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert set(threading.enumerate()) == threads
    wait_until(lambda: server.emulator.open_connections == 0, "connections closed")
    server.settled()  # the emulator has closed its side's sockets too
    assert open_fds() == fds


def test_every_call_after_close_raises_clearly(server: EmulatorThread) -> None:
    """After close(): every method raises RuntimeError naming the fix; no never-awaited warnings."""
    client = Client(API_KEY, base_url=server.base_url)
    assert client.ask("open") == answer("open")
    stream = client.stream(MODEL, [dv.user("made before close")])
    client.close()
    client.close()  # idempotent
    request = dv.ChatRequest(model=MODEL, messages=[dv.user("x")])
    calls: list[Callable[[], object]] = [
        lambda: client.ask("x"),
        lambda: client.chat(MODEL, [dv.user("x")]),
        lambda: client.send(request),
        client.models,
        lambda: client.stream(MODEL, [dv.user("x")]),
        lambda: client.stream_request(request),
        lambda: client.batch([request]),
        lambda: client.batch_iter([request]),
        lambda: list(stream),
        stream.final_completion,
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in calls:
            with pytest.raises(RuntimeError, match=r"closed; make a new one"):
                call()
        stream.close()  # closing a stream of a closed client is a no-op
        gc.collect()
    assert caught == []


def test_an_unused_client_starts_nothing_and_needs_no_close(server: EmulatorThread) -> None:
    """A client never called starts no thread, and collecting it warns of nothing."""
    threads = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client(API_KEY, base_url=server.base_url)
        assert set(threading.enumerate()) == threads
        del client
        gc.collect()
    assert caught == []


def test_close_from_another_thread_ends_a_running_call(server: EmulatorThread) -> None:
    """close() while another thread waits on a call: that call raises, its connection closes."""
    client = Client(API_KEY, base_url=server.base_url)
    errors: list[BaseException] = []

    def stalled() -> None:
        try:
            client.chat(MODEL, [dv.user("stalled")], extra_headers=STALL)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=stalled)
    worker.start()
    wait_until(lambda: server.emulator.request_count == 1, "the stalled call arrived")
    client.close()
    worker.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "closed" in str(errors[0])
    wait_until(lambda: server.emulator.open_connections == 0, "connection closed")


# -- forgotten clients -------------------------------------------------------------


def test_a_forgotten_client_is_collected_and_stops_its_thread(server: EmulatorThread) -> None:
    """The loop thread does not keep a dropped client alive: collecting it warns and stops it."""
    threads = set(threading.enumerate())
    held = [Client(API_KEY, base_url=server.base_url)]
    assert held[0].ask("forgotten") == answer("forgotten")
    ref = weakref.ref(held[0])
    with pytest.warns(ResourceWarning, match="never closed"):
        held.clear()  # the last reference: no gc.collect() needed
    assert ref() is None
    assert set(threading.enumerate()) == threads
    wait_until(lambda: server.emulator.open_connections == 0, "connection closed")


def test_a_stream_keeps_its_client_alive(server: EmulatorThread) -> None:
    """A stream made from a client nobody else holds still works; the client goes after it."""
    held = [Client(API_KEY, base_url=server.base_url).stream(MODEL, [dv.user("kept")])]
    gc.collect()
    assert held[0].final_completion().text == answer("kept")
    with pytest.warns(ResourceWarning, match="never closed"):
        held.clear()


# -- real processes ------------------------------------------------------------------

SCRIPT = """
import sys
import doubao_vision as dv
from doubao_vision._sync import Client

url, key = sys.argv[1:3]
with Client(key, base_url=url) as client:
    print(client.ask("from a script"))
    with client.stream(dv.MODEL_VISION_PRO, [dv.user("streamed")]) as stream:
        print("".join(stream.text_deltas()))
    print(len(client.batch([{"model": dv.MODEL_VISION_PRO, "messages": [dv.user("b")]}] * 3)))
if sys.argv[3] == "forget":
    module_level = Client(key, base_url=url)  # never closed: its finalizer runs at exit
    print(module_level.ask("left open"))
"""


async def run_script(emulator: Emulator, *flags: str, mode: str = "close") -> tuple[str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *flags,
        "-c",
        SCRIPT,
        emulator.base_url,
        API_KEY,
        mode,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode()


async def test_a_plain_script_runs_end_to_end_with_warnings_as_errors(emulator: Emulator) -> None:
    """A script using the client (python -W error, ResourceWarning included): right answers, empty stderr."""
    # Not -X dev: its asyncio debug mode logs any slow loop step, and a loaded CI box has them.
    out, err = await run_script(emulator, "-W", "error")
    assert out.splitlines() == [answer("from a script"), answer("streamed"), "3"]
    assert err == ""


async def test_a_client_left_open_at_exit_closes_quietly(emulator: Emulator) -> None:
    """A module-level client never closed: the script exits cleanly, no aiohttp noise."""
    out, err = await run_script(emulator, mode="forget")
    assert out.splitlines()[-1] == answer("left open")
    assert err == ""
    # With ResourceWarning shown, ours is the only thing said.
    _, err = await run_script(emulator, "-W", "always::ResourceWarning", mode="forget")
    assert "was never closed" in err
    assert "Unclosed" not in err and "Exception ignored" not in err


CTRL_C_SCRIPT = """
import signal, sys
# Python installs no SIGINT handler if it starts with SIGINT ignored (a background
# job in CI does): install the usual one.
signal.signal(signal.SIGINT, signal.default_int_handler)
import doubao_vision as dv
from doubao_vision._sync import Client
from doubao_vision.emulator import Fault

url, key = sys.argv[1:3]

def say(*words):
    print(*words, flush=True)

def interrupt(what, call):
    try:
        call()
    except KeyboardInterrupt:
        say("interrupted", what)
    else:
        say("finished", what)
    sys.stdin.readline()  # the test checks the emulator saw the connection close

def stream():
    quiet = {"X-Emulator-Fault": Fault.keepalive_only(60).to_header()}
    with client.stream(dv.MODEL_VISION_PRO, [dv.user("a b")], extra_headers=quiet) as s:
        for _chunk in s:
            say("chunk")

stall = {"X-Emulator-Fault": Fault.stall(60).to_header()}
with Client(key, base_url=url, max_connections=1) as client:
    interrupt("chat", lambda: client.chat(dv.MODEL_VISION_PRO, [dv.user("x")], extra_headers=stall))
    say(client.ask("after chat"))
    interrupt("stream", stream)
    say(client.ask("after stream"))
    stalled = [
        {"model": dv.MODEL_VISION_PRO, "messages": [dv.user("x")], "extra_headers": stall}
    ] * 3
    interrupt("batch", lambda: client.batch(stalled, concurrency=3))
    say(client.ask("after batch"))
"""


async def until(predicate: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < end, f"still not true: {what}"
        await asyncio.sleep(0.01)


async def test_ctrl_c_cancels_the_request_and_the_client_stays_usable(emulator: Emulator) -> None:
    """SIGINT in a chat, mid-stream, in a batch: each time the connection closes, the next call works."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CTRL_C_SCRIPT,
        emulator.base_url,
        API_KEY,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def line() -> str:
        assert proc.stdout is not None and proc.stderr is not None
        raw = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not raw:  # the script ended early: show why
            raise AssertionError((await proc.stderr.read()).decode())
        return raw.decode().rstrip("\n")

    async def go_on() -> None:
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        await proc.stdin.drain()

    try:
        await until(lambda: emulator.request_count == 1, "the stalled chat arrived")
        assert emulator.open_connections == 1
        proc.send_signal(signal.SIGINT)
        assert await line() == "interrupted chat"
        # The request was cancelled, not left running: the emulator saw its connection close.
        await until(lambda: emulator.open_connections == 0, "chat connection closed")
        await go_on()
        assert await line() == answer("after chat")

        assert await line() == "chunk"
        assert emulator.open_connections == 1
        proc.send_signal(signal.SIGINT)
        assert await line() == "interrupted stream"
        await until(lambda: emulator.open_connections == 0, "stream connection closed")
        await go_on()
        assert await line() == answer("after stream")

        await until(lambda: emulator.request_count == 5, "the batch's first call arrived")
        proc.send_signal(signal.SIGINT)
        assert await line() == "interrupted batch"
        await until(lambda: emulator.open_connections == 0, "batch connection closed")
        await go_on()
        assert await line() == answer("after batch")
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert (await proc.stderr.read()).decode() == ""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await _drain(proc)


async def _drain(proc: Any) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            await pipe.read()
    if proc.stdin is not None:
        proc.stdin.close()


FORK_SCRIPT = """
import os, sys
from doubao_vision._sync import Client

url, key = sys.argv[1:3]
client = Client(key, base_url=url)
print(client.ask("parent"), flush=True)
pid = os.fork()
if pid == 0:
    try:
        client.ask("child")
    except RuntimeError as exc:
        print("child error:", exc, flush=True)
    with Client(key, base_url=url) as fresh:
        print(fresh.ask("child's own"), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print(client.ask("parent again"), flush=True)
client.close()
"""


async def test_a_client_used_before_fork_fails_clearly_in_the_child(emulator: Emulator) -> None:
    """After os.fork(), the child gets a clear error (not a hang); its own client works; the parent's too."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FORK_SCRIPT,
        emulator.base_url,
        API_KEY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == answer("parent")
    assert lines[1].startswith("child error:") and "fork" in lines[1]
    assert lines[2:] == [answer("child's own"), answer("parent again")]
