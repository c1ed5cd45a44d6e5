"""SSE framing cost: our decoder against the openai SDK's, on the same bytes.

Usage: ``python benchmarks/bench_sse.py [--smoke]``

Two workloads, both fed in 4 KiB pieces as a socket would deliver them:

- a chat stream of ~180-byte ``data: {json}\\n\\n`` chunks (events/s, MB/s);
- one large event (4 MiB and 16 MiB) to show the work is linear in its size:
  the 16 MiB time should be about 4x the 4 MiB time, not 16x. A "copy floor"
  row (join the pieces, decode once) shows what caches and page faults alone
  add at these sizes.

``run(smoke)`` returns the rows so the benchmarks harness can import it; the
script prints them as a markdown table. Each number is the median of several
runs after a warm-up. ``--smoke`` uses tiny sizes and ends within a second.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from doubao_vision._sse import SSEDecoder
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from doubao_vision._sse import SSEDecoder

PIECE = 4096
MIB = 1 << 20


def chat_stream(n_events: int) -> bytes:
    """A body of ``n_events`` chat chunks like Doubao's (~180 bytes each), then [DONE]."""
    words = ["The", " image", " shows", " a", " red", " bicycle", " near", " 海边", "."]
    lines = []
    for i in range(n_events):
        chunk = {
            "id": "021718000000000abcdef0123456789",
            "object": "chat.completion.chunk",
            "created": 1718000000,
            "model": "doubao-1.5-vision-pro",
            "choices": [{"index": 0, "delta": {"content": words[i % len(words)]}}],
        }
        payload = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
        lines.append(f"data: {payload}\n\n".encode())
    lines.append(b"data: [DONE]\n\n")
    return b"".join(lines)


def pieces(body: bytes, size: int = PIECE) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def ours(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.flush()
    return [e.data for e in events]


def _openai_decoder() -> Callable[[list[bytes]], list[str]] | None:
    try:
        from openai._streaming import SSEDecoder as OpenAIDecoder
    except ImportError:
        return None

    def openai(chunks: list[bytes]) -> list[str]:
        # How openai's Stream uses it: iter_bytes over the response's byte chunks.
        return [e.data for e in OpenAIDecoder().iter_bytes(iter(chunks))]

    return openai


def floor(chunks: list[bytes]) -> list[str]:
    """The least any decoder must do with one large event: join the pieces, decode."""
    return [str(memoryview(b"".join(chunks))[6:-2], "utf-8")]


def _time(fn: Callable[[list[bytes]], list[str]], chunks: list[bytes], repeat: int) -> float:
    fn(chunks)  # warm-up
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()  # CPU, not wall: the machine may be shared
        fn(chunks)
        times.append(time.process_time() - start)
    return statistics.median(times)


def run(smoke: bool) -> list[dict[str, Any]]:
    """Measure every contender on every workload; one dict per (workload, decoder)."""
    n_events = 500 if smoke else 50_000
    big_sizes = (MIB // 4, MIB) if smoke else (4 * MIB, 16 * MIB)
    repeat = 1 if smoke else 7
    contenders: list[tuple[str, Callable[[list[bytes]], list[str]]]] = [("doubao_vision", ours)]
    openai = _openai_decoder()
    if openai is not None:
        contenders.append(("openai", openai))

    workloads = [(f"chat stream, {n_events:,} chunks", chat_stream(n_events))]
    for size in big_sizes:
        workloads.append((f"one {size / MIB:g} MiB event", b"data: " + b"x" * size + b"\n\n"))

    rows: list[dict[str, Any]] = []
    for i, (workload, body) in enumerate(workloads):
        chunks = pieces(body)
        expected = ours(chunks)
        # For one large event, the copy floor shows what the memory system alone costs.
        extra = [("copy floor", floor)] if i else []
        for name, fn in [*contenders, *extra]:
            if fn is not floor and fn(chunks) != expected:
                raise AssertionError(f"{name} decoded {workload} differently")
            seconds = _time(fn, chunks, repeat)
            rows.append(
                {
                    "workload": workload,
                    "decoder": name,
                    "events": len(expected),
                    "bytes": len(body),
                    "seconds": seconds,
                    "events_per_s": len(expected) / seconds,
                    "mb_per_s": len(body) / MIB / seconds,
                }
            )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| workload | decoder | events | ms (median) | events/s | MiB/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['workload']} | {r['decoder']} | {r['events']:,} | {r['seconds'] * 1e3:,.1f} "
            f"| {r['events_per_s']:,.0f} | {r['mb_per_s']:,.1f} |"
        )
    return "\n".join(out)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    by = {(r["workload"], r["decoder"]): r["seconds"] for r in rows}
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    decoders = list(dict.fromkeys(r["decoder"] for r in rows))
    lines = []
    if "openai" in decoders:
        chat = workloads[0]
        ratio = by[chat, "openai"] / by[chat, "doubao_vision"]
        lines.append(f"chat stream: doubao_vision is {ratio:.1f}x openai's events/s")
    small, large = workloads[-2], workloads[-1]
    for name in decoders:
        growth = by[large, name] / by[small, name]
        lines.append(f"{name}: 4x larger event took {growth:.1f}x the time (linear: ~4x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, about a second")
    args = parser.parse_args()
    rows = run(args.smoke)
    print(f"Python {sys.version.split()[0]}, {PIECE}-byte pieces\n")
    print(table(rows))
    print()
    for line in summary(rows):
        print(f"- {line}")


if __name__ == "__main__":
    main()
