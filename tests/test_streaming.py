"""Streams over real HTTP: chunks, helpers, accumulation, errors inside streams, closing."""

from __future__ import annotations

import asyncio

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision.emulator import Emulator, Fault

from ._emulator_thread import emulator_thread
from ._expect import answer
from .conftest import API_KEY, FAST_RETRY

MODEL = dv.MODEL_VISION_PRO


def chunks_header(n: int, **more: str) -> dict[str, str]:
    return {"X-Emulator-Chunks": str(n), **more}


async def drain(
    client: AsyncClient, prompt: str, seen: list[object] | None = None, **params: object
) -> None:
    """Open a stream and read it to the end, recording each chunk in ``seen``."""
    async with client.stream(MODEL, [dv.user(prompt)], **params) as stream:  # type: ignore[arg-type]
        async for chunk in stream:
            if seen is not None:
                seen.append(chunk)


async def test_stream_yields_chunks_and_accumulates(client: AsyncClient, png: bytes) -> None:
    """Content deltas join to the same text as a non-streamed call; usage comes from the last chunk."""
    async with client.stream(
        MODEL, [dv.user("look", png)], extra_headers=chunks_header(7)
    ) as stream:
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer("look", png)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    completion = stream.completion
    assert completion.text == text and completion.finish_reason == "stop"
    assert completion.usage == chunks[-1].usage
    assert completion.request_id and completion.client_request_id
    assert completion.id == chunks[0].id


async def test_final_completion_without_iterating(client: AsyncClient, png: bytes) -> None:
    """final_completion() reads the whole stream and equals the non-streamed answer."""
    full = await client.chat(MODEL, [dv.user("same", png)])
    async with client.stream(MODEL, [dv.user("same", png)]) as stream:
        streamed = await stream.final_completion()
    assert streamed.text == full.text
    assert streamed.usage is not None and full.usage is not None
    assert streamed.usage.prompt_tokens == full.usage.prompt_tokens


async def test_text_and_reasoning_deltas(client: AsyncClient) -> None:
    """text_deltas and reasoning_deltas yield only their own pieces."""
    async with client.stream(MODEL, [dv.user("think")], thinking="enabled") as stream:
        reasoning = [piece async for piece in stream.reasoning_deltas()]
    assert "".join(reasoning).startswith("Looking at")
    async with client.stream(MODEL, [dv.user("think")], thinking="enabled") as stream:
        text = "".join([piece async for piece in stream.text_deltas()])
    assert text == "prompt: think"
    assert stream.completion.reasoning.startswith("Looking at")


async def test_tool_calls_merge_by_index(client: AsyncClient) -> None:
    """Tool-call deltas split over chunks merge into whole calls with full arguments."""
    tools = [{"type": "function", "function": {"name": "zoom"}}]
    full = await client.chat(MODEL, [dv.user("x")], tools=tools)
    async with client.stream(MODEL, [dv.user("x")], tools=tools) as stream:
        completion = await stream.final_completion()
    calls = completion.choices[0].message.tool_calls
    expected = full.choices[0].message.tool_calls
    assert calls is not None and expected is not None
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        (c.function.name, c.function.arguments) for c in expected
    ]
    assert all(c.id.startswith("call_") and c.type == "function" for c in calls)
    assert completion.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Emulator-Line-Ending": "crlf"},
        {"X-Emulator-Keepalive": "3"},
        {"X-Emulator-Split-Writes": "1", "X-Emulator-Chunks": "9"},
        {
            "X-Emulator-Line-Ending": "crlf",
            "X-Emulator-Split-Writes": "1",
            "X-Emulator-Keepalive": "2",
        },
    ],
)
async def test_wire_variants_give_the_same_text(
    client: AsyncClient, headers: dict[str, str]
) -> None:
    """CRLF endings, keep-alive comments and multi-byte text split across TCP writes all decode exactly."""
    prompt = "这张图片里有什么？请详细描述 — ünïcödé ✓"
    async with client.stream(MODEL, [dv.user(prompt)], extra_headers=headers) as stream:
        text = "".join([piece async for piece in stream.text_deltas()])
    assert text == f"prompt: {prompt}"


async def test_break_closes_and_frees_the_slot(emulator: Emulator) -> None:
    """Breaking out of the loop closes the response; the pool slot and connection are released."""
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_connections=1) as client:
        for _ in range(3):
            async with client.stream(MODEL, [dv.user("a b c d e f")]) as stream:
                async for _chunk in stream:
                    break
        # With one connection, a leaked stream would make this hang.
        assert await asyncio.wait_for(client.ask("after"), 5) == "prompt: after"
        connector = (
            client._runtime.transport.session.connector
            if client._runtime.transport.session
            else None
        )
        assert connector is not None and not connector._acquired  # type: ignore[attr-defined]


