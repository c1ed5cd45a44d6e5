"""client.batch: bounded, lazy fan-out over real HTTP, in order or as completed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient, ChatRequest, RetryPolicy, TextPart, user
from doubao_vision._batch import BatchResult
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault

from ._expect import answer
from .conftest import API_KEY


@pytest.fixture
async def quiet_emulator() -> AsyncIterator[Emulator]:
    emu = Emulator(api_key=API_KEY, record_bodies=False)
    async with emu:
        yield emu


def ask(i: int) -> ChatRequest:
    return ChatRequest(model=dv.MODEL_VISION_LITE, messages=[user(TextPart(f"question {i}"))])


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


def item_tasks() -> int:
    """Tasks running one batch item each."""
    # An asyncgen finalizer task runs `async_generator_athrow`, which has no __qualname__.
    return sum(
        1 for t in other_tasks() if getattr(t.get_coro(), "__qualname__", "") == "Batch._one"
    )


async def settle(emulator: Emulator | None = None) -> None:
    """Wait (up to 2 s) for background clean-up: item tasks, then (given the emulator,
    after the client closed) every connection and the server's tasks for them."""
    for _ in range(200):
        if emulator is None and not item_tasks():
            return
        if emulator is not None and not other_tasks() and emulator.open_connections == 0:
            return
        await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_ten_thousand_requests_at_concurrency_256(quiet_emulator: Emulator) -> None:
    """10,000 distinct images at concurrency 256: every answer right, in order, input pulled lazily."""
    lag = 0

    def requests() -> Iterator[ChatRequest]:
        nonlocal lag
        for i in range(10_000):
            lag = max(lag, i - quiet_emulator.request_count)
            image = make_png(16, 16, seed=i)
            yield ChatRequest(model=dv.MODEL_VISION_LITE, messages=[user(TextPart(f"q{i}"), image)])

    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, max_connections=256) as c:
        results = await c.batch(requests(), concurrency=256)
    assert [r.index for r in results] == list(range(10_000))
    for i, result in enumerate(results):
        assert result.ok
        assert result.unwrap().text == answer(f"q{i}", make_png(16, 16, seed=i))
    assert quiet_emulator.request_count == 10_000
    assert lag <= 256
    assert quiet_emulator.peak_connections <= 256


async def test_as_completed_yields_each_index_once_as_they_finish(
    quiet_emulator: Emulator,
) -> None:
    """async for yields results as they complete: a slow first item comes out last."""
    quiet_emulator.script(Fault.slow(0.3))
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url) as client:
        order = [result.index async for result in client.batch(map(ask, range(10)), concurrency=10)]
    assert sorted(order) == list(range(10))
    assert order[-1] == 0


async def test_input_is_consumed_lazily(quiet_emulator: Emulator) -> None:
    """A million-item generator is pulled at most `concurrency` ahead of what was delivered."""
    pulled = 0
    worst = 0
    delivered = 0

    def endless() -> Iterator[ChatRequest]:
        nonlocal pulled, worst
        for i in range(1_000_000):
            pulled += 1
            worst = max(worst, pulled - delivered)
            yield ask(i)

    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url) as client:
        batch = client.batch(endless(), concurrency=32)
        async with batch:
            async for _ in batch:
                delivered += 1
                assert len(other_tasks()) <= 32 + 32 + 8  # our tasks + emulator handlers
                if delivered == 500:
                    break
        assert not item_tasks()
    assert worst <= 32 + 1
    assert pulled <= 500 + 32 + 1
    await settle(quiet_emulator)
    assert not other_tasks()


async def test_async_iterable_input(client: AsyncClient) -> None:
    """An async generator works as input, and is closed when the batch ends early."""
    closed = False

    async def source() -> AsyncIterator[ChatRequest]:
        nonlocal closed
        try:
            for i in itertools.count():
                await asyncio.sleep(0)
                yield ask(i)
        finally:
            closed = True

    async with client.batch(source(), concurrency=4) as batch:
        seen = []
        async for result in batch:
            seen.append(result.unwrap().text)
            if len(seen) == 10:
                break
    assert closed
    assert all(text.startswith("prompt: question ") for text in seen)


async def test_mappings_and_bad_items_become_results(client: AsyncClient) -> None:
    """Mappings of chat() arguments are sent; invalid ones are InvalidRequestError in their slot."""
    items: list[Any] = [
        {
            "model": dv.MODEL_VISION_PRO,
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 5,
        },
        {"model": dv.MODEL_VISION_PRO, "messages": []},
        {
            "model": dv.MODEL_VISION_PRO,
            "messages": [{"role": "user", "content": "x"}],
            "temprature": 1,
        },
        {
            "model": dv.MODEL_VISION_PRO,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ],
                }
            ],
        },
        42,
        ask(5),
    ]
    results = await client.batch(items)
    assert [r.ok for r in results] == [True, False, False, False, False, True]
    assert results[0].unwrap().text == "prompt: hello"
    assert isinstance(results[0].request, ChatRequest)
    for bad in results[1:5]:
        assert isinstance(bad.error, dv.InvalidRequestError)
        assert bad.completion is None
    assert "temprature" in str(results[2].error)
    assert results[4].request == 42
    with pytest.raises(dv.InvalidRequestError):
        results[1].unwrap()


