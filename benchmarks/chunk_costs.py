"""Where a stream chunk's client CPU goes, stage by stage, without the network.

Usage: ``python benchmarks/chunk_costs.py [--json] [--quick]`` (``run.py`` runs it
as the ``costs`` workload; ``--json`` prints one JSON line for it)

Feeds the fake server's 500-chunk stream (Ark's chunk format, ~250 bytes per
event) through each stage the SDK runs per chunk, in 64 KiB reads as
``AsyncStream`` reads them, and prints CPU microseconds per chunk (best of 5):
the spec SSE decoder and its fast path for plain ``data:`` frames,
``orjson.loads``, structuring into typed objects (the generated fast path; the
stream's own variant, which keeps orjson's dicts, timed with the loads that makes
them; plain cattrs for reference), accumulating, all of them together as
``AsyncStream`` runs them, what the raw-aiohttp floor does instead (split
lines, ``orjson.loads``, two dict lookups), and last the whole ``AsyncStream``
as a user's ``async for`` reads it (the call's bookkeeping and the async
iteration included) over a fake transport that hands over the same reads, and
again with one event per read (a paced server: what a stream pays per read).
The transport (aiohttp's chunked
parser and StreamReader) is the same for both and is not in here. This is the
breakdown behind the stream row of the README's Performance section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

# doubao_vision comes from PYTHONPATH (run.py --package-root) or the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import stream_events

from doubao_vision._accumulate import StreamAccumulator
from doubao_vision._models import ChatCompletionChunk
from doubao_vision._serde import converter, parse_chunk

try:  # the stream's own typing (it keeps the dicts it is given); older checkouts lack it
    from doubao_vision._serde import fast_chunk_parser
except ImportError:  # an older checkout (run.py --package-root)
    fast_chunk_parser = None  # type: ignore[assignment]
from doubao_vision._sse import SSEDecoder

READ = 1 << 16


def measure(number: int = 20) -> dict[str, Any]:
    """Microseconds per chunk for each stage (best of 5 rounds of ``number`` streams)."""
    # The SSE body as the client sees it once HTTP chunking is undone.
    body = b"".join(event.split(b"\r\n", 1)[1][:-2] for event in stream_events(500))
    reads = [body[i : i + READ] for i in range(0, len(body), READ)]

    def decode() -> list[Any]:
        decoder = SSEDecoder()
        events = []
        for data in reads:
            events += decoder.feed(data)
        return events

    datas = [e.data for e in decode() if e.data != "[DONE]"]
    payloads = [orjson.loads(d) for d in datas]
    chunks = [parse_chunk(p) for p in payloads]
    n = len(datas)

    def accumulate() -> None:
        acc = StreamAccumulator()
        for chunk in chunks:
            acc.add(chunk)

    def floor() -> list[str]:
        buffer, parts = b"", []
        for data in reads:
            lines = (buffer + data).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line.startswith(b"data: ") and line[6:] != b"[DONE]":
                    choices = orjson.loads(line[6:])["choices"]
                    if choices and (content := choices[0]["delta"].get("content")):
                        parts.append(content)
        return parts

    def frames() -> list[Any]:
        decoder = SSEDecoder()
        items: list[Any] = []
        for data in reads:
            items += decoder.feed_frames(data)
        return items

    # The stream types each chunk with the owned fast path, which keeps (and changes)
    # the dicts it is given: so it is timed together with the loads that makes them.
    typing = fast_chunk_parser() if fast_chunk_parser is not None else parse_chunk

    def loads_and_type() -> list[Any]:
        return [typing(orjson.loads(d)) for d in datas]

    def sdk() -> None:
        # What AsyncStream does per chunk, without the network: frame, parse, type
        # one event at a time, accumulate (the chunk dropped before the next, as a
        # user's loop does).
        decoder = SSEDecoder()
        acc = StreamAccumulator()
        loads = orjson.loads
        for data in reads:
            for item in decoder.feed_frames(data):
                # A frame cut by a read comes out of the spec decoder as an event.
                raw = item if isinstance(item, bytes) else item.data
                if raw[:6] in (b"[DONE]", "[DONE]"):
                    break
                payload = loads(raw)
                if "error" in payload:
                    raise AssertionError
                acc.add(typing(payload))

    stages: list[tuple[str, Callable[[], Any]]] = [
        ("SSE decode, spec path (SSEDecoder.feed)", decode),
        ("SSE framing, fast path (SSEDecoder.feed_frames)", frames),
        ("orjson.loads", lambda: [orjson.loads(d) for d in datas]),
        ("structure: parse_chunk (fast path)", lambda: [parse_chunk(p) for p in payloads]),
        ("orjson.loads + structure, as the stream does (owned fast path)", loads_and_type),
        (
            "structure: cattrs alone (reference)",
            lambda: [converter.structure(p, ChatCompletionChunk) for p in payloads],
        ),
        ("accumulate (StreamAccumulator.add)", accumulate),
        ("SDK Python per chunk, all of the above (as AsyncStream)", sdk),
        ("floor: split + orjson.loads + lookups", floor),
    ]
    if not hasattr(SSEDecoder, "feed_frames"):  # an older checkout (run.py --package-root)
        stages = [(label, fn) for label, fn in stages if fn not in (frames, sdk)]
    rows = []
    for label, fn in stages:
        # CPU time, not wall: on a shared machine wall time counts other processes too.
        seconds = min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time)) / number
        rows.append((label, seconds / n * 1e6))
    # Last: everything above plus the async iteration, the call's bookkeeping and a
    # user's loop, with the transport replaced by a fake that hands over the same reads.
    seconds = asyncio.run(_through_async_stream(reads, number))
    rows.append(
        ("AsyncStream end to end, `async for` included (transport faked)", seconds / n * 1e6)
    )
    # The same, one event per read, as a server that writes each token as it comes
    # (the stream-paced row): what the stream pays per read shows here.
    events = [body[m.start() : m.end()] for m in re.finditer(rb"data: [^\n]*\n\n", body)]
    seconds = asyncio.run(_through_async_stream(events, number))
    rows.append(("the same, one event per read (as a paced server)", seconds / n * 1e6))
    # The floor's own loop (client.py's RawAiohttp.stream) over the same fake reads.
    for label, pieces in (("64 KiB reads", reads), ("one event per read", events)):
        seconds = asyncio.run(_floor_through_reads(pieces, number))
        rows.append((f"floor end to end, {label} (transport faked)", seconds / n * 1e6))
    # What any async iterator of typed chunks costs at best, over the same reads: the
    # floor's work behind an `async for`, then with the three objects a chunk is made
    # of (built bare, no checks), then with the stream's own checked typing. The gap
    # between the last of these and "AsyncStream end to end" is everything else the
    # SDK does per chunk (accumulating, counting, error events, closing).
    for label, build in _bounds(typing):
        seconds = asyncio.run(_iterator_through_reads(reads, number, build))
        rows.append((f"bound: an async iterator of {label}", seconds / n * 1e6))
    return {"chunks": n, "bytes_per_chunk": len(body) // n, "rows": rows}


class _FakeBody:
    """Stands in for ``_transport.StreamBody``: the same reads, no socket."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self, reads: list[bytes]) -> None:
        self.headers = {"content-type": "text/event-stream"}
        self._reads = reads[::-1]

    async def read_raw(self, size: int) -> bytes:
        """aiohttp's ``StreamReader.read``: one coroutine that suspends until data."""
        await asyncio.sleep(0)  # a real read suspends too
        return self._reads.pop() if self._reads else b""

    async def read_some(self) -> bytes:
        """The mapped form, a coroutine around ``read_raw`` as in ``StreamBody``
        (what older checkouts read through)."""
        return await self.read_raw(1 << 16)

    def at_eof(self) -> bool:
        return not self._reads

    def stop_read_timer(self) -> None:
        pass  # no aiohttp timer here

    def close(self, *, reusable: bool) -> None:
        pass

    async def read(self) -> bytes:
        return b""


