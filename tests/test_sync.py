"""The blocking Client: the async client's calls without await, from any thread or loop."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient

# Until the integrator exports it from doubao_vision (lazily, like AsyncClient).
from doubao_vision._sync import Client, SyncStructuredStream
from doubao_vision.emulator import Emulator, Fault

from ._emulator_thread import EmulatorThread, emulator_thread, wait_until
from ._expect import answer
from .conftest import API_KEY, FAST_RETRY

MODEL = dv.MODEL_VISION_PRO


@pytest.fixture
def server() -> Iterator[EmulatorThread]:
    with emulator_thread() as running:
        yield running


@pytest.fixture
def client(server: EmulatorThread) -> Iterator[Client]:
    with Client(API_KEY, base_url=server.base_url, retry=FAST_RETRY) as client:
        yield client


def item(prompt: str) -> dict[str, object]:
    return {"model": MODEL, "messages": [dv.user(prompt)]}


# -- the calls -----------------------------------------------------------------


def test_chat_ask_send_models_answer_like_the_async_client(client: Client, png: bytes) -> None:
    """chat, ask (with an image), send and models return what the emulator answers."""
    completion = client.chat(MODEL, [dv.user("hello")])
    assert isinstance(completion, dv.ChatCompletion)
    assert completion.text == answer("hello")
    assert client.ask("what is it?", png) == answer("what is it?", png)
    request = dv.ChatRequest(model=MODEL, messages=[dv.user("sent")])
    assert client.send(request).text == answer("sent")
    assert MODEL in client.models()
    assert client.usage.requests == 4


def test_stream_yields_typed_chunks_and_the_final_completion(client: Client) -> None:
    """stream() under with: typed chunks, then final_completion() matches the text."""
    with client.stream(MODEL, [dv.user("a b c")]) as stream:
        chunks = list(stream)
        final = stream.final_completion()
    assert chunks and all(isinstance(c, dv.ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == final.text == answer("a b c")
    assert final.client_request_id == stream.client_request_id


def test_stream_helpers_and_use_without_with(client: Client) -> None:
    """text_deltas() works without with; final_completion() alone reads the whole stream."""
    pieces = list(client.stream(MODEL, [dv.user("x y z")]).text_deltas())
    assert "".join(pieces) == answer("x y z") and len(pieces) > 1
    stream = client.stream(MODEL, [dv.user("only final")])
    assert stream.final_completion().text == answer("only final")
    stream.close()
    stream.close()  # idempotent


def test_final_completion_while_a_loop_is_under_way(client: Client) -> None:
    """final_completion() mid-loop reads the rest once; the held loop then ends (no hang)."""
    headers = {"X-Emulator-Chunks": "30"}
    with client.stream(MODEL, [dv.user("p q r")], extra_headers=headers) as stream:
        chunks = iter(stream)
        first = next(chunks)
        assert first.choices
        assert stream.final_completion().text == answer("p q r")
        # The held loop yields what was already handed over to it, then ends.
        assert all(isinstance(chunk, dv.ChatCompletionChunk) for chunk in chunks)
        assert stream.final_completion().text == answer("p q r")


def test_an_error_mid_stream_raises_after_the_chunks_before_it(client: Client) -> None:
    """An error event after two chunks: both chunks arrive, then the typed error is raised."""
    fault = {"X-Emulator-Fault": Fault.stream_error_event(2).to_header()}
    seen: list[dv.ChatCompletionChunk] = []
    stream = client.stream(MODEL, [dv.user("a b c d e")], extra_headers=fault)
    with stream, pytest.raises(dv.APIStatusError) as caught:
        seen.extend(stream)
    assert len(seen) == 2
    assert caught.value.status_code == 200


def test_stream_checks_the_request_before_sending(client: Client, server: EmulatorThread) -> None:
    """Bad input to stream() raises at once, and nothing reaches the server."""
    with pytest.raises(dv.InvalidRequestError):
        client.stream(MODEL, [dv.user("hi")], temperature=9.0)
    assert server.emulator.request_count == 0


def test_breaking_out_of_a_stream_closes_its_response(
    client: Client, server: EmulatorThread
) -> None:
    """break after one chunk closes the connection at once; the client keeps working."""
    slow = {"X-Emulator-Chunk-Delay": "0.05", "X-Emulator-Chunks": "50"}
    with client.stream(MODEL, [dv.user("long")], extra_headers=slow) as stream:
        for _chunk in stream:
            break
        # Still inside `with`: the break alone closed the response.
        wait_until(lambda: server.emulator.open_connections == 0, "stream connection closed")
    assert client.ask("after") == answer("after")


def test_batch_returns_input_order_and_batch_iter_yields_as_completed(client: Client) -> None:
    """batch() is in input order; batch_iter() yields every index once; failures are results."""
    items = [item(f"q{i}") for i in range(20)]
    items[7] = {"model": MODEL}  # not a request: an InvalidRequestError in its slot
    results = client.batch(items, concurrency=4)
    assert [r.index for r in results] == list(range(20))
    assert isinstance(results[7].error, dv.InvalidRequestError)
    assert [r.unwrap().text for r in results if r.index != 7] == [
        answer(f"q{i}") for i in range(20) if i != 7
    ]
    seen = {r.index: r for r in client.batch_iter(item(f"g{i}") for i in range(10))}
    assert sorted(seen) == list(range(10))
    assert all(seen[i].unwrap().text == answer(f"g{i}") for i in range(10))


def test_leaving_batch_iter_early_cancels_the_rest(client: Client, server: EmulatorThread) -> None:
    """break out of batch_iter: the calls still in flight are cancelled, their connections closed."""
    stall = {"X-Emulator-Fault": Fault.stall(60).to_header()}
    items = [item("fast")] + [{**item(f"stalled {i}"), "extra_headers": stall} for i in range(3)]
    for result in client.batch_iter(items, concurrency=4):
        assert result.unwrap().text == answer("fast")
        break
    wait_until(lambda: server.emulator.open_connections <= 1, "stalled calls' connections closed")
    assert client.ask("still fine") == answer("still fine")


@dataclasses.dataclass
class Seen:
    """What the emulator's json_object answer holds: the prompt and each image's facts."""

    prompt: str | None
    images: list[dict[str, Any]]


def test_structured_output_parse_ask_stream_and_batch(client: Client, png: bytes) -> None:
    """parse, ask, stream and batch with response_format=Seen return Seen objects, blocking."""
    lite = dv.MODEL_VISION_LITE
    parsed = client.parse(lite, [dv.user("Look", png)], response_format=Seen)
    assert parsed.parsed.prompt == "Look" and len(parsed.parsed.images) == 1
    assert client.ask("Asked", png, model=lite, response_format=Seen).prompt == "Asked"
    with client.stream(lite, [dv.user("Streamed")], response_format=Seen) as stream:
        assert isinstance(stream, SyncStructuredStream)
        partials = list(stream.partial_objects())
        assert stream.final_parsed() == Seen("Streamed", [])
    assert partials and partials[-1]["prompt"] == "Streamed"
    (result,) = client.batch([{"model": lite, "messages": [dv.user("B")]}], response_format=Seen)
    assert result.parsed == Seen("B", [])


def test_errors_arrive_typed(client: Client) -> None:
    """A server error raises the same typed exception the async client raises."""
    fault = {"X-Emulator-Fault": Fault.error(400).to_header()}
    with pytest.raises(dv.BadRequestError) as caught:
        client.chat(MODEL, [dv.user("bad")], extra_headers=fault)
    assert caught.value.status_code == 400
    with Client("", base_url=client.base_url) as keyless, pytest.raises(dv.MissingAPIKeyError):
        keyless.ask("no key")


def test_with_options_is_a_view_sharing_the_loop_and_pool(server: EmulatorThread) -> None:
    """with_options: other headers per call, same usage; the view keeps the client alive; close closes both."""
    held = [Client(API_KEY, base_url=server.base_url)]
    view = held[0].with_options(default_headers={"X-Team": "vision"}, max_retries=0)
    assert view.ask("via view") == answer("via view")
    assert server.emulator.requests[-1].headers["x-team"] == "vision"
    assert view.usage is held[0].usage and view.usage.requests == 1
    held.clear()  # no ResourceWarning (an error here): the view still uses the client's loop
    assert view.ask("still") == answer("still")
    view.close()
    assert view.closed


# -- threads and loops -----------------------------------------------------------


def test_sixteen_threads_share_one_client(server: EmulatorThread) -> None:
    """16 worker threads share one client: every chat, stream and batch answers right."""
    shared = Client(API_KEY, base_url=server.base_url, max_connections=8)

    def work(n: int) -> list[str]:
        out = [shared.ask(f"t{n}")]
        with shared.stream(MODEL, [dv.user(f"s{n} a b")]) as stream:
            out.append("".join(stream.text_deltas()))
        out += [r.unwrap().text for r in shared.batch([item(f"b{n}.{i}") for i in range(3)])]
        return out

    with shared, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(64)))
        assert shared.usage.requests == 64 * 5
    assert results == [
        [answer(f"t{n}"), answer(f"s{n} a b")] + [answer(f"b{n}.{i}") for i in range(3)]
        for n in range(64)
    ]
    assert server.emulator.peak_connections <= 8


async def test_works_inside_a_running_event_loop(server: EmulatorThread) -> None:
    """In a thread already running a loop (Jupyter), a call blocks that thread and returns."""
    assert asyncio.get_running_loop().is_running()
    with Client(API_KEY, base_url=server.base_url) as client:
        assert client.ask("in a loop") == answer("in a loop")
        with client.stream(MODEL, [dv.user("streamed in a loop")]) as stream:
            assert stream.final_completion().text == answer("streamed in a loop")


def test_a_blocking_call_on_the_clients_own_loop_raises(client: Client) -> None:
    """Calling the blocking client from its own loop thread raises instead of deadlocking."""

    async def nested() -> str:
        return client.ask("nested")

    with pytest.raises(RuntimeError, match="deadlock"):
        client._run(nested())
    assert client.ask("fine") == answer("fine")


def test_the_loop_thread_starts_lazily_and_is_named(server: EmulatorThread) -> None:
    """No thread before the first call; one daemon thread after; none after close()."""
    before = set(threading.enumerate())
    client = Client(API_KEY, base_url=server.base_url)
    assert set(threading.enumerate()) == before
    client.ask("start")
    started = set(threading.enumerate()) - before
    # The loop thread (and, if a call used asyncio.to_thread, its worker threads).
    loops = [t for t in started if re.fullmatch(r"doubao-vision-client-\d+", t.name)]
    assert len(loops) == 1 and loops[0].daemon
    assert all(t.name.startswith(loops[0].name) for t in started)
    client.close()
    assert set(threading.enumerate()) == before


# -- the same surface as AsyncClient ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "__init__",
        "with_options",
        "chat",
        "send",
        "ask",
        "parse",
        "models",
        "stream",
        "stream_request",
        "batch",
    ],
)
def test_signatures_mirror_the_async_client(name: str) -> None:
    """Each blocking method takes exactly the async one's parameters (no drift)."""
    sync = inspect.signature(getattr(Client, name)).parameters
    async_ = dict(inspect.signature(getattr(AsyncClient, name)).parameters)
    if name == "__init__":
        del async_["session"]  # an aiohttp session is bound to a loop; ours is private
    # If this fails, AsyncClient changed: give Client (doubao_vision/_sync.py) the same change.
    assert list(sync) == list(async_)
    for param, theirs in async_.items():
        ours = sync[param]
        assert ours.kind == theirs.kind, param
        if not (name == "__init__" and param == "timeout"):  # None: the async default
            assert ours.default == theirs.default, param
    batch_iter = inspect.signature(Client.batch_iter).parameters
    assert list(batch_iter) == list(inspect.signature(Client.batch).parameters)


