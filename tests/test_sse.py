"""The SSE decoder against the WHATWG event-stream rules, chunking and our extension."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doubao_vision._exceptions import StreamDecodeError
from doubao_vision._sse import ServerSentEvent, SSEDecoder

E = ServerSentEvent


def decode(chunks: Iterable[bytes], **kwargs: str | None) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kwargs)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.flush()
    return events


def ev(data: str, event: str | None = None, id: str | None = None, retry: int | None = None) -> E:
    return E(event=event, data=data, id=id, retry=retry)


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(cuts), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points)]


# -- the spec's own examples ---------------------------------------------------------


def test_spec_stock_example_joins_data_lines() -> None:
    """The spec's YHOO / +2 / 10 block is one event with data joined by LF."""
    body = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert decode([body]) == [ev("YHOO\n+2\n10")]


def test_spec_comment_and_id_example() -> None:
    """The spec's 'test stream' example: comment only fires nothing, ids set and reset."""
    body = (
        b": test stream\n\n"
        b"data: first event\nid: 1\n\n"
        b"data:second event\nid\n\n"
        b"data:  third event\n\n"
    )
    assert decode([body]) == [
        ev("first event", id="1"),
        ev("second event", id=""),
        ev(" third event", id=""),
    ]


def test_spec_empty_data_example() -> None:
    """The spec's 'data / data data / data:' example: '', '\\n', last block discarded."""
    body = b"data\n\ndata\ndata\n\ndata:"
    assert decode([body]) == [ev(""), ev("\n")]


def test_spec_space_after_colon_is_optional() -> None:
    """The spec's 'data:test' and 'data: test' blocks fire two identical events."""
    assert decode([b"data:test\n\ndata: test\n\n"]) == [ev("test"), ev("test")]


# -- fields ----------------------------------------------------------------------------


def test_only_one_leading_space_is_removed() -> None:
    """Only the first space after the colon is dropped; later ones are data."""
    assert decode([b"data:   x \n\n"]) == [ev("  x ")]


def test_value_keeps_later_colons() -> None:
    """The field name ends at the first colon; later colons are part of the value."""
    assert decode([b"data: a:b: c\n\n"]) == [ev("a:b: c")]


def test_done_without_space() -> None:
    """`data:[DONE]` without a space yields data '[DONE]'."""
    assert decode([b"data:[DONE]\n\n"]) == [ev("[DONE]")]


def test_comments_are_ignored() -> None:
    """Lines starting with ':' (also a bare ':') are comments inside and between blocks."""
    body = b":\n: ping\ndata: a\n:: still a comment\ndata: b\n\n"
    assert decode([body]) == [ev("a\nb")]


def test_field_without_colon_has_empty_value() -> None:
    """A line without a colon is a field named by the whole line, with an empty value."""
    assert decode([b"data\n\n"]) == [ev("")]
    assert decode([b"event\ndata: x\n\n"]) == [ev("x")]


def test_unknown_fields_are_ignored() -> None:
    """Unknown field names, including near misses and `{...}` lines, are ignored."""
    body = b'foo: bar\nData: no\ndata : no\n{"error": 1}\ndata: yes\n\n'
    assert decode([body]) == [ev("yes")]


def test_event_type_set_and_reset() -> None:
    """`event` sets the type for its block only."""
    body = b"event: add\ndata: 1\n\ndata: 2\n\n"
    assert decode([body]) == [ev("1", event="add"), ev("2")]


def test_empty_event_type_is_none() -> None:
    """An empty `event:` dispatches as type None."""
    assert decode([b"event:\ndata: x\n\n"]) == [ev("x")]


def test_last_event_type_wins() -> None:
    """A later `event` line in the same block replaces an earlier one."""
    assert decode([b"event: a\nevent: b\ndata: x\n\n"]) == [ev("x", event="b")]


def test_block_without_data_is_not_dispatched_but_resets() -> None:
    """A block without data fires nothing and resets its event type and retry."""
    body = b"event: lost\nretry: 5\n\ndata: x\n\n"
    assert decode([body]) == [ev("x")]


