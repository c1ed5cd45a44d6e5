"""AsyncStream: owns one streamed response, yields typed chunks, always closes.

Every exit path closes the response: the end of the body, an error, ``break``
(the iterator is an async generator, finalised as soon as the loop drops it),
cancellation, and leaving ``async with``. A finished body lets its connection
go back to the pool; anything else discards the connection.

The call is retried like any other until its first chunk reaches the user,
never after: once you have seen output, a retry could show you a different
answer.

The hot path (per chunk): the SSE decoder's fast path hands each plain
``data: ...`` frame's bytes straight to ``orjson``, and each event is typed only
when the user pulls it, so a 64 KiB read's ~450 chunks are never all alive at
once (typing a whole read first kept hundreds of objects alive and woke the
garbage collector hundreds of times per 100k chunks). The events of one read
wait as bytes, which the collector does not track.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

import orjson

from ._accumulate import StreamAccumulator
from ._answers import (
    as_chunk,
    error_from_payload,
    error_from_response,
    is_error_payload,
    loads_event,
)
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    DoubaoVisionError,
    StreamClosedError,
    StreamTruncatedError,
)
from ._headers import server_request_id
from ._http_info import NO_HEADERS, ResponseInfo
from ._models import ChatCompletion, ChatCompletionChunk
from ._serde import fast_chunk_parser, parse_chunk, parse_completion
from ._sse import ServerSentEvent, SSEDecoder, event_text
from ._transport import READ_SIZE, read_failure

if TYPE_CHECKING:
    from ._calls import Call
    from ._transport import StreamBody

__all__ = ["AsyncStream"]

# 302.AI sometimes writes an error as a bare JSON line with no "data:" prefix.
_BARE_JSON = "bare-json"
_loads = orjson.loads
# The idle timer's clock: one C call per read (the loop's own time() is a Python
# method around it); only differences are taken, so any monotonic clock will do.
_monotonic = time.monotonic
# The idle timer's callback reads no context variable: given this shared, empty
# context, the loop does not copy the task's for every open stream (~70 bytes).
_NO_CONTEXT = contextvars.Context()


_ChunkT = TypeVar("_ChunkT", bound=ChatCompletionChunk, covariant=True)


class AsyncStream(Generic[_ChunkT]):
    """A streamed chat completion. Use ``async with`` and ``async for``.

    Helpers: :meth:`text_deltas`, :meth:`reasoning_deltas`, and
    :meth:`final_completion` (after or instead of iterating).

    Raises (while iterating):
        APIStatusError: an HTTP error before the stream, or an error event in it
            (typed by its code: a rate-limit code is a ``RateLimitError`` even
            though the HTTP status was 200).
        StreamTruncatedError: the body ended without ``[DONE]`` or a finish_reason.
        APITimeoutError: no data event for ``timeout.read`` seconds (keep-alive
            comments do not count), or the total deadline passed.
        APIConnectionError: the transport failed mid-stream.
        StreamDecodeError: the body is not valid UTF-8 or a chunk is not JSON.
    """

    # Slots: a thousand open streams each hold one, for as long as they are open.
    __slots__ = (
        "__weakref__",
        "_accumulator",
        "_body",
        "_call",
        "_closed",
        "_decoder",
        "_done",
        "_error",
        "_events",
        "_first",
        "_idle_timer",
        "_idle_tripped",
        "_last_data",
        "_opened",
        "_parse_fast",
        "_prepare",
        "_response",
        "_secret",
        "_started",
        "_timeout",
        "_url",
        "client_request_id",
        "request_id",
    )

    def __init__(
        self,
        call: Call,
        url: str,
        body: Any,
        secret: str | None,
        prepare: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._prepare = prepare  # makes the body when the stream starts (resizing)
        self._call = call
        self._url = url
        self._body = body
        self._secret = secret
        self._timeout = call.timeout
        self.client_request_id = call.client_request_id
        self.request_id: str | None = None
        self._response: StreamBody | None = None
        self._started = False
        self._opened = False
        self._closed = False
        self._done = False
        self._decoder = SSEDecoder(bare_json_event=_BARE_JSON)
        # The first chunk, typed while opening (it decides whether to retry).
        self._first: ChatCompletionChunk | None = None
        # The rest of the last read, untyped: typed one at a time as the user pulls.
        self._events: list[bytes | ServerSentEvent] = []
        self._accumulator = StreamAccumulator()
        self._parse_fast = fast_chunk_parser()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        self._idle_tripped = False
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------

    async def __aenter__(self) -> AsyncStream[_ChunkT]:
        """Open the stream: retried like any call until its first chunk arrives.

        Opening is done here and in the attempt (:meth:`_open_once`), not in helpers
        they await: until its headers arrive, each stream holds its whole chain of
        coroutine frames, and with a thousand streams opening at once that peak
        stays in the process's memory (benchmarks/, the hold row).
        """
        if self._started:
            return self
        self._started = True
        call = self._call
        try:
            if self._prepare is not None:  # images resized off the loop, then the body
                self._body = await self._prepare()
            await call.enter()
            try:
                await call.run(self._open_once)
            finally:
                # No retry after this point, so the request body (images, maybe
                # megabytes of base64) and headers need not live as long as the stream.
                self._body = None
                call.headers = NO_HEADERS
        except BaseException as error:
            self._error = error  # what the call's observers are told it ended with
            await self.aclose()
            raise
        self._opened = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the response and free its pool slot. Safe to call more than once."""
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        response, self._response = self._response, None
        if response is not None:
            # Fully read: the connection goes back to the pool; mid-body it cannot be reused.
            response.close(reusable=self._done and response.at_eof())
        call = self._call
        if self._done:
            call.finish(self.completion, None)
        else:
            call.finish(None, self._error or self._closed_error())

    def __aiter__(self) -> AsyncIterator[_ChunkT]:
        # Generic so `AsyncStream[ChatCompletionChunk]` reads as it should; the
        # chunks are always ChatCompletionChunk.
        return cast("AsyncIterator[_ChunkT]", self._iterate())

    async def _iterate(self) -> AsyncIterator[ChatCompletionChunk]:
        try:
            if not self._started:
                await self.__aenter__()
            first, self._first = self._first, None
            if first is not None:
                yield first
            handle = self._handle
            while True:
                events, self._events = self._events, []
                # One event typed per chunk pulled. An error event raises here, after
                # the chunks before it reached the user; [DONE] ends the loop. Popped
                # from the end, so a frame is let go once typed: a stream waiting in
                # the user's loop holds its chunk, not the bytes it came from too.
                events.reverse()
                pop = events.pop
                while events:
                    if self._closed:  # aclose() inside the loop: type nothing more
                        raise self._closed_error()
                    chunk = handle(pop())
                    if chunk is None:
                        break
                    yield chunk
                if self._done:
                    await self._drain_after_done()
                    return
                response = self._response
                if self._closed or response is None:
                    raise self._closed_error()
                # _read_events inlined, aiohttp's read awaited directly: a server that
                # writes event by event makes this once per chunk, and each coroutine
                # level costs on every suspend and resume.
                try:
                    data = await response.read_raw(READ_SIZE) if not self._idle_tripped else b""
                except Exception as exc:
                    self._read_failed(exc)
                self._events = self._took(data)
        except DoubaoVisionError as error:
            self._error = error
            if self._opened:  # errors before the first chunk were counted by the call
                self._call.failed(error)
            raise
        finally:
            self._close()

    def _closed_error(self) -> StreamClosedError:
        return StreamClosedError(
            "the stream was closed before its end (a break out of the loop, or aclose()); "
            f"the {self._call.chunks} chunks read before that are in stream.completion"
        )

    # -- helpers ---------------------------------------------------------

    async def text_deltas(self) -> AsyncIterator[str]:
        """The content text, piece by piece."""
        async for chunk in self:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    yield choice.delta.content

    async def reasoning_deltas(self) -> AsyncIterator[str]:
        """The reasoning_content text, piece by piece."""
        async for chunk in self:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.reasoning_content:
                    yield choice.delta.reasoning_content

    async def final_completion(self) -> ChatCompletion:
        """Read what is left and return the whole completion (content, reasoning,
        tool calls merged by index, finish_reason, usage)."""
        if not self._done:
            async for _ in self:
                pass
        return self.completion

    @property
    def completion(self) -> ChatCompletion:
        """The completion accumulated from the chunks seen so far."""
        completion = self._accumulator.build(
            request_id=self.request_id, client_request_id=self.client_request_id
        )
        object.__setattr__(completion, "http", self.http)
        return completion

    @property
    def http(self) -> ResponseInfo:
        """The exchange so far: status, headers, attempts, time to first chunk, chunks
        (``elapsed`` once the stream is closed)."""
        return self._call.response_info()

    # -- opening, with retries until the first chunk ---------------------

    async def _open_once(self) -> None:
        """One attempt: open, and read until the first chunk (or the end)."""
        call = self._call
        timeout = self._timeout
        try:
            response = await call.transport.open_stream(
                self._url,
                body=self._body,
                headers=call.headers,
                timeout=timeout,
                client_request_id=self.client_request_id,
            )
            self._response = response
            self.request_id = server_request_id(response.headers)
            call.answered(response.status, response.headers)
            if response.status >= 300:
                raw = await response.read()
                raise error_from_response(
                    response.status,
                    response.headers,
                    raw,
                    client_request_id=self.client_request_id,
                    secret=self._secret,
                )
            if response.content_type == "application/json":
                self._first = await self._read_json_answer(response)
            elif timeout.read is not None:
                self._last_data = _monotonic()
                self._idle_timer = asyncio.get_running_loop().call_later(
                    timeout.read, self._check_idle, context=_NO_CONTEXT
                )
                # Ours is stricter (data events, not bytes) and armed once, not per read.
                response.stop_read_timer()
            while self._first is None and not self._done:
                await self._read_events()
                events = self._events
                for k, event in enumerate(events):
                    chunk = self._handle(event)
                    if chunk is not None:
                        self._first = chunk
                        del events[: k + 1]
                        break
                    events.clear()  # [DONE]: what follows it is not read
                    await self._drain_after_done()
                    break
                else:
                    events.clear()
        except DoubaoVisionError:
            opened, self._response = self._response, None
            if opened is not None:
                opened.close(reusable=False)
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            self._decoder = SSEDecoder(bare_json_event=_BARE_JSON)
            self._accumulator = StreamAccumulator()
            self._first = None
            self._events = []
            self._done = False
            self._idle_tripped = False
            raise

    async def _read_json_answer(self, response: StreamBody) -> ChatCompletionChunk:
        """A ``stream=True`` call answered with plain JSON: an error or a whole completion."""
        data = loads_event(await response.read())
        if is_error_payload(data):  # the same 200-with-an-error-body rule as read_completion
            raise error_from_payload(
                data,
                status=response.status,
                headers=response.headers,
                client_request_id=self.client_request_id,
                secret=self._secret,
            )
        self._done = True
        chunk = as_chunk(parse_completion(data))
        self._add(chunk)
        return chunk

    # -- reading ---------------------------------------------------------

    def _check_idle(self) -> None:
        """Timer callback: trip if no data event arrived for ``timeout.read`` seconds."""
        read = self._timeout.read
        response = self._response
        if read is None or response is None:
            return
        idle = _monotonic() - self._last_data
        if idle < read:
            self._idle_timer = asyncio.get_running_loop().call_later(
                read - idle, self._check_idle, context=_NO_CONTEXT
            )
            return
        self._idle_tripped = True
        response.close(reusable=False)  # wakes the pending read

    async def _read_events(self) -> None:
        """Read until the decoder gives at least one event (``self._events``), or the end.

        Raises:
            StreamTruncatedError: the body ended without ``[DONE]`` or a finish_reason.
        """
        while not self._events and not self._done:
            response = self._response
            if response is None:
                raise self._closed_error()
            try:
                data = await response.read_raw(READ_SIZE) if not self._idle_tripped else b""
            except Exception as exc:
                self._read_failed(exc)
            self._events = self._took(data)

    def _took(self, data: bytes) -> list[bytes | ServerSentEvent]:
        """The events one read brought (maybe none; none at a finished end).

        Raises:
            APITimeoutError: the idle timer tripped (it closes the response).
            StreamTruncatedError: the body ended without ``[DONE]`` or a finish_reason.
        """
        if self._idle_tripped:
            self._raise_if_idle()
        if not data:
            self._decoder.flush()  # the spec drops an unterminated block: nothing to type
            if self._accumulator.finished:
                self._done = True  # some gateways end without [DONE] after finish_reason
                return []
            raise StreamTruncatedError(
                "the stream ended without [DONE] or a finish_reason after "
                f"{self._call.chunks} chunks: the answer is incomplete",
                client_request_id=self.client_request_id,
            )
        events = self._decoder.feed_frames(data)
        if events:
            self._last_data = _monotonic()
        return events

    def _read_failed(self, exc: Exception) -> NoReturn:
        """Raise our error for a failed read (called in the ``except`` around it)."""
        error = read_failure(exc, self.client_request_id)
        if error is None:
            raise exc
        try:
            raise error from exc
        except APIConnectionError as mapped:
            self._raise_if_idle()
            if self._closed:
                raise self._closed_error() from None
            if self._call.chunks and not isinstance(mapped, APITimeoutError):
                mapped.args = (f"{mapped.args[0]} (after {self._call.chunks} chunks)",)
            raise

    def _raise_if_idle(self) -> None:
        if self._idle_tripped:
            raise APITimeoutError(
                f"no data for {self._timeout.read}s (keep-alive comments do not count); "
                "raise Timeout(read=...) if the model thinks longer",
                client_request_id=self.client_request_id,
            )

    def _handle(self, event: bytes | ServerSentEvent) -> ChatCompletionChunk | None:
        """Type one event: a chunk, None for ``[DONE]`` (and the stream is done), or raise."""
        if type(event) is bytes:
            # A plain ``data:`` frame's payload, straight from the decoder's fast path;
            # it means exactly ServerSentEvent(None, event_text(event), ...), so the
            # general branch below is what it must agree with (tests/test_perf_paths.py).
            try:
                payload = _loads(event)
            except orjson.JSONDecodeError:
                # [DONE] is not JSON, so it is looked for only here (once per stream),
                # not sliced off every chunk first.
                if event[:6] == b"[DONE]":
                    event_text(event)  # the UTF-8 check the spec decoder would have made
                    self._done = True
                    return None
                payload = loads_event(event_text(event))  # the general path's error
            if type(payload) is dict and "error" in payload:
                raise self._stream_error(payload)
        else:
            assert isinstance(event, ServerSentEvent)
            data = event.data
            if data.startswith("[DONE]"):
                self._done = True
                return None
            payload = loads_event(data)
            if event.event in ("error", _BARE_JSON) or (
                isinstance(payload, dict) and "error" in payload
            ):
                raise self._stream_error(payload)
        try:
            chunk = self._parse_fast(payload)
        except Exception:
            # The generated fast path declines: parse_chunk decides, and explains. The
            # fast path may have changed `payload` (it keeps it), so parse the JSON again.
            again = _loads(event) if isinstance(event, bytes) else loads_event(event.data)
            chunk = parse_chunk(again)
        self._add(chunk)
        return chunk

    def _stream_error(self, payload: Any) -> DoubaoVisionError:
        return error_from_payload(
            payload,
            status=200,
            headers=self._response.headers if self._response is not None else None,
            client_request_id=self.client_request_id,
            secret=self._secret,
        )

    def _add(self, chunk: ChatCompletionChunk) -> None:
        call = self._call
        if not call.chunks:
            call.first_chunk_at = time.perf_counter()
        call.chunks += 1
        self._accumulator.add(chunk)
        if chunk.usage is not None:
            call.usage.add_completion(chunk.usage)

    async def _drain_after_done(self) -> None:
        """Read the chunked terminator that follows [DONE], so the connection can be
        reused; the idle timer still guards this read."""
        response = self._response
        if response is None:
            return
        try:
            while not response.at_eof() and not self._idle_tripped:
                if not await response.read_some():
                    break
        except DoubaoVisionError:
            pass  # the answer is complete; this connection is just not reusable
