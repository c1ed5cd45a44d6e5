"""Retry rules: what is retried, how long we wait, and the request id across attempts."""

from __future__ import annotations

import email.utils
import time

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient, RetryPolicy
from doubao_vision._retry import backoff, retry_after, retry_delay
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY, FAST_RETRY


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(408),
        Fault.error(409),
        Fault.rate_limited(None),
        Fault.error(500),
        Fault.error(502),
        Fault.unavailable(),
        Fault.drop_before_headers(),
        Fault.drop_after_headers(),
        Fault.html(504),
    ],
)
async def test_retryable_failures_are_retried(
    client: AsyncClient, emulator: Emulator, fault: Fault
) -> None:
    """408, 409, 429, 5xx and dropped connections are retried and the call succeeds."""
    emulator.script(fault)
    assert await client.ask("ok") == "prompt: ok"
    assert emulator.request_count == 2
    assert client.usage.retries == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(400),
        Fault.error(401),
        Fault.error(403),
        Fault.error(404),
        Fault.error(413),
        Fault.error(422),
        Fault.quota(),
        Fault.quota("SetLimitExceeded"),
        Fault.error(403, code="AccountOverdueError"),
        Fault.error(429, code="insufficient_quota"),
    ],
)
async def test_person_fixable_errors_are_not_retried(
    client: AsyncClient, emulator: Emulator, fault: Fault
) -> None:
    """4xx that only a person can fix, and quota/billing codes, raise after one attempt."""
    emulator.script(fault, fault, fault)
    with pytest.raises(dv.APIStatusError):
        await client.ask("x")
    assert emulator.request_count == 1


async def test_same_client_request_id_on_every_attempt(
    client: AsyncClient, emulator: Emulator
) -> None:
    """All attempts of one call send the same X-Client-Request-Id; calls differ."""
    emulator.script(Fault.error(500), Fault.error(503))
    await client.chat(dv.MODEL_VISION_PRO, [dv.user("x")])
    ids = [r.headers["x-client-request-id"] for r in emulator.requests]
    assert len(ids) == 3 and len(set(ids)) == 1
    await client.chat(dv.MODEL_VISION_PRO, [dv.user("x")])
    assert emulator.requests[-1].headers["x-client-request-id"] != ids[0]


async def test_retries_exhausted_raise_last_error(client: AsyncClient, emulator: Emulator) -> None:
    """After max_retries the last error is raised: 1 + max_retries attempts in all."""
    emulator.script(*[Fault.error(500)] * 5)
    with pytest.raises(dv.InternalServerError):
        await client.ask("x")
    assert emulator.request_count == 1 + FAST_RETRY.max_retries
    assert client.usage.errors["InternalServerError"] == 1


async def test_retry_after_seconds_is_honoured(client: AsyncClient, emulator: Emulator) -> None:
    """Retry-After: 1 makes the retry wait about a second, not the tiny backoff."""
    emulator.script(Fault.rate_limited("1"))
    await client.ask("x")
    first, second = emulator.requests
    assert 0.9 <= second.received_at - first.received_at < 3


async def test_retry_after_ms_is_honoured(client: AsyncClient, emulator: Emulator) -> None:
    """retry-after-ms wins over Retry-After and is honoured."""
    emulator.script(Fault.rate_limited("30", retry_after_ms="400"))
    await client.ask("x")
    first, second = emulator.requests
    assert 0.35 <= second.received_at - first.received_at < 2


async def test_retry_after_past_the_cap_raises_without_sleeping(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A Retry-After longer than max_retry_after raises at once instead of sleeping."""
    emulator.script(Fault.rate_limited("3600"))
    started = time.monotonic()
    with pytest.raises(dv.RateLimitError):
        await client.ask("x")
    assert time.monotonic() - started < 1
    assert emulator.request_count == 1


async def test_x_should_retry_overrides(client: AsyncClient, emulator: Emulator) -> None:
    """x-should-retry: false stops a 500 retry; true retries even a 400."""
    emulator.script(Fault.error(500, headers={"x-should-retry": "false"}))
    with pytest.raises(dv.InternalServerError):
        await client.ask("x")
    assert emulator.request_count == 1
    emulator.script(Fault.error(400, headers={"x-should-retry": "true"}))
    assert await client.ask("y") == "prompt: y"
    assert emulator.request_count == 3


async def test_max_retries_zero_disables(emulator: Emulator) -> None:
    """max_retries=0 makes exactly one attempt."""
    emulator.script(Fault.error(500))
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_retries=0) as client:
        with pytest.raises(dv.InternalServerError):
            await client.ask("x")
    assert emulator.request_count == 1


def test_retry_after_parsing() -> None:
    """Retry-After parses as seconds or an HTTP-date; retry-after-ms as milliseconds."""
    assert retry_after({"retry-after": "2"}) == 2
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "soon"}) is None
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    parsed = retry_after({"retry-after": when})
    assert parsed is not None and 8 <= parsed <= 10.5
    assert retry_after({}) is None


def test_backoff_is_full_jitter_and_capped() -> None:
    """Backoff is uniform in [0, min(cap, base*2**n)]: never above the cap, and spread out."""
    policy = RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=8.0)
    for n in range(10):
        samples = [backoff(policy, n) for _ in range(300)]
        ceiling = min(8.0, 0.5 * 2**n)
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8 and min(samples) < ceiling * 0.2


def test_retry_delay_uses_server_wait_and_cap() -> None:
    """retry_delay returns the asked wait within the cap, None past it or when exhausted."""
    policy = RetryPolicy(max_retries=2, max_retry_after=60)
    error = dv.RateLimitError("x", status_code=429, headers={"retry-after": "7"})
    assert retry_delay(policy, 0, error) == 7
    assert retry_delay(policy, 2, error) is None
    late = dv.RateLimitError("x", status_code=429, headers={"retry-after": "61"})
    assert retry_delay(policy, 0, late) is None