def test_id_persists_until_changed() -> None:
    """The last event id carries over to later events until an `id` changes it."""
    body = b"id: 7\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n"
    assert decode([body]) == [ev("a", id="7"), ev("b", id="7"), ev("c", id="8")]


def test_id_is_none_until_set() -> None:
    """Events before any `id` field carry id None."""
    assert decode([b"data: a\n\n"]) == [ev("a")]


def test_id_from_block_without_data_persists() -> None:
    """An id set in a block that fires nothing still applies to later events."""
    assert decode([b"id: 3\n\ndata: a\n\n"]) == [ev("a", id="3")]


def test_empty_id_resets_to_empty_string() -> None:
    """`id:` with an empty value resets the last event id to ''."""
    assert decode([b"id: 1\ndata: a\n\nid:\ndata: b\n\n"]) == [ev("a", id="1"), ev("b", id="")]


def test_id_with_nul_is_ignored() -> None:
    """An `id` whose value contains NUL is ignored; the previous id stays."""
    body = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert decode([body]) == [ev("a", id="1"), ev("b", id="1")]


def test_last_event_id_property() -> None:
    """`last_event_id` exposes the id to resume from, and survives flush."""
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    decoder.feed(b"id: 42\ndata: a\n\n")
    decoder.flush()
    assert decoder.last_event_id == "42"
    assert decoder.feed(b"data: b\n\n") == [ev("b", id="42")]


def test_retry_valid_only_on_its_event() -> None:
    """A digits-only `retry` is reported on its own event and not on later ones."""
    assert decode([b"retry: 3000\ndata: a\n\ndata: b\n\n"]) == [ev("a", retry=3000), ev("b")]


@pytest.mark.parametrize(
    "value", [b"", b"3s", b"-1", b"+1", b"1.5", b" 1", b"1 ", b"\xef\xbc\x93", b"0x10"]
)
def test_retry_invalid_is_ignored(value: bytes) -> None:
    """A `retry` that is empty or not all ASCII digits is ignored."""
    assert decode([b"retry: " + value + b"\ndata: a\n\n"]) == [ev("a")]


def test_retry_invalid_keeps_earlier_valid() -> None:
    """An invalid `retry` after a valid one in the same block leaves the valid one."""
    assert decode([b"retry: 10\nretry: x\ndata: a\n\n"]) == [ev("a", retry=10)]


def test_retry_zero_and_leading_zeros() -> None:
    """`retry: 0` and `retry: 007` are valid base-ten integers."""
    assert decode([b"retry: 0\ndata: a\n\nretry: 007\ndata: b\n\n"]) == [
        ev("a", retry=0),
        ev("b", retry=7),
    ]


# -- line endings ----------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending(eol: bytes) -> None:
    """LF, CR and CRLF each end lines."""
    body = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert decode([body]) == [ev("a\nb", event="e"), ev("c")]


def test_mixed_line_endings() -> None:
    """LF, CR and CRLF mixed in one stream."""
    body = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r"
    assert decode([body]) == [ev("a\nb\nc"), ev("d")]


@pytest.mark.parametrize("body", [b"data: a\r\ndata: b\r\n\r\n", b"data: a\r\n\r\ndata: b\r\n\r\n"])
def test_crlf_split_across_feeds_counts_once(body: bytes) -> None:
    """A CRLF split between two feeds, at every place in the body, is one line end."""
    whole = decode([body])
    for cut in range(len(body) + 1):
        assert decode([body[:cut], body[cut:]]) == whole, cut


