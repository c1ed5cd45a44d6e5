"""Scripted faults: error bodies, dropped connections, stalls, broken streams, headers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from doubao_vision.emulator import Emulator, Fault

from ._emulator_support import (  # noqa: F401 -- fixtures
    chat,
    chunks_of,
    events,
    no_server_errors_fixture,
    post,
    server_fixture,
    session_fixture,
    until,
)

# -- faults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        (
            Fault.error(500),
            500,
            {"code": "InternalServiceError", "param": "", "type": "InternalServerError"},
        ),
        (
            Fault.error(400, code="InvalidParameter", message="bad", type="BadRequest"),
            400,
            {"code": "InvalidParameter", "param": "", "type": "BadRequest"},
        ),
        (
            Fault.error(403, code="AccountOverdueError"),
            403,
            {"code": "AccountOverdueError", "param": "", "type": "Forbidden"},
        ),
        (
            Fault.quota(),
            429,
            {"code": "QuotaExceeded", "param": "", "type": "TooManyRequests"},
        ),
        (
            Fault.quota("SetLimitExceeded"),
            429,
            {"code": "SetLimitExceeded", "param": "", "type": "TooManyRequests"},
        ),
    ],
)
async def test_ark_shaped_error_faults(
    server: Emulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    error: dict[str, str],
) -> None:
    """Fault.error / quota answer the status with Ark's error body ending in the request id."""
    server.script(fault)
    got, body, resp = await post(session, server.base_url, chat("x"))
    assert got == status
    message = body["error"].pop("message")
    assert body["error"] == error
    assert message.endswith(f"Request id: {resp.headers['x-request-id']}")
    if fault.message:
        assert message.startswith(fault.message)