async def test_break_without_async_with_closes_soon(emulator: Emulator) -> None:
    """A bare `async for ... break` (no async with) still closes once the loop drops the iterator."""
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_connections=1) as client:
        stream = client.stream(MODEL, [dv.user("a b c d e f")])
        async for _chunk in stream:
            break
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(client.ask("after"), 5) == "prompt: after"


async def test_bare_iteration_of_a_refused_stream_raises_once_and_frees_its_slot(
    emulator: Emulator,
) -> None:
    """`async for` without `async with` over a stream the server refuses: the typed error, one error counted, the slot free."""
    emulator.script(Fault.error(400, message="bad image"))
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_connections=1) as client:
        stream = client.stream(MODEL, [dv.user("x")])
        with pytest.raises(dv.BadRequestError, match="bad image"):
            async for _chunk in stream:
                pass
        assert client.usage.errors == {"BadRequestError": 1}
        with pytest.raises(dv.StreamClosedError):
            async for _chunk in stream:
                pass
        assert await asyncio.wait_for(client.ask("after"), 5) == "prompt: after"


async def test_completed_stream_reuses_its_connection(emulator: Emulator) -> None:
    """Streams read to [DONE] return their connection to the pool: one connection serves many."""
    async with AsyncClient(API_KEY, base_url=emulator.base_url) as client:
        for _ in range(5):
            async with client.stream(MODEL, [dv.user("x y")]) as stream:
                await stream.final_completion()
    assert emulator.peak_connections == 1


async def test_cancellation_closes_the_stream(emulator: Emulator) -> None:
    """Cancelling the task that iterates a slow stream closes it and frees the slot."""
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_connections=1) as client:

        async def consume() -> None:
            async with client.stream(
                MODEL,
                [dv.user("a b c d e f g h")],
                extra_headers={"X-Emulator-Chunk-Delay": "0.2"},
            ) as stream:
                async for _chunk in stream:
                    pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(client.ask("after"), 5) == "prompt: after"


async def test_aclose_is_idempotent(client: AsyncClient) -> None:
    """aclose on a stream twice, before and after opening, is safe."""
    stream = client.stream(MODEL, [dv.user("x")])
    await stream.aclose()
    await stream.aclose()
    async with client.stream(MODEL, [dv.user("x")]) as opened:
        await opened.aclose()
        await opened.aclose()


@pytest.mark.parametrize(
    ("fault", "cls", "code"),
    [
        (Fault.stream_error_event(2), dv.RateLimitError, "ServerOverloaded"),
        (
            Fault.stream_data_error(2, "RateLimitExceeded.EndpointTPMExceeded"),
            dv.RateLimitError,
            None,
        ),
        (Fault.stream_data_error(2, "InternalServiceError"), dv.InternalServerError, None),
        (Fault.stream_data_error(2, "InvalidParameter"), dv.BadRequestError, None),
        (Fault.stream_bare_error(2, -10008), dv.ServiceUnavailableError, "-10008"),
        (Fault.stream_bare_error(2), dv.APIStatusError, "-10003"),
    ],
)
async def test_errors_inside_streams_are_typed(
    client: AsyncClient, emulator: Emulator, fault: Fault, cls: type, code: str | None
) -> None:
    """event: error, data: {"error"} and a bare JSON line each raise the class their code means, mid-stream, not retried."""
    emulator.script(fault)
    seen: list[object] = []
    with pytest.raises(cls) as info:
        await drain(client, "a b c d e f", seen, extra_headers=chunks_header(6))
    assert len(seen) == 2
    assert info.value.status_code == 200
    if code:
        assert info.value.code == code
    assert emulator.request_count == 1


async def test_error_before_first_chunk_is_retried(client: AsyncClient, emulator: Emulator) -> None:
    """A stream that fails before its first chunk (overload event, drop, truncation) is retried."""
    emulator.script(Fault.stream_error_event(0), Fault.drop_mid_stream(0), Fault.truncate(0))
    async with (
        AsyncClient(
            API_KEY,
            base_url=emulator.base_url,
            retry=dv.RetryPolicy(max_retries=3, initial_delay=0.01),
        ) as patient,
        patient.stream(MODEL, [dv.user("ok")]) as stream,
    ):
        assert (await stream.final_completion()).text == "prompt: ok"
    assert emulator.request_count == 4


async def test_http_error_before_stream_matches_non_streaming(
    client: AsyncClient, emulator: Emulator
) -> None:
    """An HTTP error status before the stream raises the same typed error; 429 is retried."""
    emulator.script(Fault.error(400, code="InvalidParameter"))
    with pytest.raises(dv.BadRequestError):
        await drain(client, "x")
    emulator.script(Fault.rate_limited(None))
    async with client.stream(MODEL, [dv.user("x")]) as stream:
        assert (await stream.final_completion()).text == "prompt: x"