async def test_server_errors_are_reported_in_their_slot(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A 400 on one item is its BadRequestError; the rest of the batch carries on."""
    emulator.script(*[Fault.slow(0)] * 3, Fault.error(400), *[Fault.slow(0)] * 6)
    results = await client.batch(map(ask, range(10)), concurrency=1)
    assert [r.ok for r in results] == [True] * 3 + [False] + [True] * 6
    assert isinstance(results[3].error, dv.BadRequestError)
    assert results[3].error.status_code == 400
    assert client.usage.errors == {"BadRequestError": 1}
    assert client.usage.requests == 10
    tokens = sum(
        r.completion.usage.prompt_tokens for r in results if r.completion and r.completion.usage
    )
    assert client.usage.prompt_tokens == tokens


async def test_fail_fast_raises_the_first_error_and_cancels_the_rest(
    quiet_emulator: Emulator,
) -> None:
    """fail_fast=True raises the first failure and cancels everything in flight."""
    quiet_emulator.script(Fault.error(401), *[Fault.stall(30)] * 50)
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url) as client:
        with pytest.raises(dv.AuthenticationError):
            await client.batch(map(ask, range(1000)), concurrency=8, fail_fast=True)
        assert not item_tasks()
    await settle(quiet_emulator)
    assert quiet_emulator.request_count <= 8 + 8
    assert not other_tasks()
    assert quiet_emulator.open_connections == 0


async def test_cancelling_a_batch_cancels_calls_and_releases_connections(
    quiet_emulator: Emulator,
) -> None:
    """Cancelling the awaiting task mid-run leaves no tasks and no connections behind."""
    quiet_emulator.script(*[Fault.slow(0)] * 20, *[Fault.stall(30)] * 100)
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, max_connections=16) as c:

        async def run_all() -> list[BatchResult]:
            return await c.batch(map(ask, range(10_000)), concurrency=16)

        run = asyncio.create_task(run_all())
        for _ in range(500):
            if quiet_emulator.request_count >= 20 + 16:
                break
            await asyncio.sleep(0.01)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert not item_tasks()
        # The stalled calls' connections were closed, not returned to the pool:
        # the pool still has room for 16 new calls.
        quiet_emulator.reset()
        more = await asyncio.gather(*(c.send(ask(i)) for i in range(16)))
        assert len(more) == 16
    await settle(quiet_emulator)
    assert not other_tasks()
    assert quiet_emulator.open_connections == 0


async def test_breaking_out_of_async_for_cleans_up(quiet_emulator: Emulator) -> None:
    """`break` (without async with) cancels the calls in flight once the iterator is dropped."""
    quiet_emulator.script(*[Fault.slow(0)] * 5, *[Fault.stall(30)] * 100)
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url) as client:
        batch = client.batch(map(ask, range(100)), concurrency=10)
        got = 0
        async for result in batch:
            assert result.ok
            got += 1
            if got == 5:
                break
        await settle()
        assert not item_tasks()
        await batch.aclose()  # idempotent, nothing left to do
    await settle(quiet_emulator)
    assert not other_tasks()
    assert quiet_emulator.open_connections == 0


async def test_per_item_timeout(quiet_emulator: Emulator) -> None:
    """timeout= applies to each item: a stalled one becomes an APITimeoutError result."""
    quiet_emulator.script(Fault.stall(5))
    no_retry = RetryPolicy(max_retries=0)
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, retry=no_retry) as c:
        results = await c.batch(map(ask, range(3)), concurrency=3, timeout=0.3)
    assert isinstance(results[0].error, dv.APITimeoutError)
    assert [r.ok for r in results[1:]] == [True, True]


async def test_a_batch_runs_once_and_checks_concurrency(client: AsyncClient) -> None:
    """A Batch cannot be consumed twice; concurrency must be at least 1."""
    batch = client.batch([ask(0)])
    assert [r.ok for r in await batch] == [True]
    with pytest.raises(RuntimeError, match="runs once"):
        await batch
    with pytest.raises(ValueError, match="concurrency"):
        client.batch([], concurrency=0)
    assert await client.batch([]) == []


def test_batch_result_is_a_frozen_value() -> None:
    """BatchResult is immutable, and ok follows error."""
    result = BatchResult(0, ask(0))
    assert result.ok
    with pytest.raises(AttributeError):
        result.index = 1  # type: ignore[misc]


async def test_retries_inside_a_batch(client: AsyncClient, emulator: Emulator) -> None:
    """Items are retried by the client like any call (a 503 then success)."""
    emulator.script(Fault.unavailable())
    results = await client.batch([ask(0), ask(1)], concurrency=1)
    assert all(r.ok for r in results)
    assert client.usage.retries == 1


async def test_a_failing_input_generator_stops_the_batch(quiet_emulator: Emulator) -> None:
    """An exception raised by the input propagates after the calls in flight are cancelled."""
    quiet_emulator.script(*[Fault.stall(30)] * 8)

    def broken() -> Iterator[ChatRequest]:
        yield from map(ask, range(8))
        raise KeyError("the input broke")

    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url) as client:
        with pytest.raises(KeyError, match="the input broke"):
            await client.batch(broken(), concurrency=16)
        assert not item_tasks()
    await settle(quiet_emulator)
    assert quiet_emulator.open_connections == 0