def test_crlf_split_is_not_a_blank_line() -> None:
    """`a\\r` | `\\nb` keeps a and b in one event rather than dispatching a."""
    assert decode([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [ev("a\nb")]


def test_pending_lf_skip_survives_empty_feed() -> None:
    """An empty feed between CR and LF does not turn the LF into a blank line."""
    assert decode([b"data: a\r", b"", b"\ndata: b\n\n"]) == [ev("a\nb")]


def test_cr_then_other_byte_in_next_feed() -> None:
    """After a CR ending a feed, the next feed's first byte is kept when it is not LF."""
    assert decode([b"data: a\r", b"data: b\r\r"]) == [ev("a\nb")]


def test_earlier_cr_in_feed_does_not_skip_next_lf() -> None:
    """A feed ending in LF, with a CR earlier in it, leaves the next feed's LF a line end."""
    assert decode([b"data: a\rdata: b\n", b"\ndata: c\n\n"]) == [ev("a\nb"), ev("c")]


def test_final_cr_dispatches_without_waiting() -> None:
    """A blank line ended by a CR at the end of a feed dispatches in that feed."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [ev("a")]
    assert decoder.feed(b"\n") == []  # the LF completes the CRLF, not a new line
    assert decoder.flush() == []


def test_final_cr_at_end_of_body_ends_line() -> None:
    """A body ending in CR completes its last line and blank line."""
    assert decode([b"data: a\n\r"]) == [ev("a")]


# -- end of body -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"data: a", b"data: a\n", b"data: a\r\ndata: b\r\n"])
def test_unterminated_block_at_eof_is_not_dispatched(body: bytes) -> None:
    """A block the body ends inside of is discarded, terminated line or not."""
    assert decode([body]) == []


def test_earlier_events_survive_unterminated_tail() -> None:
    """Complete events before an unterminated tail are still delivered."""
    assert decode([b"data: a\n\ndata: b\n"]) == [ev("a")]


def test_flush_discards_pending_and_allows_reuse() -> None:
    """flush drops a half block; the decoder then reads a new body from its start."""
    decoder = SSEDecoder()
    assert decoder.feed(b"event: x\nretry: 5\ndata: lost\n") == []
    assert decoder.flush() == []
    assert decoder.feed(b"\xef\xbb\xbfdata: new\n\n") == [ev("new")]


# -- BOM -------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_bom_is_stripped_at_start() -> None:
    """A UTF-8 BOM at the very start is dropped and the first event survives."""
    assert decode([BOM + b"data: a\n\n"]) == [ev("a")]


def test_second_bom_is_data() -> None:
    """Only one BOM is stripped: a second one is kept as part of the data."""
    assert decode([BOM + b"data: " + BOM + b"x\n\n"]) == [ev("\ufeffx")]


def test_double_bom_at_start_is_not_stripped_twice() -> None:
    """Two BOMs at the start: the second makes the first line an unknown field."""
    assert decode([BOM + BOM + b"data: a\n\ndata: b\n\n"]) == [ev("b")]


def test_bom_later_in_stream_is_kept() -> None:
    """A BOM that is not at the very start is data, not stripped."""
    assert decode([b"data: a\n\n", BOM + b"data: b\n\n"]) == [ev("a")]


@pytest.mark.parametrize("pieces", [[1], [2], [1, 2], [3], [2, 4], [1, 2, 3, 4]])
def test_bom_split_across_feeds(pieces: list[int]) -> None:
    """A BOM split across the first feeds is still stripped once."""
    body = BOM + b"data: a\n\n"
    assert decode(split_at(body, pieces)) == [ev("a")]


def test_bom_split_then_second_bom_kept() -> None:
    """After a split BOM is stripped, a BOM in the data is kept."""
    assert decode([b"\xef", b"\xbb", b"\xbf", b"data: " + BOM, b"\n\n"]) == [ev("\ufeff")]


def test_short_first_feeds_that_are_not_a_bom() -> None:
    """First feeds shorter than a BOM that cannot start one are decoded normally."""
    assert decode([b"d", b"a", b"ta: a\n\n"]) == [ev("a")]
    assert decode([b"\n", b"data: a\n\n"]) == [ev("a")]


def test_broken_bom_prefix_is_invalid_utf8() -> None:
    """A partial BOM followed by other bytes is not stripped; it is invalid UTF-8."""
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    with pytest.raises(StreamDecodeError):
        decoder.feed(b"data: a\n\n")


# -- Unicode ---------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_unicode_line_breaks_do_not_split_lines(char: str) -> None:
    """U+2028, U+0085 and other str.splitlines breaks stay inside the data."""
    payload = json.dumps({"content": f"a{char}b"}, ensure_ascii=False)
    body = f"data: {payload}\n\n".encode()
    (event,) = decode([body])
    assert event.data == payload
    assert json.loads(event.data)["content"] == f"a{char}b"


def test_multibyte_split_at_every_offset() -> None:
    """Multi-byte UTF-8 characters split at any byte between two feeds decode correctly."""
    text = "héllo € 𝄞 世界 \u2028 ok"
    body = f"id: ü\ndata: {text}\n\n".encode()
    expected = [ev(text, id="ü")]
    for cut in range(len(body) + 1):
        assert decode([body[:cut], body[cut:]]) == expected, cut


def test_multibyte_fed_one_byte_at_a_time() -> None:
    """Feeding one byte at a time decodes multi-byte characters."""
    body = "data: 𝄞é世\n\n".encode()
    assert decode([body[i : i + 1] for i in range(len(body))]) == [ev("𝄞é世")]


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xe2\x82", b"\xf0\x9d\x84"])
def test_invalid_utf8_raises_stream_decode_error(bad: bytes) -> None:
    """Invalid UTF-8 in a complete line raises StreamDecodeError chained to the cause."""
    decoder = SSEDecoder()
    with pytest.raises(StreamDecodeError) as info:
        decoder.feed(b"data: " + bad + b"\n\n")
    assert not isinstance(info.value, UnicodeDecodeError)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_invalid_utf8_in_line_split_across_feeds() -> None:
    """Invalid UTF-8 is found once the line completes, whatever the feeds."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: \xe2\x82") == []
    with pytest.raises(StreamDecodeError):
        decoder.feed(b"x\n\n")


def test_invalid_utf8_in_comment_raises() -> None:
    """Every complete line must be UTF-8, comments included."""
    with pytest.raises(StreamDecodeError):
        SSEDecoder().feed(b": \xff\n")


def test_invalid_utf8_in_discarded_tail_is_not_an_error() -> None:
    """Bytes of an unterminated last line are discarded at EOF without decoding."""
    assert decode([b"data: a\n\ndata: \xff"]) == [ev("a")]


# -- bare JSON lines (302.AI extension) ------------------------------------------------

ERROR_LINE = b'{"error":{"message":"busy","err_code":-10008}}'


def test_bare_json_off_is_ignored() -> None:
    """By default a bare `{...}` line is an unknown field and ignored (spec)."""
    assert decode([ERROR_LINE + b"\n\n"]) == []


def test_bare_json_on_dispatches_at_once() -> None:
    """With bare_json_event a `{...}` line is its own event at once, with the current id."""
    decoder = SSEDecoder(bare_json_event="error")
    got = decoder.feed(b"id: 9\ndata: a\n" + ERROR_LINE + b"\r\n")
    assert got == [E(event="error", data=ERROR_LINE.decode(), id="9", retry=None)]


def test_bare_json_does_not_disturb_data_buffer() -> None:
    """A bare JSON line in the middle of a block leaves that block's data intact."""
    body = b"event: t\nretry: 5\ndata: a\n" + ERROR_LINE + b"\ndata: b\n\n"
    assert decode([body], bare_json_event="error") == [
        E(event="error", data=ERROR_LINE.decode(), id=None, retry=None),
        ev("a\nb", event="t", retry=5),
    ]


def test_bare_json_only_when_first_byte_is_brace() -> None:
    """Only a line whose first byte is `{` counts; ` {` or `x{` stay unknown fields."""
    body = b' {"a":1}\nx{"a":1}\n[1]\n'
    assert decode([body], bare_json_event="error") == []


def test_bare_json_unterminated_at_eof_is_dropped() -> None:
    """A bare JSON line without a line end at EOF is incomplete and dropped."""
    assert decode([ERROR_LINE], bare_json_event="error") == []


# -- scale -----------------------------------------------------------------------------


def test_keepalive_comments_do_not_accumulate() -> None:
    """10,000 keep-alive comments leave the internal buffers small."""
    decoder = SSEDecoder()
    body = b": keep-alive\n" * 10_000
    for i in range(0, len(body), 4096):
        assert decoder.feed(body[i : i + 4096]) == []
        assert len(decoder._buffer) < 16
        assert decoder._data == []
    assert decoder.feed(body) == []
    assert len(decoder._buffer) == 0
    assert decoder.feed(b"data: x\n\n") == [ev("x")]


def test_many_events_in_one_feed() -> None:
    """2,000 events in one feed all come out, in order."""
    body = b"".join(b"data: %d\n\n" % i for i in range(2000))
    assert [e.data for e in decode([body])] == [str(i) for i in range(2000)]


def test_many_data_lines_in_one_event() -> None:
    """10,000 data lines join into one event."""
    body = b"data: x\n" * 10_000 + b"\n"
    assert decode([body]) == [ev("\n".join(["x"] * 10_000))]


def test_large_event_in_small_pieces() -> None:
    """A 4 MiB event fed in 4 KiB pieces arrives whole."""
    payload = b"y" * (4 << 20)
    body = b"data: " + payload + b"\r\n\r\n"
    events = decode(split_at(body, range(4096, len(body), 4096)))
    assert len(events) == 1
    assert events[0].data == payload.decode()


def test_escaped_newlines_in_json_are_not_boundaries() -> None:
    """A JSON-escaped `\\n\\n` inside data is not a frame boundary."""
    payload = json.dumps({"content": "a\n\nb\r\n"})
    assert decode([f"data: {payload}\n\n".encode()]) == [ev(payload)]


# -- properties ------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_SPICY = st.sampled_from(["\u2028", "\x85", "{", ":", " ", "\0", "é", "𝄞", "\ufeff", "[DONE]"])
_VALUE = st.lists(st.one_of(_TEXT, _SPICY), max_size=4).map("".join)

_LINE = st.one_of(
    st.just(""),
    st.builds(lambda v: "data: " + v, _VALUE),
    st.builds(lambda v: "data:" + v, _VALUE),
    st.sampled_from(["data", "id", "event", "retry", ":", "{}", "data:[DONE]"]),
    st.builds(lambda v: "event: " + v, _VALUE),
    st.builds(lambda v: "id: " + v, _VALUE),
    st.builds(lambda n: f"retry: {n}", st.integers(0, 10**6)),
    st.builds(lambda v: "retry: " + v, _VALUE),
    st.builds(lambda v: ": " + v, _VALUE),
    st.builds(lambda v: "{" + v, _VALUE),
    _VALUE,
)
_EOLS = ["\n", "\r", "\r\n"]


def serialize(lines: list[str], eols: list[str], bom: bool) -> bytes:
    """Join lines with the drawn endings, never letting CR + empty-line LF fuse."""
    out = ["\ufeff"] if bom else []
    prev = ""
    for line, eol in zip(lines, eols, strict=True):
        if prev == "\r" and not line and eol == "\n":
            eol = "\r\n"
        out += [line, eol]
        prev = eol
    return "".join(out).encode()


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_LINE, max_size=40))
    eols = draw(st.lists(st.sampled_from(_EOLS), min_size=len(lines), max_size=len(lines)))
    body = serialize(lines, eols, draw(st.booleans()))
    if draw(st.booleans()):  # an unterminated tail
        body += draw(_VALUE).encode()
    return body


