"""completion.http and stream.http: status, read-only headers without credentials, timings,
attempts, and the gateway's x-ratelimit-* headers parsed into RateLimitInfo.

The emulator does not send rate-limit headers (and is another area), so a tiny
aiohttp.web gateway of our own sends them, as OpenAI-compatible gateways do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision._http_info import RateLimitInfo, ResponseInfo, parse_duration
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY

MODEL = dv.MODEL_VISION_PRO

RATE_HEADERS = {
    "x-ratelimit-limit-requests": "600",
    "x-ratelimit-remaining-requests": "599",
    "x-ratelimit-reset-requests": "100ms",
    "x-ratelimit-limit-tokens": "150000",
    "x-ratelimit-remaining-tokens": "149984",
    "x-ratelimit-reset-tokens": "6m0s",
}


def _completion(content: str, model: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-gw-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    data = {
        "id": "chatcmpl-gw-2",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    headers = {
        **RATE_HEADERS,
        "x-request-id": "gw-req-1",
        # A misbehaving proxy echoing credentials: must never reach the user's result.
        "Authorization": request.headers.get("Authorization", ""),
        "Set-Cookie": "session=secret",
    }
    if not body.get("stream"):
        return web.json_response(_completion("hi", body["model"]), headers=headers)
    response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
    await response.prepare(request)
    for piece in ("a", "b", "c"):
        await response.write(_chunk({"content": piece}))
        await asyncio.sleep(0.01)
    await response.write(_chunk({}, finish="stop"))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


@pytest.fixture
async def gateway() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def _http(result: dv.ChatCompletion) -> ResponseInfo:
    assert result.http is not None
    return result.http


async def test_chat_http_info(client: AsyncClient) -> None:
    """completion.http has status 200, the request id header, an elapsed time and one attempt."""
    completion = await client.chat(MODEL, [dv.user("hi")])
    info = _http(completion)
    assert info.status_code == 200
    assert info.headers["X-Request-Id"] == completion.request_id  # case-insensitive
    assert info.elapsed is not None and info.elapsed > 0
    assert info.attempts == 1
    assert info.time_to_first_chunk is None and info.chunks == 0
    assert info.chunks_per_second is None
    assert info.rate_limit is None  # the emulator sends no x-ratelimit-* headers


async def test_headers_are_read_only(client: AsyncClient) -> None:
    """completion.http.headers cannot be changed."""
    info = _http(await client.chat(MODEL, [dv.user("hi")]))
    with pytest.raises(TypeError):
        info.headers["x-new"] = "1"  # type: ignore[index]


async def test_attempts_count_retries(client: AsyncClient, emulator: Emulator) -> None:
    """After two retries completion.http.attempts is 3 and the status is the last attempt's."""
    emulator.script(Fault.error(500), Fault.error(502))
    info = _http(await client.chat(MODEL, [dv.user("hi")]))
    assert info.attempts == 3
    assert info.status_code == 200


async def test_stream_http_info(client: AsyncClient) -> None:
    """stream.http has time_to_first_chunk, chunks, elapsed after close and chunks_per_second."""
    async with client.stream(
        MODEL, [dv.user("one two three four five")], extra_headers={"X-Emulator-Chunks": "6"}
    ) as stream:
        assert stream.http.elapsed is None  # still open
        async for _ in stream:
            pass
    info = stream.http
    assert info.status_code == 200
    assert info.chunks >= 6
    assert info.time_to_first_chunk is not None and info.elapsed is not None
    assert 0 < info.time_to_first_chunk <= info.elapsed
    rate = info.chunks_per_second
    assert rate is None or rate > 0  # None only if every chunk came in the same instant
    assert stream.completion.http is not None
    assert stream.completion.http.chunks == info.chunks


async def test_rate_limit_headers_are_parsed(gateway: str) -> None:
    """x-ratelimit-* headers become RateLimitInfo with ints and seconds."""
    async with AsyncClient(API_KEY, base_url=gateway) as client:
        info = _http(await client.chat(MODEL, [dv.user("hi")]))
    assert info.rate_limit == RateLimitInfo(
        limit_requests=600,
        remaining_requests=599,
        reset_requests=pytest.approx(0.1),  # type: ignore[arg-type]
        limit_tokens=150000,
        remaining_tokens=149984,
        reset_tokens=360.0,
    )


async def test_credentials_never_reach_the_result(gateway: str) -> None:
    """An echoed Authorization header and Set-Cookie are dropped from completion.http.headers."""
    async with AsyncClient(API_KEY, base_url=gateway) as client:
        completion = await client.chat(MODEL, [dv.user("hi")])
    headers = _http(completion).headers
    assert "Authorization" not in headers and "Set-Cookie" not in headers
    assert API_KEY not in repr(dict(headers))
    assert API_KEY not in repr(completion.http)
    assert headers["x-request-id"] == "gw-req-1"


async def test_stream_rate_limit_and_timing(gateway: str) -> None:
    """A stream's http carries the rate-limit headers and a positive chunks_per_second."""
    async with (
        AsyncClient(API_KEY, base_url=gateway) as client,
        client.stream(MODEL, [dv.user("hi")]) as stream,
    ):
        text = [piece async for piece in stream.text_deltas()]
    assert text == ["a", "b", "c"]
    info = stream.http
    assert info.rate_limit is not None and info.rate_limit.remaining_tokens == 149984
    assert "Authorization" not in info.headers
    assert info.chunks == 4
    assert info.chunks_per_second is not None and info.chunks_per_second > 0


def test_rate_limit_info_is_none_without_headers() -> None:
    """No x-ratelimit-* header: rate_limit is None; partial headers leave the rest None."""
    assert RateLimitInfo.from_headers({"content-type": "application/json"}) is None
    partial = RateLimitInfo.from_headers({"x-ratelimit-remaining-requests": "3"})
    assert partial == RateLimitInfo(remaining_requests=3)
    garbled = RateLimitInfo.from_headers(
        {"x-ratelimit-limit-requests": "many", "x-ratelimit-reset-tokens": "soon"}
    )
    assert garbled == RateLimitInfo()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5)],
)
def test_parse_duration_examples(text: str, seconds: float) -> None:
    """Gateways' reset durations ('6m0s', '20ms', bare seconds) parse to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@given(st.integers(0, 48), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_parse_duration_any_go_duration(
    hours: int, minutes: int, seconds: int, millis: int
) -> None:
    """Any Go-style duration with h, m, s and ms parts parses to its total seconds."""
    text = f"{hours}h{minutes}m{seconds}s{millis}ms"
    assert parse_duration(text) == pytest.approx(
        hours * 3600 + minutes * 60 + seconds + millis / 1000
    )