async def _through_async_stream(reads: list[bytes], streams: int) -> float:
    """CPU seconds per stream (best of 5 rounds of ``streams``), read as a user reads
    them, over a faked transport."""
    import doubao_vision as dv
    from doubao_vision import _transport

    async def open_stream(self: Any, url: str, **_: Any) -> _FakeBody:
        return _FakeBody(reads)

    _transport.Transport.open_stream = open_stream  # type: ignore[assignment,method-assign]
    # Never connects: every stream's "transport" is the fake above.
    client = dv.AsyncClient("sk-benchmark", base_url="http://127.0.0.1:9/v1")
    messages = [dv.user("Describe the image.")]

    async def one() -> None:
        async with client.stream("doubao-1-5-vision-pro-250328", messages) as stream:
            async for chunk in stream:
                if chunk.choices:
                    chunk.choices[0].delta.content  # noqa: B018 -- what a user reads

    try:
        await one()  # warm-up: the first stream makes the session and the fast paths
        return await _best_per_stream(one, streams)
    finally:
        await client.aclose()


async def _best_per_stream(one: Callable[[], Awaitable[object]], streams: int) -> float:
    """CPU seconds per ``one()``: the best of 5 rounds of ``streams`` calls."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(streams):
            await one()
        best = min(best, time.process_time() - start)
    return best / streams


async def _floor_through_reads(reads: list[bytes], streams: int) -> float:
    """CPU seconds per stream for the floor's loop over ``reads`` (best of 5 rounds)."""

    async def read_any(pending: list[bytes]) -> bytes:  # aiohttp's readany, suspending too
        await asyncio.sleep(0)
        return pending.pop() if pending else b""

    async def one() -> str:
        pending = reads[::-1]
        buffer, parts = b"", []
        while data := await read_any(pending):
            lines = (buffer + data).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line.startswith(b"data: ") and line[6:] != b"[DONE]":
                    chunk = orjson.loads(line[6:])
                    choices = chunk["choices"]
                    if choices and (content := choices[0]["delta"].get("content")):
                        parts.append(content)
        return "".join(parts)

    return await _best_per_stream(one, streams)


