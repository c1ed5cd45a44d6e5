"""500 streams broken off at random points leave no connections, tasks or warnings behind."""

from __future__ import annotations

import asyncio
import gc
import random

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision.emulator import Emulator, Fault

from ._emulator_support import until
from .conftest import API_KEY

LIMIT = 16


async def _one(client: AsyncClient, emulator: Emulator, rng: random.Random, index: int) -> str:
    """Run one stream and break it off the way `index` picks; return how it ended."""
    how = ("break", "cancel", "drop", "truncate", "complete")[index % 5]
    stop_after = rng.randint(0, 5)
    headers = {"X-Emulator-Chunks": "8"}
    if how == "drop":
        headers["X-Emulator-Fault"] = Fault.drop_mid_stream(rng.randint(1, 6)).to_header()
    elif how == "truncate":
        headers["X-Emulator-Fault"] = Fault.truncate(rng.randint(1, 6)).to_header()
    elif how == "cancel":
        headers["X-Emulator-Chunk-Delay"] = "0.01"

    async def consume() -> None:
        async with client.stream(
            dv.MODEL_VISION_PRO, [dv.user(f"q{index} a b c d e f g")], extra_headers=headers
        ) as stream:
            seen = 0
            async for _chunk in stream:
                seen += 1
                if how == "break" and seen > stop_after:
                    break

    if how == "cancel":
        task = asyncio.create_task(consume())
        await asyncio.sleep(rng.uniform(0, 0.05))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "finished-before-cancel"
    try:
        await consume()
    except dv.APIConnectionError as exc:
        return type(exc).__name__
    return how


@pytest.mark.slow
async def test_500_broken_streams_leak_nothing(emulator: Emulator) -> None:
    """Break, cancel, server drop and truncation at random points: pool within limit, no tasks, no warnings."""
    rng = random.Random(1234)
    before = asyncio.all_tasks()
    async with AsyncClient(
        API_KEY,
        base_url=emulator.base_url,
        max_connections=LIMIT,
        retry=dv.RetryPolicy(max_retries=0),
    ) as client:
        outcomes = await asyncio.gather(*(_one(client, emulator, rng, i) for i in range(500)))
        session = client._runtime.transport.session
        assert session is not None
        connector = session.connector
        assert connector is not None
        assert not connector._acquired  # type: ignore[attr-defined]
        assert len(connector._conns) <= 1  # type: ignore[attr-defined]  # one host key
        # The pool still works at full width after all that.
        answers = await asyncio.gather(*(client.ask(f"after {i}") for i in range(LIMIT * 2)))
        assert answers == [f"prompt: after {i}" for i in range(LIMIT * 2)]
    assert emulator.peak_connections <= LIMIT
    assert {"break", "cancelled", "APIConnectionError", "StreamTruncatedError", "complete"} <= set(
        outcomes
    )
    await asyncio.sleep(0.05)
    gc.collect()  # unclosed responses or sessions would warn here, and warnings are errors
    assert asyncio.all_tasks() - before == set()
    assert emulator.open_connections == 0


def _our_frames(task: asyncio.Task[None]) -> list[str]:
    """The coroutines of doubao_vision a task is suspended in, outermost first."""
    names = []
    coro: object = task.get_coro()
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
        if code is not None and "doubao_vision" in code.co_filename:
            names.append(coro.__qualname__)  # type: ignore[attr-defined]
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return names


async def test_a_stream_waiting_for_its_headers_holds_few_frames(emulator: Emulator) -> None:
    """Until its headers arrive a stream holds four coroutine frames of ours (a thousand opening at once hold a thousand chains)."""
    emulator.script(Fault.stall(5))
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_retries=0) as client:

        async def open_one() -> None:
            async with client.stream(dv.MODEL_VISION_PRO, [dv.user("x")]):
                pass

        task = asyncio.ensure_future(open_one())
        await until(lambda: bool(emulator.requests), timeout=5)
        frames = _our_frames(task)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert frames == [
        "AsyncStream.__aenter__",
        "Call.run",
        "AsyncStream._open_once",
        "Transport.open_stream",
    ]
