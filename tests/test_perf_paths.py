"""The stream's hand-written fast paths agree with the general ones they stand in for."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision._exceptions import DoubaoVisionError, StreamDecodeError
from doubao_vision._serde import parse_chunk
from doubao_vision._sse import ServerSentEvent, SSEDecoder, event_text

MODEL = dv.MODEL_VISION_PRO

# -- SSE: feed_frames against feed ------------------------------------------------

# Pieces of an event stream: mostly the plain frames the fast path takes, mixed with
# everything that must go through the spec decoder (CR, CRLF, comments, event/id/
# retry fields, multi-line data, blank lines, a BOM, bare JSON, invalid UTF-8).
_fast_frame = st.builds(
    lambda text: b"data: " + text.encode() + b"\n\n",
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12),
)
_pieces = st.one_of(
    _fast_frame,
    _fast_frame,
    st.sampled_from(
        [
            b"data: [DONE]\n\n",
            b"data:{}\n\n",
            b"data: a\ndata: b\n\n",
            b"data: x\r\n\r\n",
            b"data: y\r\rdata: z\n\r",
            b": keep-alive\n\n",
            b'event: error\ndata: {"error":1}\n\n',
            b"id: 7\n\n",
            b"id: 8\ndata: q\n\n",
            b"retry: 10\ndata: r\n\n",
            b"\n",
            b"\n\n",
            b"data: \n\n",
            b"data: \xff\xfe\n\n",
            b": \xc3\n\n",
            b"\xef\xbb\xbf",
            b'{"error": {"code": "x"}}\n',
            b"data: \xe6\xb5\xb7\xe8\xbe\xb9\n\n",
            b"data: partial",
        ]
    ),
)


def _cut(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(body)) for c in cuts})
    return [body[a:b] for a, b in itertools.pairwise([0, *points, len(body)])]


def _spec(pieces: list[bytes], bare: str | None) -> tuple[list[Any], bool, list[Any]]:
    """Events (without ids), whether it raised, and last_event_id after each feed."""
    decoder = SSEDecoder(bare_json_event=bare)
    events: list[Any] = []
    ids: list[Any] = []
    try:
        for piece in pieces:
            events += [(e.event, e.data, e.retry, e.id) for e in decoder.feed(piece)]
            ids.append(decoder.last_event_id)
    except StreamDecodeError:
        return events, True, ids
    return events, False, ids


def _fast(pieces: list[bytes], bare: str | None) -> tuple[list[Any], bool, list[Any]]:
    decoder = SSEDecoder(bare_json_event=bare)
    events: list[Any] = []
    ids: list[Any] = []
    try:
        for piece in pieces:
            for item in decoder.feed_frames(piece):
                if isinstance(item, bytes):
                    # A fast frame is ServerSentEvent(None, text, <current id>, None); it
                    # never changes the id, so the id checks below are the slow events'.
                    events.append((None, event_text(item), None, decoder.last_event_id))
                else:
                    assert isinstance(item, ServerSentEvent)
                    events.append((item.event, item.data, item.retry, item.id))
            ids.append(decoder.last_event_id)
    except StreamDecodeError:
        return events, True, ids
    return events, False, ids


def _assert_same_events(pieces: list[bytes], bare: str | None) -> None:
    spec, spec_failed, spec_ids = _spec(pieces, bare)
    fast, fast_failed, fast_ids = _fast(pieces, bare)
    assert spec_failed == fast_failed
    # Ids: slow events carry theirs; a fast frame's is the one current when it was cut,
    # which last_event_id after every feed pins down.
    if not spec_failed:
        assert [e[:3] for e in fast] == [e[:3] for e in spec]
        assert [e[3] for e in fast] == [e[3] for e in spec] or fast_ids == spec_ids
        assert fast_ids == spec_ids
    else:
        # feed drops a whole piece at its first bad line; feed_frames may first hand
        # over the good frames before it in that piece. Nothing else differs.
        assert [e[:3] for e in fast[: len(spec)]] == [e[:3] for e in spec]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_pieces, max_size=14),
    st.lists(st.integers(0, 400), max_size=6),
    st.sampled_from([None, "bare-json"]),
)
def test_feed_frames_equals_spec_decoder(parts: list[bytes], cuts: list[int], bare: Any) -> None:
    """feed_frames gives feed's events on any stream and chunking (invalid UTF-8: both raise)."""
    _assert_same_events(_cut(b"".join(parts), cuts), bare)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=20), st.sampled_from([None, "bare-json"]))
