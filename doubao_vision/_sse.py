"""Server-sent events: bytes in, events out. No I/O, no JSON, no HTTP.

The decoder follows the WHATWG HTML "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
and is incremental: feed it the body's chunks as they arrive, in any sizes.

Why our own: ``httpx-sse`` reads httpx's decoded text lines (decode first,
split after), dispatches events that have no data and takes ``retry: -1``;
``aiohttp-sse-client`` is a whole reconnecting ``EventSource`` over aiohttp's
LF-only ``readline``. Neither is a pure byte-level decoder to feed raw chunks,
nor spec-exact on BOM, CR and EOF. The openai and anthropic decoders are
private, skip the BOM rule, raise a bare ``UnicodeDecodeError`` and dispatch
unterminated or data-less events. This is every stream's hot path, so we own
~200 lines that are exact and measured (``benchmarks/bench_sse.py``).

Fast path: :meth:`SSEDecoder.feed_frames` hands the payload of each plain
``data: ...\n\n`` frame (what every chat stream sends) over as undecoded bytes,
for ``orjson.loads`` to take directly, and runs the spec decoder on anything
else; ``tests/test_perf_paths.py`` proves it equal to :meth:`SSEDecoder.feed` on
arbitrary byte streams and chunkings.
"""

from __future__ import annotations

import contextlib
import re

import attrs

from ._exceptions import StreamDecodeError

__all__ = ["SSEDecoder", "ServerSentEvent", "event_text"]

_BOM = b"\xef\xbb\xbf"
# Used only when a CR is present; LF-only chunks take the plain ``bytes.split``.
_EOL = re.compile(rb"\r\n|\r|\n")


def event_text(payload: bytes) -> str:
    """A fast frame's payload as the spec decoder would have decoded it (same error)."""
    try:
        return str(payload, "utf-8")
    except UnicodeDecodeError as exc:
        raise StreamDecodeError(f"event stream is not valid UTF-8: {exc}") from exc


