"""client.with_options views (shared pool, limiter and usage; their own timeout, retries and
headers) and aiohttp TraceConfig pass-through."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator

import aiohttp
import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient, RateLimiter
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY, FAST_RETRY

MODEL = dv.MODEL_VISION_PRO


@pytest.fixture
async def headed(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        API_KEY,
        base_url=emulator.base_url,
        retry=FAST_RETRY,
        default_headers={"X-Team": "vision", "X-Stage": "dev"},
    ) as client:
        yield client


async def test_view_shares_usage_and_limiter(client: AsyncClient) -> None:
    """A view's calls count in the client's usage totals; the rate limiter is the same object."""
    view = client.with_options(max_retries=0)
    await client.chat(MODEL, [dv.user("one")])
    await view.chat(MODEL, [dv.user("two")])
    assert view.usage is client.usage
    assert client.usage.requests == 2
    assert view.rate_limiter is client.rate_limiter


async def test_view_shares_the_pool(client: AsyncClient, emulator: Emulator) -> None:
    """Calls through the client and a view one after another reuse one pooled connection."""
    view = client.with_options(timeout=30)
    for caller in (client, view, client, view):
        await caller.chat(MODEL, [dv.user("hi")])
    assert emulator.peak_connections == 1


async def test_view_shares_a_passed_in_limiter(emulator: Emulator) -> None:
    """A limiter given to the client is the one its views pass too (its cool-down counts once)."""
    limiter = RateLimiter(rpm=6000)
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, retry=FAST_RETRY, rate_limiter=limiter
    ) as client:
        view = client.with_options(max_retries=1)
        emulator.script(Fault.rate_limited("0"))
        await view.chat(MODEL, [dv.user("hi")])
    assert view.rate_limiter is limiter
    assert limiter.cooldowns == 1


async def test_view_max_retries_is_honoured(client: AsyncClient, emulator: Emulator) -> None:
    """max_retries=0 on a view fails after one attempt; the client itself still retries."""
    emulator.script(Fault.error(500))
    with pytest.raises(dv.InternalServerError):
        await client.with_options(max_retries=0).chat(MODEL, [dv.user("hi")])
    assert emulator.request_count == 1
    emulator.script(Fault.error(500))
    completion = await client.chat(MODEL, [dv.user("hi")])
    assert completion.http is not None and completion.http.attempts == 2


async def test_view_timeout_is_honoured(client: AsyncClient, emulator: Emulator) -> None:
    """A view's short timeout ends a stalled call; the client's own timeout is unchanged."""
    view = client.with_options(timeout=0.2, max_retries=0)
    emulator.script(Fault.stall(5))
    with pytest.raises(dv.APITimeoutError):
        await view.chat(MODEL, [dv.user("hi")])
    assert view.timeout != client.timeout
    assert view.retry.max_retries == 0 and client.retry.max_retries == FAST_RETRY.max_retries


async def test_view_default_headers_are_merged(headed: AsyncClient, emulator: Emulator) -> None:
    """A view's default_headers add to and override the client's; the client keeps its own."""
    view = headed.with_options(default_headers={"X-Stage": "prod", "X-Job": "nightly"})
    await view.chat(MODEL, [dv.user("hi")])
    await headed.chat(MODEL, [dv.user("hi")])
    through_view, direct = (request.headers for request in emulator.requests)
    assert through_view["x-team"] == "vision"
    assert through_view["x-stage"] == "prod" and through_view["x-job"] == "nightly"
    assert direct["x-stage"] == "dev" and "x-job" not in direct
    assert through_view["authorization"] == direct["authorization"]


async def test_view_streams_and_lists_models(client: AsyncClient) -> None:
    """Streams and model lists work through a view and count in the shared usage."""
    view = client.with_options(timeout=30)
    async with view.stream(MODEL, [dv.user("hi there")]) as stream:
        async for _ in stream:
            pass
    assert MODEL in await view.models()
    assert client.usage.requests == 2


async def test_closing_a_view_closes_the_shared_pool(emulator: Emulator) -> None:
    """A view does not warn when collected; closing the client closes the pool views use."""
    client = AsyncClient(API_KEY, base_url=emulator.base_url)
    view = client.with_options(max_retries=0)
    await view.chat(MODEL, [dv.user("hi")])
    del view  # no ResourceWarning: the client owns the pool (warnings are errors here)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.chat(MODEL, [dv.user("after close")])


async def test_trace_configs_see_requests(emulator: Emulator) -> None:
    """An aiohttp TraceConfig passed to the client sees each request start and end."""
    seen: list[tuple[str, str]] = []

    async def on_start(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(("start", f"{params.method} {params.url.path}"))

    async def on_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        seen.append(("end", str(params.response.status)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with AsyncClient(API_KEY, base_url=emulator.base_url, trace_configs=[trace]) as client:
        await client.chat(MODEL, [dv.user("hi")])
        await client.models()
    assert seen == [
        ("start", "POST /v1/chat/completions"),
        ("end", "200"),
        ("start", "GET /v1/models"),
        ("end", "200"),
    ]