def test_feed_frames_one_piece_per_read_equals_spec_decoder(parts: list[bytes], bare: Any) -> None:
    """Each piece as a read of its own (a server writing event by event, the one-frame path) gives feed's events."""
    _assert_same_events(parts, bare)


def test_feed_frames_completes_a_block_left_open_by_feed() -> None:
    """A whole frame after feed() left a block open joins that block; it is not taken as a frame alone."""
    decoder = SSEDecoder()
    assert decoder.feed_frames(b"data: 0\n\n") == [ServerSentEvent(None, "0", None, None)]
    assert decoder.feed_frames(b"data: 1\n\n") == [b"1"]  # one frame per read: the fast path
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed_frames(b"data: b\n\n") == [ServerSentEvent(None, "a\nb", None, None)]
    assert decoder.feed_frames(b"data: 2\n\n") == [b"2"]


def test_feed_frames_ids_of_fast_frames() -> None:
    """A fast frame stands for an event with the id current when it was cut."""
    decoder = SSEDecoder()
    items = decoder.feed_frames(b"id: 5\n\ndata: a\n\nid: 6\ndata: b\n\ndata: c\n\n")
    assert items[0] == b"a" and items[2] == b"c"
    assert items[1] == ServerSentEvent(None, "b", "6", None)
    assert decoder.last_event_id == "6"


def test_feed_frames_takes_the_common_shape_fast() -> None:
    """Plain data frames come out as payload bytes; a frame cut by a feed still arrives."""
    decoder = SSEDecoder()
    # The very first frame goes the spec way: the BOM check is still due.
    assert decoder.feed_frames(b"data: 0\n\ndata: {}\n\ndata: [DONE]\n\n") == [
        ServerSentEvent(None, "0", None, None),
        b"{}",
        b"[DONE]",
    ]
    assert decoder.feed_frames(b'data: {"a"') == []
    assert decoder.feed_frames(b": 1}\n\ndata: 2\n\n") == [
        ServerSentEvent(None, '{"a": 1}', None, None),
        b"2",
    ]


def test_event_text_raises_the_decoders_error() -> None:
    """event_text on invalid UTF-8 raises the StreamDecodeError feed raises for the line."""
    with pytest.raises(StreamDecodeError) as fast:
        event_text(b"\xff")
    with pytest.raises(StreamDecodeError) as spec:
        SSEDecoder().feed(b"data: \xff\n\n")
    assert str(fast.value) == str(spec.value)


# -- AsyncStream._handle: the bytes branch against the ServerSentEvent branch -----

_payloads = st.one_of(
    st.sampled_from(
        [
            b"[DONE]",
            b"[DONE] and more",
            b"",
            b"not json",
            b"\xff\xfe",
            b"[DONE]\xff",
            b'{"error": {"code": "RateLimitExceeded.EndpointRPMExceeded", "message": "slow"}}',
            b'{"error": "flat"}',
            b'{"choices": [], "error": null}',
            b"[1, 2]",
            b"null",
            b'{"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}], "created": 1,'
            b' "model": "m", "object": "chat.completion.chunk", "usage": null, "new": 1}',
            b'{"id": "c", "choices": [{"index": "zero", "delta": {}}], "model": "m"}',
            # Every field sent, the choice typed (in place) before "model" fails: the
            # fast path declines after changing the JSON, so it must be parsed again.
            b'{"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}], "created": 1,'
            b' "model": 7, "object": "chat.completion.chunk", "service_tier": null, "usage": null}',
            b'{"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}, {"index": "x"}],'
            b' "model": "m"}',
        ]
    ),
    st.builds(
        lambda content, role, finish: orjson.dumps(
            {
                "id": "x",
                "choices": [{"index": 0, "delta": {"content": content, "role": role}, **finish}],
                "model": "m",
                "created": 3,
            }
        ),
        st.one_of(st.none(), st.text(max_size=5), st.integers(-(2**40), 2**40)),
        st.sampled_from([None, "assistant", 1]),
        st.sampled_from([{}, {"finish_reason": "stop"}, {"finish_reason": 2}]),
    ),
)


