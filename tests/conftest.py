"""Shared fixtures: a real emulator on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from doubao_vision import AsyncClient, RetryPolicy
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator

API_KEY = "sk-test-0123456789abcdef"
# Fast retries keep the suite quick; the backoff maths has its own tests.
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05, max_retry_after=5)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    emu = Emulator(api_key=API_KEY)
    async with emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=FAST_RETRY) as client:
        yield client


@pytest.fixture
def png() -> bytes:
    return make_png(32, 24, seed=1)