@attrs.frozen
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        event: the event type, or None when no (or an empty) ``event:`` was sent.
        data: the ``data:`` lines joined with ``"\\n"``.
        id: the last event id at dispatch; it carries over from earlier events
            until changed, and ``""`` after an empty ``id:``. None if never set.
        retry: the reconnection time in ms, only on the event whose block set it.
    """

    event: str | None
    data: str
    id: str | None
    retry: int | None


class SSEDecoder:
    """Incremental, spec-exact event-stream decoder.

    ``feed`` each chunk of the body, then ``flush`` once at the end. Lines end at
    CRLF, LF or CR (a CRLF split across feeds counts once); a leading UTF-8 BOM
    is dropped once; a block without a blank line after it at the end of the body
    is not dispatched, as the spec says. Work is linear in the bytes fed: only new
    bytes are scanned, complete lines are cut off in bulk and decoded once.

    Args:
        bare_json_event: non-spec, for gateways (302.AI) that write an error as a
            bare JSON line with no ``data:``. When set, a line starting with ``{``
            is dispatched at once as an event of this type, whose data is the line;
            a data buffer being built is left alone. None keeps spec behaviour (the
            line is an unknown field and ignored).

    Raises:
        StreamDecodeError: from ``feed`` when a complete line is not valid UTF-8.
    """

    __slots__ = (
        "_at_start",
        "_bare",
        "_buffer",
        "_clean",
        "_data",
        "_event",
        "_last_id",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, *, bare_json_event: str | None = None) -> None:
        self._bare = bare_json_event
        # Bytes of an incomplete line; never holds a line terminator.
        self._buffer = bytearray()
        self._at_start = True  # the BOM check is still due
        self._skip_lf = False  # the last feed ended in CR: drop a leading LF
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self._last_id: str | None = None
        # feed_frames' view of the state: between blocks (see _between_blocks), as
        # of its last return. Any other change of state clears it.
        self._clean = False

    @property
    def last_event_id(self) -> str | None:
        """The last event id seen (for a ``Last-Event-ID`` header), or None."""
        return self._last_id

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Take the next chunk of the body; return the events it completes."""
        self._clean = False
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
        if self._at_start:
            if self._buffer:  # a BOM prefix held back by an earlier feed
                data = bytes(self._buffer) + data
                self._buffer.clear()
            if len(data) < 3 and _BOM.startswith(data):
                self._buffer += data
                return []
            self._at_start = False
            if data.startswith(_BOM):
                data = data[3:]
        # Only the new bytes are searched: the buffer never holds a line end.
        lf = data.rfind(b"\n")
        cr = data.rfind(b"\r")
        buffer = self._buffer
        if lf < 0 and cr < 0:
            buffer += data
            return []
        lines = data.split(b"\n") if cr < 0 else _EOL.split(data)
        tail = lines.pop()  # what follows the last line end: the next partial line
        if cr == len(data) - 1:
            self._skip_lf = True  # an LF opening the next feed ends nothing
        if not buffer:
            events = self._process(lines)
        else:
            # The first piece completes the buffered line. Decode it through a view
            # so a 16 MiB event is copied once (into its str), not three times.
            buffer += lines[0]
            with memoryview(buffer) as view:
                events = self._process([view, *lines[1:]])
            buffer.clear()  # also frees a large buffer's memory
        buffer += tail
        return events

    def feed_frames(self, data: bytes) -> list[bytes | ServerSentEvent]:
        """Like :meth:`feed`, but a plain ``data: X\n\n`` frame comes out as ``X``'s bytes.

        Such a frame stands for ``ServerSentEvent(None, event_text(X), last_event_id,
        None)``: it is only taken as one where the spec decoder is between blocks
        (nothing buffered, no field pending), so it dispatches exactly that event and
        leaves the decoder as it found it. ``X`` is not decoded here: a consumer that
        needs text calls :func:`event_text`, which raises the error :meth:`feed` would
        have (for invalid UTF-8, after the frames before it, where :meth:`feed` drops
        the whole piece). Everything else (CR line ends, comments, ``event:``, ``id:``,
        multi-line data, a frame cut by the end of ``data``) goes through :meth:`feed`,
        a frame-sized piece at a time.

        Three speeds, all giving the same list: a read that is one whole frame (a
        paced stream), a run of whole frames split in one C call (a server faster
        than its reader), and frame by frame. Proven equal to :meth:`feed` by
        ``tests/test_perf_paths.py`` (any stream, any chunking, one piece per read).
        """
        clean = self._clean
        # One whole frame per read (a stream the server writes event by event): four
        # C calls, and no loop. The loop below would give exactly this list.
        if (
            clean
            and data.startswith(b"data: ")
            and data.find(b"\n", 6) == len(data) - 2
            and data.endswith(b"\n")
            and b"\r" not in data
        ):
            return [data[6:-2]]
        if b"\r" in data:  # CR or CRLF line ends: the spec decoder does it all
            return list(self.feed(data))
        out: list[bytes | ServerSentEvent] = []
        append = out.append
        find = data.find
        startswith = data.startswith
        end = len(data) - 1
        pos = 0
        bulk = True  # tried once a call: see below
        while pos <= end:
            if clean and startswith(b"data: ", pos):
                if bulk:
                    # A read of whole plain frames back to back (a server writing
                    # faster than we read): split them all in one C call, up to the
                    # last blank line. Each part is one frame's payload exactly when
                    # no part holds a line end (joined and searched: two C calls, far
                    # cheaper than counting LFs). About half the loop's cost a frame.
                    bulk = False
                    last = data.rfind(b"\n\n") + 2
                    if last >= pos + 8:
                        parts = data[pos + 6 : last - 2].split(b"\n\ndata: ")
                        if b"\n" not in b"".join(parts):
                            out += parts
                            pos = last
                            continue
                lf = find(b"\n", pos + 6)
                if 0 <= lf < end and data[lf + 1] == 0x0A:
                    append(data[pos + 6 : lf])
                    pos = lf + 2
                    continue
            # Up to the next blank line (or the end) through the spec decoder; feeding
            # it in pieces changes nothing (the any-chunking tests in test_sse.py).
            cut = find(b"\n\n", pos)
            stop = end + 1 if cut < 0 else cut + 2
            out += self.feed(data[pos:stop])
            pos = stop
            clean = self._between_blocks()
        self._clean = clean
        return out

    def _between_blocks(self) -> bool:
        """Nothing buffered or pending: the state after a blank line."""
        return not (
            self._buffer
            or self._data
            or self._event
            or self._retry is not None
            or self._at_start
            or self._skip_lf
        )

    def flush(self) -> list[ServerSentEvent]:
        """End of body: drop an unterminated line and an undispatched block.

        Lines are processed as soon as their terminator arrives (a final CR
        included), so nothing is left to dispatch here: the spec discards a block
        the body ends inside of. The last event id is kept, so the decoder can be
        fed a reconnection's body next, as a new stream.
        """
        self._clean = False
        self._buffer.clear()
        self._at_start = True
        self._skip_lf = False
        self._data = []
        self._event = ""
        self._retry = None
        return []

    def _process(self, lines: list[bytes] | list[bytes | memoryview]) -> list[ServerSentEvent]:
        # Lines are split as bytes and each is decoded once, here: a line always
        # ends at an ASCII line end, so no UTF-8 sequence is ever cut, and U+2028 /
        # U+0085 inside JSON strings never end a line (``str.splitlines`` would).
        events: list[ServerSentEvent] = []
        parts = self._data
        event = self._event
        retry = self._retry
        last_id = self._last_id
        bare = self._bare
        try:
            for raw in lines:
                if not raw:
                    if parts:
                        events.append(
                            ServerSentEvent(event or None, "\n".join(parts), last_id, retry)
                        )
                        parts = []
                    event = ""
                    retry = None
                elif raw[:6] == b"data: ":  # the common shape first
                    parts.append(str(raw[6:], "utf-8"))
                elif raw[0] == 0x3A:  # ":" a comment; decoded only to reject bad bytes
                    str(raw, "utf-8")
                elif raw[0] == 0x7B and bare is not None:  # "{"
                    events.append(ServerSentEvent(bare, str(raw, "utf-8"), last_id, None))
                else:
                    name, colon, value = str(raw, "utf-8").partition(":")
                    if colon and value[:1] == " ":
                        value = value[1:]
                    if name == "data":
                        parts.append(value)
                    elif name == "event":
                        event = value
                    elif name == "id":
                        if "\0" not in value:
                            last_id = value
                    elif name == "retry" and value.isascii() and value.isdigit():
                        # ValueError past int's digit limit: not a delay anyone means.
                        with contextlib.suppress(ValueError):
                            retry = int(value)
        except UnicodeDecodeError as exc:
            raise StreamDecodeError(f"event stream is not valid UTF-8: {exc}") from exc
        self._data = parts
        self._event = event
        self._retry = retry
        self._last_id = last_id
        return events