def _outcome(stream: Any, event: Any) -> Any:
    try:
        chunk = stream._handle(event)
    except DoubaoVisionError as error:
        return ("error", type(error), str(error))
    return ("ok", chunk, stream._done)


@settings(max_examples=300, deadline=None)
@given(_payloads)
def test_handle_fast_frame_equals_event_branch(payload: bytes) -> None:
    """A fast frame's bytes type exactly as the ServerSentEvent they stand for."""

    async def both() -> tuple[Any, Any]:
        async with AsyncClient("sk-test", base_url="http://127.0.0.1:9/v1") as client:
            # Never started: no request is sent; _handle is pure apart from counters.
            fast_stream = client.stream(MODEL, [dv.user("x")])
            slow_stream = client.stream(MODEL, [dv.user("x")])
            fast = _outcome(fast_stream, payload)
            try:
                text = event_text(payload)
            except StreamDecodeError as error:  # the spec decoder raises it while framing
                slow = ("error", type(error), str(error))
            else:
                slow = _outcome(slow_stream, ServerSentEvent(None, text, None, None))
            await fast_stream.aclose()
            await slow_stream.aclose()
            return fast, slow

    fast, slow = asyncio.run(both())
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(_payloads)
def test_handle_types_as_parse_chunk(payload: bytes) -> None:
    """The stream's typing (owned fast path, which changes the JSON it keeps) gives what
    parse_chunk gives for the same JSON: the same chunk, or the same error."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return  # not a chunk: the decoder's errors are compared above
    if not isinstance(data, dict) or "error" in data:
        return  # error events: compared above
    try:
        expected: Any = ("ok", parse_chunk(data))
    except DoubaoVisionError as error:
        expected = ("error", type(error), str(error))

    async def typed() -> Any:
        async with AsyncClient("sk-test", base_url="http://127.0.0.1:9/v1") as client:
            stream = client.stream(MODEL, [dv.user("x")])
            got = _outcome(stream, payload)
            await stream.aclose()
            return got

    got = asyncio.run(typed())
    assert (got[:2] if got[0] == "ok" else got) == expected


# -- typing one event at a time -----------------------------------------------------


async def test_chunks_are_typed_as_pulled(client: AsyncClient) -> None:
    """Events already read wait untyped: the completion holds only the chunks pulled."""
    async with client.stream(
        MODEL, [dv.user("one at a time")], extra_headers={"X-Emulator-Chunks": "40"}
    ) as stream:
        iterator = aiter(stream)
        pulled = [await anext(iterator)]
        await asyncio.sleep(0.2)  # let the rest of the body arrive, so one read holds it
        pulled.append(await anext(iterator))
        assert stream.http.chunks == 2
        text = "".join(c.choices[0].delta.content or "" for c in pulled if c.choices)
        assert stream.completion.text == text
        rest = [chunk async for chunk in iterator]
    whole = "".join(c.choices[0].delta.content or "" for c in [*pulled, *rest] if c.choices)
    assert stream.completion.text == whole and stream.completion.finish_reason == "stop"


def test_feed_frames_reads_of_many_whole_frames_equal_spec_decoder() -> None:
    """A server writing faster than we read: 64 KiB reads of hundreds of chunk frames (split at once) give feed's events."""
    frames = [
        b'data: {"choices":[{"delta":{"content":"w%d"},"index":0}],"id":"x"}\n\n' % i
        for i in range(2_000)
    ]
    frames[700] = b"data: line one\ndata: line two\n\n"  # one multi-line event among them
    frames[1_400] = b": keep-alive\n\n"
    body = b"".join(frames)
    for size in (1 << 16, 4_096, 333):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        _assert_same_events(pieces, None)