def _bounds(typing: Callable[[Any], Any]) -> list[tuple[str, Callable[[Any], Any] | None]]:
    """(label, how a parsed chunk is turned into what the iterator yields)."""
    from doubao_vision._models import ChoiceDelta, ChunkChoice

    def setter(cls: type[Any]) -> Any:
        for klass in cls.__mro__:
            if "__dict__" in klass.__dict__:
                return klass.__dict__["__dict__"].__set__
        return None

    set_delta, set_choice, set_chunk = map(setter, (ChoiceDelta, ChunkChoice, ChatCompletionChunk))
    new = object.__new__

    def bare(d: dict[str, Any]) -> Any:
        # The three objects and nothing else: no type checks, no unknown-key handling.
        for i, c in enumerate(d["choices"]):
            delta = new(ChoiceDelta)
            set_delta(delta, c["delta"])
            c["delta"] = delta
            choice = d["choices"][i] = new(ChunkChoice)
            set_choice(choice, c)
        chunk = new(ChatCompletionChunk)
        set_chunk(chunk, d)
        return chunk

    rows: list[tuple[str, Callable[[Any], Any] | None]] = [("orjson dicts (no typing)", None)]
    if None not in (set_delta, set_choice, set_chunk):  # dict-backed chunk classes only
        rows.append(("the three chunk objects, built bare (no checks)", bare))
    rows.append(("typed chunks (the stream's own checked typing)", typing))
    return rows


async def _iterator_through_reads(
    reads: list[bytes], streams: int, build: Callable[[Any], Any] | None
) -> float:
    """CPU seconds per stream for an async generator of ``build(loads(frame))`` over
    ``reads``, read by a user's ``async for`` (best of 5 rounds)."""

    async def chunks() -> Any:
        pending = reads[::-1]
        decoder = SSEDecoder()
        loads = orjson.loads
        while pending:
            await asyncio.sleep(0)  # a read suspends, as in the rows above
            for item in decoder.feed_frames(pending.pop()):
                raw = item if type(item) is bytes else item.data
                if raw[:6] in (b"[DONE]", "[DONE]"):
                    return
                yield loads(raw) if build is None else build(loads(raw))

    async def one() -> str:
        parts = []
        if build is None:
            async for chunk in chunks():
                choices = chunk["choices"]
                if choices and (content := choices[0]["delta"].get("content")):
                    parts.append(content)
        else:
            async for chunk in chunks():
                if chunk.choices and (content := chunk.choices[0].delta.content):
                    parts.append(content)
        return "".join(parts)

    return await _best_per_stream(one, streams)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line (for run.py)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke runs)")
    args = parser.parse_args()
    result = measure(2 if args.quick else 20)
    if args.json:
        print(json.dumps(result))
        return
    n = result["chunks"]
    print(f"Python {sys.version.split()[0]}; {n} chunks of ~{result['bytes_per_chunk']} bytes\n")
    print("| stage | µs per chunk |\n|---|---:|")
    for label, us in result["rows"]:
        print(f"| {label} | {us:.2f} |")


if __name__ == "__main__":
    main()