# -- issue #13, last bullet: the integrator's change in _client.py ---------------
#
# A module-level AsyncClient used by two asyncio.run calls: the first call works;
# the second raises RuntimeError (or a subclass) whose message names both fixes,
# "dv.Client" (or "doubao_vision.Client") and "one client per (event) loop"
# ("one AsyncClient per event loop" matches too); and nothing else is printed (no
# "Unclosed client session" / "Unclosed connector" / "Exception ignored" noise
# on stderr, with default warning filters, at the second call or at exit).
# (Landed in _client.py: a client whose first loop has closed drops its session
# quietly, then raises that error.)

MODULE_LEVEL_ASYNC_CLIENT = """
import asyncio, sys
import doubao_vision as dv

client = dv.AsyncClient(sys.argv[2], base_url=sys.argv[1])

async def ask(prompt):
    return await client.ask(prompt)

print(asyncio.run(ask("first")), flush=True)
try:
    asyncio.run(ask("second"))
except RuntimeError as exc:
    print("ERROR", type(exc).__name__, exc, flush=True)
else:
    print("NO ERROR", flush=True)
"""


async def run_module_level_script(emulator: Emulator) -> tuple[int, list[str], str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MODULE_LEVEL_ASYNC_CLIENT,
        emulator.base_url,
        API_KEY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode().splitlines(), err.decode()


async def test_module_level_async_client_second_asyncio_run_raises(emulator: Emulator) -> None:
    """Second asyncio.run with a module-level AsyncClient: the first call works, the second raises."""
    returncode, lines, err = await run_module_level_script(emulator)
    assert returncode == 0, err
    assert lines[0] == answer("first")
    assert lines[1].startswith("ERROR "), lines


async def test_module_level_async_client_error_names_the_fix_without_noise(
    emulator: Emulator,
) -> None:
    """That error names dv.Client and one client per loop; stderr stays empty (no Unclosed noise)."""
    returncode, lines, err = await run_module_level_script(emulator)
    assert returncode == 0, err
    assert re.search(r"\b(dv|doubao_vision)\.Client\b", lines[1]), lines[1]
    assert re.search(r"one (async)?client per (event )?loop", lines[1], re.I), lines[1]
    assert err == ""
