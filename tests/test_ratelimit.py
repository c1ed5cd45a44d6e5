"""Client-side rate limits and the cool-down after 429s, checked against the emulator's log."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest

import doubao_vision as dv
from doubao_vision import (
    AsyncClient,
    ChatRequest,
    Image,
    ImagePart,
    ImagePixelLimit,
    ImageURL,
    RetryPolicy,
    TextPart,
    user,
)
from doubao_vision._ratelimit import DEFAULT_ANSWER_TOKENS, RateLimiter, estimate_tokens
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY

RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05, max_retry_after=5)


@pytest.fixture
async def quiet_emulator() -> AsyncIterator[Emulator]:
    emu = Emulator(api_key=API_KEY, record_bodies=False)
    async with emu:
        yield emu


def text_request(i: int, **params: int) -> ChatRequest:
    return ChatRequest(
        model=dv.MODEL_VISION_LITE, messages=[user(TextPart(f"question {i}"))], **params
    )


def steady_rate(times: list[float], skip: int) -> float:
    """Requests per second between the ``skip``-th arrival and the last one."""
    window = sorted(times)[skip:]
    return (len(window) - 1) / (window[-1] - window[0])


@pytest.mark.slow
async def test_rpm_holds_requests_per_minute_within_ten_percent(quiet_emulator: Emulator) -> None:
    """rpm=1200 shared by two clients paces arrivals at 20/s (within 10%) after a 1 s burst."""
    limiter = RateLimiter(rpm=1200)
    url = quiet_emulator.base_url
    async with (
        AsyncClient(API_KEY, base_url=url, rate_limiter=limiter) as one,
        AsyncClient(API_KEY, base_url=url, rate_limiter=limiter) as two,
    ):
        calls = [(one if i % 2 else two).send(text_request(i)) for i in range(100)]
        await asyncio.gather(*calls)
    times = [r.received_at for r in quiet_emulator.requests]
    assert len(times) == 100
    # The bucket holds one second of budget (20 requests); after it, the pace.
    assert steady_rate(times, skip=20) == pytest.approx(20.0, rel=0.1)
    # Never more than the burst plus the rate over any stretch of the run.
    ordered = sorted(times)
    for i, start in enumerate(ordered):
        in_one_second = sum(1 for t in ordered[i:] if t - start < 1.0)
        assert in_one_second <= 20 + 20 + 1
    assert limiter.admitted == 100


@pytest.mark.slow
async def test_tpm_paces_by_estimated_tokens(quiet_emulator: Emulator) -> None:
    """tpm paces requests by their estimated token cost (60 tokens each at 36,000 tpm: 10/s)."""
    requests = [
        ChatRequest(
            model=dv.MODEL_VISION_LITE, messages=[user(TextPart(f"{i:040d}"))], max_tokens=50
        )
        for i in range(40)
    ]
    assert {estimate_tokens(r) for r in requests} == {60}
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, tpm=36_000) as client:
        await client.batch(requests, concurrency=40)
    times = [r.received_at for r in quiet_emulator.requests]
    assert steady_rate(times, skip=10) == pytest.approx(10.0, rel=0.1)


@pytest.mark.slow
async def test_429_burst_across_1000_calls_causes_one_cool_down(quiet_emulator: Emulator) -> None:
    """1,000 calls in flight all get 429 Retry-After 2: one cool-down, then a probe and a ramp."""
    # Two seconds, not one: every first attempt must reach the server before the
    # probe does, even on a loaded two-core machine opening 1,000 connections.
    quiet_emulator.script(*[Fault.rate_limited("2")] * 1000)
    async with AsyncClient(
        API_KEY, base_url=quiet_emulator.base_url, max_connections=1000, retry=RETRY
    ) as client:
        results = await client.batch((text_request(i) for i in range(1000)), concurrency=1000)
        limiter = client.rate_limiter
        assert all(result.ok for result in results)
        assert limiter.cooldowns == 1
        assert client.usage.retries == 1000
    log = quiet_emulator.requests
    assert len(log) == 2000  # each call retried exactly once: no second wave
    limited = [r.received_at for r in log if r.fault == "rate_limited"]
    retried = sorted(r.received_at for r in log if r.fault is None)
    assert len(limited) == len(retried) == 1000
    # Nothing arrives during the cool-down: it lasts Retry-After after the last 429.
    assert retried[0] - max(limited) >= 1.9
    # Right after it, one probe, then a ramp (1, 2, 4, ... per 0.25 s), not 1,000 at once.
    first = retried[0]
    assert sum(1 for t in retried if t - first < 0.2) <= 2
    assert sum(1 for t in retried if t - first < 1.0) <= 1 + 2 + 4 + 8 + 16
    assert retried[-1] - first < 4.0  # and the ramp does reopen fully


async def test_failed_probe_starts_a_second_cool_down(quiet_emulator: Emulator) -> None:
    """A 429 on the probe after a cool-down closes the gate again; the others stay queued."""
    quiet_emulator.script(*[Fault.rate_limited("0.3")] * 21)
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, retry=RETRY) as client:
        results = await client.batch([text_request(i) for i in range(20)], concurrency=20)
        assert all(result.ok for result in results)
        assert client.rate_limiter.cooldowns == 2
        assert client.usage.retries == 21
    assert quiet_emulator.request_count == 20 + 1 + 20
    log = quiet_emulator.requests
    # The 22nd arrival (the second probe) waited out a second cool-down after the first.
    assert log[21].received_at - log[20].received_at >= 0.28


async def test_cool_down_pauses_calls_that_have_not_started(quiet_emulator: Emulator) -> None:
    """After a 429 the whole client waits, including calls that had not hit the server yet."""
    quiet_emulator.script(Fault.rate_limited("0.5"))
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, retry=RETRY) as client:
        first = asyncio.create_task(client.send(text_request(0)))
        for _ in range(500):
            if client.rate_limiter.cooldowns:
                break
            await asyncio.sleep(0.01)
        assert client.rate_limiter.cooling_down
        await client.send(text_request(1))
        await first
    limited, *others = quiet_emulator.requests
    assert limited.fault == "rate_limited"
    assert len(others) == 2
    assert min(r.received_at for r in others) - limited.received_at >= 0.45


async def test_a_non_retried_429_still_gates_the_client(quiet_emulator: Emulator) -> None:
    """A 429 the policy will not retry (max_retries=0) still counts as a cool-down."""
    quiet_emulator.script(Fault.rate_limited("0.2"))
    no_retry = RetryPolicy(max_retries=0)
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, retry=no_retry) as client:
        results = await client.batch([text_request(0)])
        assert type(results[0].error).__name__ == "RateLimitError"
        assert client.rate_limiter.cooldowns == 1
        assert client.usage.errors["RateLimitError"] == 1


async def test_cancelled_waiter_leaves_the_queue(quiet_emulator: Emulator) -> None:
    """A call cancelled while queued by the limiter frees its place for the next caller."""
    limiter = RateLimiter(rpm=120)  # 2/s, bucket of 2
    async with AsyncClient(
        API_KEY, base_url=quiet_emulator.base_url, rate_limiter=limiter
    ) as client:
        await asyncio.gather(client.send(text_request(0)), client.send(text_request(1)))
        stuck = asyncio.create_task(client.send(text_request(2)))
        await asyncio.sleep(0.05)
        assert limiter.waiting == 1
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert limiter.waiting == 0
        await client.send(text_request(3))
    assert limiter.admitted == 3  # the cancelled call never got a slot
    assert quiet_emulator.request_count == 3


async def test_models_request_takes_a_request_slot(quiet_emulator: Emulator) -> None:
    """GET /models goes through the limiter too (a slot, no tokens)."""
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url, rpm=600) as client:
        assert await client.models()
        assert client.rate_limiter.admitted == 1


@pytest.mark.parametrize("detail", ["low", "high", None])
async def test_token_estimate_matches_the_emulators_prompt_count(
    quiet_emulator: Emulator, detail: str | None
) -> None:
    """The estimate is the emulator's prompt tokens plus the default answer budget."""
    big = make_png(1100, 1000, seed=3)  # 1.1 M pixels: above the low-detail cap
    small = make_png(64, 48, seed=4)
    request = ChatRequest(
        model=dv.MODEL_VISION_LITE,
        messages=[user(TextPart("Compare these two pictures, please."), big, small, detail=detail)],
    )
    async with AsyncClient(API_KEY, base_url=quiet_emulator.base_url) as client:
        completion = await client.send(request)
    assert completion.usage is not None
    cap = 5120 if detail == "high" else 1312
    image_tokens = min(math.ceil(1100 * 1000 / 784), cap) + math.ceil(64 * 48 / 784)
    assert completion.usage.prompt_tokens == math.ceil(35 / 4) + image_tokens
    assert estimate_tokens(request) == completion.usage.prompt_tokens + DEFAULT_ANSWER_TOKENS


def test_token_estimate_for_urls_pixel_limits_and_answer_budgets() -> None:
    """Remote images count the cap, image_pixel_limit clamps pixels, max_tokens replaces the default."""
    remote = ImagePart(ImageURL("https://example.com/cat.jpg", detail="high"))
    limited = ImagePart(
        ImageURL(
            Image.from_bytes(make_png(2000, 2000)),
            image_pixel_limit=ImagePixelLimit(max_pixels=784 * 100),
        )
    )
    request = ChatRequest(
        model=dv.MODEL_VISION_LITE, messages=[user(remote, limited)], max_completion_tokens=7
    )
    assert estimate_tokens(request) == 5120 + 100 + 7
    assert estimate_tokens(None) == 0


def test_limiter_rejects_nonsense_limits() -> None:
    """rpm, tpm and probe_interval must be positive."""
    for kwargs in ({"rpm": 0}, {"tpm": -1}, {"probe_interval": 0}):
        with pytest.raises(ValueError, match="must be > 0"):
            RateLimiter(**kwargs)
