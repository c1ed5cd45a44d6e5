"""Thousands of concurrent calls on one client: right answers, bounded connections."""

from __future__ import annotations

import asyncio

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator

from ._expect import answer
from .conftest import API_KEY


@pytest.mark.slow
async def test_2000_gathered_chats_share_64_connections() -> None:
    """2,000 client.chat calls via asyncio.gather with max_connections=64: every per-image answer right, <= 64 connections."""
    images = [make_png(16 + i % 50, 16 + i // 50, seed=i) for i in range(2000)]
    async with Emulator(api_key=API_KEY, record_bodies=False) as base_url:
        async with AsyncClient(API_KEY, base_url=base_url, max_connections=64) as client:

            async def one(i: int) -> str:
                completion = await client.chat(dv.MODEL_VISION_PRO, [dv.user(f"n{i}", images[i])])
                return completion.text

            watcher_done = asyncio.Event()
            peak_acquired = 0

            async def watch() -> None:
                nonlocal peak_acquired
                while not watcher_done.is_set():
                    session = client._runtime.transport.session
                    if session is not None and session.connector is not None:
                        acquired = len(session.connector._acquired)  # type: ignore[attr-defined]
                        peak_acquired = max(peak_acquired, acquired)
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            texts = await asyncio.gather(*(one(i) for i in range(2000)))
            watcher_done.set()
            await watcher
        assert texts == [answer(f"n{i}", images[i]) for i in range(2000)]
        assert 0 < peak_acquired <= 64
        assert client.usage.requests == 2000 and client.usage.retries == 0
        assert client.usage.prompt_tokens > 0


@pytest.mark.slow
async def test_server_never_sees_more_than_max_connections() -> None:
    """The emulator's own count of open TCP connections never passes max_connections."""
    emulator = Emulator(api_key=API_KEY, record_bodies=False)
    async with (
        emulator as base_url,
        AsyncClient(API_KEY, base_url=base_url, max_connections=8) as client,
    ):
        await asyncio.gather(*(client.ask(f"{i}") for i in range(500)))
    assert 1 < emulator.peak_connections <= 8


async def test_max_concurrency_bounds_calls_in_flight() -> None:
    """max_concurrency caps calls in flight below the pool size (queued callers wait, not time out)."""
    emulator = Emulator(api_key=API_KEY, record_bodies=False)
    async with (
        emulator as base_url,
        AsyncClient(
            API_KEY,
            base_url=base_url,
            max_connections=50,
            max_concurrency=3,
            timeout=dv.Timeout(total=2),
        ) as client,
    ):
        headers = {"X-Emulator-Fault": dv.emulator.Fault.slow(0.05).to_header()}
        await asyncio.gather(
            *(
                client.chat(dv.MODEL_VISION_PRO, [dv.user("a b")], extra_headers=headers)
                for _ in range(30)
            )
        )
    assert emulator.peak_connections <= 3