async def test_error_fault_extra_headers(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.error(headers=...) adds response headers such as x-should-retry."""
    server.script(Fault.error(500, headers={"x-should-retry": "false"}))
    status, _, resp = await post(session, server.base_url, chat("x"))
    assert status == 500
    assert resp.headers["x-should-retry"] == "false"


async def test_302_shaped_error(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.error(shape='302') and Fault.unavailable() send 302.AI's err_code body."""
    server.script(Fault.error(500, shape="302"), Fault.unavailable())
    status, body, _ = await post(session, server.base_url, chat("x"))
    assert status == 500
    assert body["error"]["err_code"] == -10003
    assert body["error"]["type"] == "api_error"
    status, body, _ = await post(session, server.base_url, chat("x"))
    assert status == 503
    assert set(body["error"]) == {"err_code", "message", "message_cn", "message_jp", "type"}
    assert body["error"]["err_code"] == -10008
    assert body["error"]["message"].startswith("No available models currently")


async def test_rate_limited(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.rate_limited is 429 Ark-shaped with Retry-After and retry-after-ms when given."""
    server.script(Fault.rate_limited("2", retry_after_ms="1500"), Fault.rate_limited(None))
    status, body, resp = await post(session, server.base_url, chat("x"))
    assert status == 429
    assert body["error"]["code"] == "RateLimitExceeded.EndpointRPMExceeded"
    assert body["error"]["type"] == "TooManyRequests"
    assert resp.headers["Retry-After"] == "2"
    assert resp.headers["retry-after-ms"] == "1500"
    status, body, resp = await post(session, server.base_url, chat("x"))
    assert status == 429
    assert "Retry-After" not in resp.headers
    assert "retry-after-ms" not in resp.headers


async def test_html_fault(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.html sends a text/html error page, not JSON."""
    server.script(Fault.html(504))
    status, body, resp = await post(session, server.base_url, chat("x"))
    assert status == 504
    assert resp.content_type == "text/html"
    assert "<html>" in body
    assert "504" in body


async def test_drop_before_headers(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.drop_before_headers closes the connection: the client sees a disconnect."""
    server.script(Fault.drop_before_headers())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, server.base_url, chat("x"))
    status, _, _ = await post(session, server.base_url, chat("x"))
    assert status == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_drop_after_headers(
    server: Emulator, session: aiohttp.ClientSession, stream: bool
) -> None:
    """Fault.drop_after_headers sends 200 and headers, then cuts the body short."""
    server.script(Fault.drop_after_headers())
    url = f"{server.base_url}/chat/completions"
    async with session.post(url, json=chat("x", stream=stream)) as resp:
        assert resp.status == 200
        if not stream:
            assert resp.content_length
            assert resp.content_length > 10
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_stall_honours_client_timeout(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Fault.stall outlasts a client timeout; the handler then stops without warnings."""
    server.script(Fault.stall(30))
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=0.3)
    with pytest.raises(asyncio.TimeoutError):
        async with session.post(
            f"{server.base_url}/chat/completions", json=chat("x"), timeout=timeout
        ) as resp:
            await resp.read()
    assert time.monotonic() - started < 5
    await until(lambda: server.open_connections == 0)
    assert server.requests[-1].fault == "stall"


async def test_stall_then_answers(server: Emulator, session: aiohttp.ClientSession) -> None:
    """A short stall delays the normal answer."""
    server.script(Fault.stall(0.2))
    started = time.monotonic()
    status, body, _ = await post(session, server.base_url, chat("x"))
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "prompt: x"
    assert time.monotonic() - started >= 0.19


async def test_close_ends_a_stall(session: aiohttp.ClientSession) -> None:
    """Closing the emulator during a stall disconnects the client at once, cleanly."""
    emulator = Emulator()
    base = await emulator.start()
    emulator.script(Fault.stall(30))
    request = asyncio.create_task(post(session, base, chat("x")))
    await until(lambda: bool(emulator.requests))
    started = time.monotonic()
    await emulator.close()
    assert time.monotonic() - started < 2
    with pytest.raises(aiohttp.ClientConnectionError):
        await request
    assert emulator.open_connections == 0


async def test_slow_fault(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.slow spaces stream chunks by its delay."""
    server.script(Fault.slow(0.04))
    started = time.monotonic()
    _, raw, _ = await post(session, server.base_url, chat("a b c", stream=True))
    assert time.monotonic() - started >= 0.04 * 5 * 0.9
    assert events(raw)[-1] == "[DONE]"


@pytest.mark.parametrize("kind", ["stream_error_event", "stream_data_error"])
async def test_stream_error_faults(
    server: Emulator, session: aiohttp.ClientSession, kind: str
) -> None:
    """After N chunks an Ark error arrives as 'event: error' or a bare data event; no [DONE]."""
    server.script(getattr(Fault, kind)(2, code="ServerOverloaded"))
    _, raw, _ = await post(session, server.base_url, chat("a b c d", stream=True))
    payloads = events(raw)
    assert "[DONE]" not in payloads
    assert len(payloads) == 3
    error = orjson.loads(payloads[-1])["error"]
    assert error["code"] == "ServerOverloaded"
    assert error["type"] == "TooManyRequests"
    assert ("event: error\ndata: " in raw) is (kind == "stream_error_event")


async def test_stream_bare_error(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.stream_bare_error writes a 302.AI error JSON line with no 'data:' prefix."""
    server.script(Fault.stream_bare_error(1, err_code=-10003))
    _, raw, _ = await post(session, server.base_url, chat("a b", stream=True))
    assert len(events(raw)) == 1
    last = raw.rstrip("\n").split("\n")[-1]
    assert raw.endswith(last + "\n")
    error = orjson.loads(last)["error"]
    assert error["err_code"] == -10003
    assert error["message_cn"]


async def test_truncate(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.truncate ends the body cleanly after N chunks: no finish_reason, no [DONE]."""
    server.script(Fault.truncate(2), Fault.truncate(100))
    for want in (2, 4):  # 4: the role chunk and three content chunks, all before the finish
        _, raw, _ = await post(session, server.base_url, chat("a b", stream=True))
        chunks = chunks_of(raw)
        assert "[DONE]" not in events(raw)
        assert len(chunks) == want
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


async def _read_lines(resp: aiohttp.ClientResponse, into: list[bytes]) -> None:
    async for line in resp.content:
        into.append(line)


async def test_drop_mid_stream(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.drop_mid_stream cuts the connection after N chunks: a client payload error."""
    server.script(Fault.drop_mid_stream(2))
    received: list[bytes] = []
    async with session.post(
        f"{server.base_url}/chat/completions", json=chat("a b c d", stream=True)
    ) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await _read_lines(resp, received)
    assert sum(line.startswith(b"data: ") for line in received) == 2


async def test_json_for_stream(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.json_for_stream answers a stream request with a plain JSON completion."""
    server.script(Fault.json_for_stream())
    status, body, resp = await post(session, server.base_url, chat("a", stream=True))
    assert status == 200
    assert resp.content_type == "application/json"
    assert body["object"] == "chat.completion"


async def test_keepalive_only(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.keepalive_only sends only comments after the first chunk, then the rest."""
    server.script(Fault.keepalive_only(0.3))
    started = time.monotonic()
    _, raw, _ = await post(session, server.base_url, chat("a", stream=True))
    assert time.monotonic() - started >= 0.29
    first, _rest = raw.split(": keep-alive", 1)
    assert len(events(first)) == 1
    assert raw.count(": keep-alive") >= 4
    assert events(raw)[-1] == "[DONE]"


async def test_stream_faults_ignored_without_stream(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """A stream-only fault leaves a non-stream request's answer normal (but is recorded)."""
    server.script(Fault.truncate(1))
    status, body, _ = await post(session, server.base_url, chat("a"))
    assert status == 200
    assert body["choices"][0]["finish_reason"] == "stop"
    assert server.requests[-1].fault == "truncate"


async def test_script_queue_order(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Scripted faults apply FIFO, one per chat request, then requests are normal."""
    server.script(Fault.error(500), Fault.rate_limited())
    server.script(Fault.error(502))
    statuses = [(await post(session, server.base_url, chat("x")))[0] for _ in range(4)]
    assert statuses == [500, 429, 502, 200]
    assert [r.fault for r in server.requests] == ["error", "rate_limited", "error", None]


async def test_models_do_not_take_faults(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Faults apply to chat requests only; GET /v1/models leaves the script alone."""
    server.script(Fault.error(500))
    async with session.get(f"{server.base_url}/models") as resp:
        assert resp.status == 200
    assert (await post(session, server.base_url, chat("x")))[0] == 500


async def test_header_fault(server: Emulator, session: aiohttp.ClientSession) -> None:
    """X-Emulator-Fault applies its fault to that request and leaves the script alone."""
    server.script(Fault.error(500))
    fault = Fault.rate_limited("7")
    status, _, resp = await post(
        session, server.base_url, chat("x"), **{"X-Emulator-Fault": fault.to_header()}
    )
    assert status == 429
    assert resp.headers["Retry-After"] == "7"
    assert (await post(session, server.base_url, chat("x")))[0] == 500


def test_fault_header_round_trip() -> None:
    """to_header is compact ASCII JSON and from_header rebuilds an equal Fault."""
    faults = [
        Fault.error(503, code="X", message="消息", shape="ark", headers={"a": "b"}),
        Fault.error(500, shape="302", err_code=-1),
        Fault.rate_limited(None, retry_after_ms="10"),
        Fault.quota("SetLimitExceeded"),
        Fault.unavailable(),
        Fault.html(),
        Fault.drop_before_headers(),
        Fault.drop_after_headers(),
        Fault.stall(1.5),
        Fault.slow(0.1),
        Fault.stream_error_event(3, code="InternalServiceError", type="InternalServerError"),
        Fault.stream_data_error(0),
        Fault.stream_bare_error(2, err_code=-10008),
        Fault.truncate(4),
        Fault.drop_mid_stream(1),
        Fault.json_for_stream(),
        Fault.keepalive_only(2.0),
        Fault.answer('{"a":1}\n消息', finish_reason="length"),
    ]
    for fault in faults:
        header = fault.to_header()
        assert header.isascii()
        assert " " not in header
        assert Fault.from_header(header) == fault
    for bad in (
        "",
        "[]",
        '{"kind": "nope"}',
        '{"kind": "stall", "bogus": 1}',
        '{"kind":"truncate","after":-1}',
    ):
        with pytest.raises(ValueError, match="X-Emulator-Fault"):
            Fault.from_header(bad)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("nope")


async def test_fault_rate_fails_that_share(session: aiohttp.ClientSession) -> None:
    """fault_rate fails about that share of chat requests with error_status; scripts win."""
    async with Emulator(fault_rate=0.5, error_status=503, seed=7) as base:
        statuses = [(await post(session, base, chat("x")))[0] for _ in range(60)]
    assert set(statuses) == {200, 503}
    assert 15 <= statuses.count(503) <= 45
    async with Emulator(fault_rate=1, error_status=429) as base:
        status, body, resp = await post(session, base, chat("x"))
        assert (status, resp.headers["Retry-After"]) == (429, "1")
        assert body["error"]["code"] == "RateLimitExceeded.EndpointRPMExceeded"
    emulator = Emulator(fault_rate=1)
    async with emulator as base:
        emulator.script(Fault.answer("scripted"))
        _, body, _ = await post(session, base, chat("x"))
        assert body["choices"][0]["message"]["content"] == "scripted"
        status, _, _ = await post(session, base, chat("x"))
        assert status == 500


def test_fault_rate_is_reproducible() -> None:
    """The same seed gives the same sequence of random faults."""
    runs = []
    for _ in range(2):
        state = Emulator(fault_rate=0.3, seed=11)._state
        runs.append([state.random_fault() is None for _ in range(50)])
    assert runs[0] == runs[1]
    assert not all(runs[0])
    assert any(runs[0])


async def test_latency_delays_answers(session: aiohttp.ClientSession) -> None:
    """latency holds every chat answer: a client timeout shorter than it fires."""
    async with Emulator(latency=5) as base:
        timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(asyncio.TimeoutError):
            async with session.post(
                f"{base}/chat/completions", json=chat("x"), timeout=timeout
            ) as resp:
                await resp.read()


@pytest.mark.parametrize(
    "options",
    [{"fault_rate": 1.5}, {"fault_rate": -0.1}, {"error_status": 200}, {"latency": -1}],
)
def test_bad_options_refused(options: dict[str, Any]) -> None:
    """Options out of range are refused when the Emulator is built."""
    with pytest.raises(ValueError, match="must be"):
        Emulator(**options)
