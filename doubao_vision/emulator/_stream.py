"""Server-sent events in Ark's chunk format, with the knobs tests need.

Each option has a constructor default on the :class:`Emulator` and a per-request
header: ``X-Emulator-Chunks``, ``X-Emulator-Chunk-Delay``, ``X-Emulator-Line-Ending``,
``X-Emulator-Keepalive`` and ``X-Emulator-Split-Writes``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Mapping
from typing import Any

import attrs
import orjson
from aiohttp import web

from ._answers import Answer
from ._faults import Fault, default_message, error_type
from ._state import EmulatorState
from ._wire import ApiError, ark_error_body, ohtwo_error_body

__all__ = ["StreamOptions", "chunk_payloads", "write_stream"]

_PIECE = re.compile(r"\s*\S+\s*")
_CONTINUATION = re.compile(rb"[\x80-\xbf]")
_KEEPALIVE_EVERY = 0.05
_EVENT_KINDS = frozenset({"stream_error_event", "stream_data_error"})
_CUT_KINDS = frozenset(
    {"drop_mid_stream", "stream_error_event", "stream_data_error", "stream_bare_error"}
)


@attrs.frozen
class StreamOptions:
    chunks: int | None
    delay: float
    eol: bytes
    keepalives: int
    split_writes: bool

    @classmethod
    def from_request(cls, headers: Mapping[str, str], state: EmulatorState) -> StreamOptions:
        """The state's defaults, overridden by the request's ``X-Emulator-*`` headers.

        Raises:
            ApiError: a header that does not parse.
        """
        chunks = state.chunks
        delay = state.chunk_delay
        ending = state.line_ending
        keepalives = state.keepalive_comments
        split = False
        if (value := headers.get("X-Emulator-Chunks")) is not None:
            chunks = _number(value, int, "X-Emulator-Chunks", minimum=1)
        if (value := headers.get("X-Emulator-Chunk-Delay")) is not None:
            delay = _number(value, float, "X-Emulator-Chunk-Delay", minimum=0)
        if (value := headers.get("X-Emulator-Line-Ending")) is not None:
            ending = value.strip().lower()
            if ending not in ("lf", "crlf"):
                raise ApiError(400, "InvalidParameter", "Use lf or crlf.", "X-Emulator-Line-Ending")
        if (value := headers.get("X-Emulator-Keepalive")) is not None:
            keepalives = _number(value, int, "X-Emulator-Keepalive", minimum=0)
        if (value := headers.get("X-Emulator-Split-Writes")) is not None:
            split = value.strip().lower() in ("1", "true", "yes", "on")
        eol = b"\r\n" if ending == "crlf" else b"\n"
        return cls(chunks, delay, eol, keepalives, split)


def _number(value: str, kind: type[int] | type[float], name: str, *, minimum: float) -> Any:
    try:
        number = kind(value.strip())
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ApiError(400, "InvalidParameter", f"{name} must be a number >= {minimum}.", name)
    return number


def _split_exactly(text: str, n: int) -> list[str]:
    return [text[len(text) * k // n : len(text) * (k + 1) // n] for k in range(n)]


def chunk_payloads(
    answer: Answer,
    *,
    request_id: str,
    created: int,
    model: str,
    include_usage: bool,
    chunks: int | None,
) -> tuple[list[bytes], int]:
    """The JSON of every chunk in order, and how many come before the finish chunk."""
    # The role comes alone first, as OpenAI-compatible servers send it.
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if answer.reasoning:
        deltas.extend({"reasoning_content": p} for p in _PIECE.findall(answer.reasoning))
    if answer.content:
        pieces = (
            _split_exactly(answer.content, chunks) if chunks else _PIECE.findall(answer.content)
        )
        deltas.extend({"content": p} for p in pieces)
    if answer.tool_call is not None:
        call = answer.tool_call
        args = _split_exactly(call.arguments, 3)
        deltas.append(
            {"tool_calls": [{"index": 0, "id": call.id, "type": "function",
                             "function": {"name": call.name, "arguments": args[0]}}]}
        )  # fmt: skip
        deltas.extend(
            {"tool_calls": [{"index": 0, "function": {"arguments": a}}]} for a in args[1:]
        )

    base = {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
    }
    dumps = orjson.dumps
    payloads = [
        dumps({**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}], "usage": None})
        for d in deltas
    ]
    before_finish = len(payloads)
    finish = {"index": 0, "delta": {}, "finish_reason": answer.finish_reason}
    payloads.append(dumps({**base, "choices": [finish], "usage": None}))
    if include_usage:
        payloads.append(dumps({**base, "choices": [], "usage": answer.usage}))
    return payloads, before_finish


def _thirds(data: bytes) -> list[bytes]:
    """Two or three pieces, cut inside multi-byte UTF-8 characters where there are any."""
    cuts: list[int] = []
    for target in (len(data) // 3, 2 * len(data) // 3):
        match = _CONTINUATION.search(data, target)
        cut = match.start() if match is not None else target
        if 0 < cut < len(data) and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


class _Writer:
    def __init__(self, response: web.StreamResponse, options: StreamOptions) -> None:
        self.response = response
        self.options = options
        self.keepalive = b": keep-alive" + options.eol + options.eol

    async def send(self, data: bytes) -> None:
        if self.options.keepalives:
            data = self.keepalive * self.options.keepalives + data
        if not self.options.split_writes:
            await self.response.write(data)
            return
        for piece in _thirds(data):
            await self.response.write(piece)
            await asyncio.sleep(0)

    async def event(self, payload: bytes, name: str | None = None) -> None:
        eol = self.options.eol
        head = b"event: " + name.encode() + eol if name else b""
        await self.send(head + b"data: " + payload + eol + eol)


def _drop(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


async def write_stream(
    request: web.Request,
    state: EmulatorState,
    payloads: list[bytes],
    before_finish: int,
    options: StreamOptions,
    fault: Fault | None,
    headers: Mapping[str, str],
) -> web.StreamResponse:
    """Send ``payloads`` as SSE, misbehaving as ``fault`` says."""
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.enable_chunked_encoding()
    await response.prepare(request)
    writer = _Writer(response, options)
    kind = fault.kind if fault is not None else None
    delay = fault.seconds if fault is not None and kind == "slow" else options.delay
    stop_at = len(payloads)
    if fault is not None and kind == "truncate":
        stop_at = min(fault.after, before_finish)  # never the finish chunk
    elif fault is not None and kind in _CUT_KINDS:
        stop_at = min(fault.after, len(payloads))

    for n, payload in enumerate(payloads[:stop_at]):
        if n and delay and not await state.pause(delay):
            _drop(request)
            return response
        await writer.event(payload)
        if (
            n == 0
            and kind == "keepalive_only"
            and fault is not None
            and not await _keepalives_only(writer, state, fault.seconds)
        ):
            _drop(request)
            return response

    if kind == "drop_mid_stream":
        _drop(request)
        return response
    if fault is not None and fault.code is not None and kind in _EVENT_KINDS:
        body = ark_error_body(
            _request_id(headers), fault.code, fault.message or default_message(fault.code),
            type=fault.type or error_type(fault.code),
        )  # fmt: skip
        await writer.event(orjson.dumps(body), "error" if kind == "stream_error_event" else None)
    elif fault is not None and kind == "stream_bare_error":
        body = ohtwo_error_body(fault.err_code or -10003, fault.message)
        await writer.send(orjson.dumps(body) + options.eol)
    elif kind != "truncate":
        if delay and not await state.pause(delay):
            _drop(request)
            return response
        await writer.send(b"data: [DONE]" + options.eol + options.eol)
    await response.write_eof()
    return response


async def _keepalives_only(writer: _Writer, state: EmulatorState, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    comment = writer.keepalive
    while (left := deadline - loop.time()) > 0:
        if not await state.pause(min(_KEEPALIVE_EVERY, left)):
            return False
        await writer.response.write(comment)
    return True


def _request_id(headers: Mapping[str, str]) -> str:
    return headers.get("x-request-id", "")