async def test_json_answer_to_stream_is_read(client: AsyncClient, emulator: Emulator) -> None:
    """A stream=True call answered with application/json gives the completion, never zero events."""
    emulator.script(Fault.json_for_stream())
    async with client.stream(MODEL, [dv.user("json")]) as stream:
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == 1 and stream.completion.text == "prompt: json"
    assert stream.completion.usage is not None


async def test_truncated_stream_raises(client: AsyncClient, emulator: Emulator) -> None:
    """A body that ends without [DONE] or finish_reason raises StreamTruncatedError, never a silent partial."""
    emulator.script(Fault.truncate(2))
    stream = client.stream(MODEL, [dv.user("a b c d e")], extra_headers=chunks_header(5))
    with pytest.raises(dv.StreamTruncatedError) as info:
        await stream.final_completion()
    assert isinstance(info.value, dv.APIConnectionError)
    assert stream.completion.text  # what arrived is still inspectable


async def test_dropped_connection_mid_stream(client: AsyncClient, emulator: Emulator) -> None:
    """A transport failure mid-stream is an APIConnectionError, not an aiohttp exception."""
    emulator.script(Fault.drop_mid_stream(2))
    with pytest.raises(dv.APIConnectionError):
        await drain(client, "a b c d e", extra_headers=chunks_header(5))


async def test_keepalives_do_not_reset_idle_timeout(emulator: Emulator) -> None:
    """Only keep-alive comments for longer than timeout.read: APITimeoutError, though bytes keep coming."""
    emulator.script(Fault.keepalive_only(5))
    timeout = dv.Timeout(read=0.5)
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, timeout=timeout, retry=FAST_RETRY
    ) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(dv.APITimeoutError, match="keep-alive"):
            await drain(client, "a b c")
        assert loop.time() - started < 3


async def test_slow_but_steady_stream_does_not_time_out(emulator: Emulator) -> None:
    """Data events closer together than timeout.read keep a long stream alive."""
    timeout = dv.Timeout(read=0.3)
    headers = {"X-Emulator-Chunk-Delay": "0.1"}
    async with (
        AsyncClient(API_KEY, base_url=emulator.base_url, timeout=timeout) as client,
        client.stream(MODEL, [dv.user("a b c d e f")], extra_headers=headers) as stream,
    ):
        assert (await stream.final_completion()).text == "prompt: a b c d e f"


async def test_paced_stream_arms_no_timer_per_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events that arrive one per read schedule a constant number of loop timers, not one per event."""
    timeout = dv.Timeout(read=5)
    headers = {"X-Emulator-Chunk-Delay": "0.005", **chunks_header(40)}
    loop = asyncio.get_running_loop()
    scheduled: list[object] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: object, *args: object, **kw: object) -> object:
        scheduled.append(callback)
        return call_at(when, callback, *args, **kw)  # type: ignore[arg-type]

    # The emulator on a loop of its own: this loop's timers are the client's alone.
    with emulator_thread() as server:
        async with AsyncClient(API_KEY, base_url=server.base_url, timeout=timeout) as client:
            await drain(client, "warm up the pool")
            monkeypatch.setattr(loop, "call_at", counting_call_at)  # call_later goes through it
            seen: list[object] = []
            await drain(client, "a b c", seen, extra_headers=headers)
            monkeypatch.undo()
    assert len(seen) >= 40
    # The request's total and sock_read (until the headers), the idle timer: a
    # handful. aiohttp's sock_read re-armed on every socket read would be ~40 more.
    assert len(scheduled) <= 6, scheduled


async def test_connection_reused_after_a_stream_keeps_its_read_timeout(
    emulator: Emulator,
) -> None:
    """A stream stops aiohttp's per-read timer on its connection; the next request on it still times out on read."""
    timeout = dv.Timeout(read=0.3)
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, timeout=timeout, max_connections=1, max_retries=0
    ) as client:
        await drain(client, "a b c")
        emulator.script(Fault.stall(30))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(dv.APITimeoutError):
            await client.ask("x")
        assert loop.time() - started < 3
        assert emulator.peak_connections == 1  # the stream's connection, reused


async def test_stream_stalled_before_its_headers_times_out_on_read(emulator: Emulator) -> None:
    """Until the headers arrive, a stream is timed by Timeout.read like any request."""
    emulator.script(Fault.stall(30))
    timeout = dv.Timeout(read=0.3)
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, timeout=timeout, max_retries=0
    ) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(dv.APITimeoutError):
            await drain(client, "x")
        assert loop.time() - started < 3
