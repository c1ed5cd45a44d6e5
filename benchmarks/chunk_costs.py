"""Where a stream chunk's client CPU goes, stage by stage, without the network.

Usage: ``python benchmarks/chunk_costs.py``

Feeds the fake server's 500-chunk stream (Ark's chunk format, ~250 bytes per
event) through each stage the SDK runs per chunk, in 64 KiB reads as
``AsyncStream`` reads them, and prints microseconds per chunk (best of 5):
the SSE decoder, ``orjson.loads``, structuring into typed objects (the fast
path, and plain cattrs for reference), accumulating, and what the raw-aiohttp
floor does instead (split lines, ``orjson.loads``, two dict lookups). The
transport (aiohttp's chunked parser and StreamReader) is the same for both and
is not in here. This is the breakdown behind the stream row of the README's Performance section.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from server import stream_events  # noqa: E402

from doubao_vision._accumulate import StreamAccumulator  # noqa: E402
from doubao_vision._models import ChatCompletionChunk  # noqa: E402
from doubao_vision._serde import converter, parse_chunk  # noqa: E402
from doubao_vision._sse import SSEDecoder  # noqa: E402

READ = 1 << 16


def main() -> None:
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

    stages: list[tuple[str, Callable[[], Any]]] = [
        ("SSE decode (SSEDecoder.feed)", decode),
        ("orjson.loads", lambda: [orjson.loads(d) for d in datas]),
        ("structure: parse_chunk (fast path)", lambda: [parse_chunk(p) for p in payloads]),
        (
            "structure: cattrs alone (reference)",
            lambda: [converter.structure(p, ChatCompletionChunk) for p in payloads],
        ),
        ("accumulate (StreamAccumulator.add)", accumulate),
        ("floor: split + orjson.loads + lookups", floor),
    ]
    print(f"Python {sys.version.split()[0]}; {n} chunks of ~{len(body) // n} bytes\n")
    print("| stage | µs per chunk |\n|---|---:|")
    for label, fn in stages:
        seconds = min(timeit.repeat(fn, number=20, repeat=5)) / 20
        print(f"| {label} | {seconds / n * 1e6:.2f} |")


if __name__ == "__main__":
    main()