def reference(body: bytes, bare: str | None = None) -> list[ServerSentEvent]:
    """A line-by-line transcription of the spec, on the whole body at once."""
    text = body.decode()
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the last piece is unterminated: dropped
    out: list[ServerSentEvent] = []
    data, etype, retry, last_id = "", "", None, None
    for line in lines:
        if line == "":
            if data:
                out.append(E(etype or None, data.removesuffix("\n"), last_id, retry))
            data, etype, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        if bare is not None and line.startswith("{"):
            out.append(E(bare, line, last_id, None))
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            etype = value
        elif name == "data":
            data += value + "\n"
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return out


@settings(max_examples=300, deadline=None)
@given(body=streams(), data=st.data(), bare=st.sampled_from([None, "error"]))
def test_any_chunking_gives_same_events(body: bytes, data: st.DataObject, bare: str | None) -> None:
    """Any split of the byte stream into feeds gives the events of a single feed."""
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert decode(split_at(body, cuts), bare_json_event=bare) == decode(
        [body], bare_json_event=bare
    )


@settings(max_examples=300, deadline=None)
@given(body=streams(), bare=st.sampled_from([None, "error"]))
def test_matches_spec_transcription(body: bytes, bare: str | None) -> None:
    """The decoder agrees with a direct transcription of the spec's algorithm."""
    assert decode([body], bare_json_event=bare) == reference(body, bare)


