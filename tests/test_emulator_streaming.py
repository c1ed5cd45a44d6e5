"""The emulator's SSE streams: chunk shapes, usage, and the per-request stream knobs."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator

from ._emulator_support import (  # noqa: F401 -- fixtures
    AUTH,
    KEY,
    MODEL,
    chat,
    chunks_of,
    content_of,
    data_url,
    events,
    image,
    no_server_errors_fixture,
    post,
    server_fixture,
    session_fixture,
)

# -- streaming -------------------------------------------------------------------------


async def test_stream_format(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Chunks in Ark's format: role first, a piece per word, finish, usage, then [DONE]."""
    pic = make_png(40, 30, seed=5)
    body = chat("Describe the picture", image(data_url(pic)))
    _, plain, _ = await post(session, server.base_url, body)
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    async with session.post(f"{server.base_url}/chat/completions", json=streamed) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        rid = resp.headers["x-request-id"]
        raw = await resp.text()
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    assert raw.endswith("data: [DONE]\n\n")
    chunks = chunks_of(raw)
    assert {c["id"] for c in chunks} == {rid}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert len({c["created"] for c in chunks}) == 1
    # The role comes alone first, as OpenAI-compatible servers send it.
    assert chunks[0]["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:] if c["choices"])
    content = plain["choices"][0]["message"]["content"]
    assert content_of(chunks) == content
    deltas = [c for c in chunks[1:] if c["choices"] and c["choices"][0]["delta"]]
    assert len(deltas) == len(content.split())
    finish, usage = chunks[-2], chunks[-1]
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert usage["choices"] == []
    assert usage["usage"] == plain["usage"]


async def test_stream_without_usage(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Without include_usage no usage chunk is sent and every chunk has usage null."""
    _, raw, _ = await post(session, server.base_url, chat("a b", stream=True))
    chunks = chunks_of(raw)
    assert all(c["usage"] is None and c["choices"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_stream_reasoning_then_content(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Reasoning deltas come first, then content deltas."""
    _, raw, _ = await post(
        session, server.base_url, chat("hi", stream=True, thinking={"type": "enabled"})
    )
    chunks = chunks_of(raw)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    kinds = [next(iter(set(c["choices"][0]["delta"]) - {"role"}), None) for c in chunks[1:]]
    assert kinds == ["reasoning_content"] * 4 + ["content"] * 2 + [None]
    assert content_of(chunks, "reasoning_content") == "Looking at 0 image(s)."


async def test_stream_tool_call_deltas(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Tool call deltas share index 0; the first has id/type/name; arguments span >= 2 chunks."""
    tools = [{"type": "function", "function": {"name": "f"}}]
    _, raw, _ = await post(session, server.base_url, chat("x", stream=True, tools=tools))
    chunks = chunks_of(raw)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-1]]
    assert len(calls) >= 2
    assert {c["index"] for c in calls} == {0}
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["type"] == "function"
    assert calls[0]["function"]["name"] == "f"
    assert all("id" not in c for c in calls[1:])
    # A tool without a parameters schema gets an empty object.
    assert orjson.loads("".join(c["function"]["arguments"] for c in calls)) == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_exact_chunk_count(session: aiohttp.ClientSession) -> None:
    """chunks=N (or X-Emulator-Chunks) splits the content into exactly N pieces."""
    async with Emulator(chunks=2) as base:
        _, raw, _ = await post(session, base, chat("alpha beta gamma delta", stream=True))
        assert len(chunks_of(raw)) == 1 + 2 + 1  # role, content pieces, finish
        _, raw, _ = await post(
            session, base, chat("alpha beta gamma delta", stream=True), **{"X-Emulator-Chunks": "7"}
        )
        chunks = chunks_of(raw)
        assert len(chunks) == 1 + 7 + 1
        assert content_of(chunks) == "prompt: alpha beta gamma delta"


async def test_stream_crlf(server: Emulator, session: aiohttp.ClientSession) -> None:
    """X-Emulator-Line-Ending: crlf ends every line with CRLF."""
    _, raw, _ = await post(
        session, server.base_url, chat("a", stream=True), **{"X-Emulator-Line-Ending": "crlf"}
    )
    assert raw.endswith("data: [DONE]\r\n\r\n")
    assert "\n" not in raw.replace("\r\n", "")
    assert raw.count("\r\n\r\n") == len(events(raw))


async def test_stream_keepalives(session: aiohttp.ClientSession) -> None:
    """keepalive_comments=N sends N ': keep-alive' comments before every chunk."""
    async with Emulator(keepalive_comments=2, line_ending="crlf") as base:
        _, raw, _ = await post(session, base, chat("a b", stream=True))
    lines = raw.split("\r\n")
    assert lines.count(": keep-alive") == 2 * len(events(raw))
    assert lines[:4] == [": keep-alive", "", ": keep-alive", ""]


async def test_stream_chunk_delay(server: Emulator, session: aiohttp.ClientSession) -> None:
    """X-Emulator-Chunk-Delay spaces the chunks out."""
    started = time.monotonic()
    _, raw, _ = await post(
        session, server.base_url, chat("a b c", stream=True), **{"X-Emulator-Chunk-Delay": "0.05"}
    )
    assert time.monotonic() - started >= 0.05 * 5 * 0.9
    assert events(raw)[-1] == "[DONE]"


async def test_bad_option_header(server: Emulator, session: aiohttp.ClientSession) -> None:
    """An unparsable X-Emulator-* header is a 400 naming the header."""
    status, body, _ = await post(session, server.base_url, chat("a"), **{"X-Emulator-Chunks": "0"})
    assert status == 400
    assert body["error"]["param"] == "X-Emulator-Chunks"
    status, body, _ = await post(session, server.base_url, chat("a"), **{"X-Emulator-Fault": "{"})
    assert status == 400
    assert body["error"]["param"] == "X-Emulator-Fault"


def _dechunk(raw: bytes) -> list[bytes]:
    """The HTTP/1.1 chunks of a chunked body, as sent."""
    pieces: list[bytes] = []
    pos = 0
    while True:
        end = raw.index(b"\r\n", pos)
        size = int(raw[pos:end], 16)
        if size == 0:
            return pieces
        pieces.append(raw[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


async def test_split_writes_cut_utf8_and_reassemble(server: Emulator) -> None:
    """Split writes cut multi-byte characters across TCP writes; the text arrives byte-exact."""
    prompt = "这张图片里有什么？请详细描述颜色、形状和文字。"
    body = orjson.dumps(chat(prompt, stream=True))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        + f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\nX-Emulator-Split-Writes: 1\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    pieces = _dechunk(chunked)
    assert any(not _is_utf8(p) for p in pieces), "no write split a multi-byte character"
    stream = b"".join(pieces).decode()
    assert content_of(chunks_of(stream)) == f"prompt: {prompt}"
    # Through aiohttp too: the client reassembles the same text.
    async with aiohttp.ClientSession(headers=AUTH) as s:
        _, text_body, _ = await post(
            s, server.base_url, chat(prompt, stream=True), **{"X-Emulator-Split-Writes": "1"}
        )
    assert content_of(chunks_of(text_body)) == f"prompt: {prompt}"