def test_byte_at_a_time_matches_single_feed() -> None:
    """A tricky stream fed one byte at a time matches a single feed."""
    body = BOM + b"id: 1\r\ndata: a\r\rdata:b\n:c\r\nevent: e\rdata\n\n\r\n" + "é\u2028".encode()
    assert decode([body[i : i + 1] for i in range(len(body))]) == decode([body])


_EVENTS = st.lists(
    st.tuples(
        st.one_of(st.none(), _VALUE.filter(lambda v: "\0" not in v)),  # event type
        st.lists(_VALUE, min_size=1, max_size=4).map("\n".join),  # data
        st.one_of(st.none(), _VALUE.filter(lambda v: "\0" not in v)),  # id
        st.one_of(st.none(), st.integers(0, 2**40)),  # retry
    ),
    max_size=15,
)


@settings(max_examples=300, deadline=None)
@given(events=_EVENTS, data=st.data())
def test_round_trip(
    events: list[tuple[str | None, str, str | None, int | None]], data: st.DataObject
) -> None:
    """Serialized events, with random line endings and comments, decode back to themselves."""

    def field(name: str, value: str) -> str:
        spaced = value.startswith(" ") or data.draw(st.booleans())
        return f"{name}: {value}" if spaced else f"{name}:{value}"

    lines: list[str] = []
    expected: list[ServerSentEvent] = []
    last_id: str | None = None
    for etype, payload, id_, retry in events:
        others: list[str] = []
        if etype is not None:
            others.append(field("event", etype))
        if id_ is not None:
            others.append(field("id", id_))
            last_id = id_
        if retry is not None:
            others.append(f"retry: {retry}")
        comment = ":" + payload.replace("\n", " ")
        others += data.draw(st.lists(st.sampled_from([":", ": keep-alive", comment]), max_size=2))
        # Data lines keep their order; other fields and comments go anywhere among them.
        block = [field("data", part) for part in payload.split("\n")]
        for line in others:
            block.insert(data.draw(st.integers(0, len(block))), line)
        lines += [*block, ""]
        if data.draw(st.booleans()):
            lines.append("")  # an extra blank line fires nothing
        expected.append(E(etype or None, payload, last_id, retry))
    eols = data.draw(st.lists(st.sampled_from(_EOLS), min_size=len(lines), max_size=len(lines)))
    body = serialize(lines, eols, data.draw(st.booleans()))
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    assert decode(split_at(body, cuts)) == expected


# -- the openai SDK's decoder as a cross-check -----------------------------------------


def _chat_stream(contents: list[str], ascii_only: bool) -> bytes:
    out = []
    for i, content in enumerate(contents):
        finish = "stop" if i == len(contents) - 1 else None
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "doubao-1.5-vision-pro",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
        }
        out.append(b"data: " + json.dumps(chunk, ensure_ascii=ascii_only).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


@settings(max_examples=100, deadline=None)
@given(
    contents=st.lists(st.text(st.characters(codec="utf-8")), min_size=1, max_size=30),
    ascii_only=st.booleans(),
    data=st.data(),
)
def test_agrees_with_openai_decoder(
    contents: list[str], ascii_only: bool, data: st.DataObject
) -> None:
    """On ordinary chat-chunk streams we yield what openai's SSEDecoder yields."""
    streaming = pytest.importorskip("openai._streaming")
    body = _chat_stream(contents, ascii_only)
    chunks = split_at(body, data.draw(st.lists(st.integers(0, len(body)), max_size=20)))
    theirs = [
        E(e.event, e.data, e.id, e.retry) for e in streaming.SSEDecoder().iter_bytes(iter(chunks))
    ]
    ours = decode(chunks)
    assert ours == theirs
    assert ours[-1].data == "[DONE]"
    assert [json.loads(e.data)["choices"][0]["delta"]["content"] for e in ours[:-1]] == contents
