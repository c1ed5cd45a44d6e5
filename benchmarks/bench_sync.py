"""What the blocking Client costs over the AsyncClient it wraps, measured in one run.

Usage: ``python benchmarks/bench_sync.py [--smoke] [--server raw|emulator] [--rounds N]``

Starts a server in its own process: ``raw`` is the benchmarks' fake Ark server
(``server.py``, cheap enough that client costs show), ``emulator`` the SDK's
emulator (``python -m doubao_vision.emulator --port 0``). Then, in this
process, alternating async and sync in every round (A B A B ...), it times:

- ``chat``: sequential non-streaming calls, one at a time;
- ``stream``: sequential streams of ``--chunks`` chunks, read to the end
  (per chunk: one hop to the loop thread and back);
- ``16 at once``: the same calls 16 at a time: ``asyncio.gather`` over 16 tasks
  against 16 threads sharing one ``Client``.

Each client is warmed up (pool filled) before it is timed. Figures are medians
over the rounds: wall time and CPU time (``time.process_time``: every thread of
this process, so the loop thread is counted) per call, and the sync client's
overhead over the async one in the same round. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import doubao_vision as dv  # noqa: E402 -- after the path set-up above
from doubao_vision._sync import Client  # noqa: E402 -- until __init__ exports it

API_KEY = "sk-bench-not-a-real-key"
MODEL = dv.MODEL_VISION_PRO
MESSAGES = [dv.user("What is in this image?")]
WIDTH = 16


@contextmanager
def server(kind: str, chunks: int) -> Iterator[str]:
    """Start the server in its own process; yield its base URL."""
    if kind == "raw":
        cmd = [sys.executable, str(HERE / "server.py"), "--chunks", str(chunks)]
    else:
        cmd = [sys.executable, "-m", "doubao_vision.emulator", "--port", "0"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE.parent
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if kind == "raw":
            yield f"http://127.0.0.1:{int(line.split()[-1])}/v1"
        else:
            yield line.rsplit(" ", 1)[-1]
    finally:
        if kind == "raw":
            assert proc.stdin is not None
            proc.stdin.close()  # the raw server stops when stdin closes
        else:
            proc.terminate()
        proc.wait(10)


# -- one timed run: (wall seconds, cpu seconds) for `count` calls -------------------


def timed(run: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def headers(url: str, chunks: int, kind: str) -> dict[str, str]:
    # The emulator splits a stream into as many pieces as it is told per request.
    return {"X-Emulator-Chunks": str(chunks)} if kind == "emulator" else {}


def async_run(
    url: str, count: int, warm: int, work: Callable[[dv.AsyncClient], Awaitable[None]]
) -> tuple[float, float]:
    result: list[tuple[float, float]] = []

    async def main() -> None:
        async with dv.AsyncClient(API_KEY, base_url=url, max_connections=WIDTH) as client:
            await asyncio.gather(*(client.chat(MODEL, MESSAGES) for _ in range(warm)))
            wall, cpu = time.perf_counter(), time.process_time()
            await work(client)
            result.append((time.perf_counter() - wall, time.process_time() - cpu))

    asyncio.run(main())
    return result[0]


def sync_run(url: str, warm: int, work: Callable[[Client], None]) -> tuple[float, float]:
    with (
        Client(API_KEY, base_url=url, max_connections=WIDTH) as client,
        ThreadPoolExecutor(WIDTH) as pool,
    ):
        list(pool.map(lambda _: client.chat(MODEL, MESSAGES), range(warm)))
        return timed(lambda: work(client))


def workloads(
    url: str, count: int, streams: int, chunks: int, kind: str
) -> dict[str, tuple[int, Callable[[], tuple[float, float]], Callable[[], tuple[float, float]]]]:
    """name -> (calls, async run, sync run)."""
    extra = headers(url, chunks, kind)
    warm = WIDTH

    async def a_chat(client: dv.AsyncClient) -> None:
        for _ in range(count):
            await client.chat(MODEL, MESSAGES)

    def s_chat(client: Client) -> None:
        for _ in range(count):
            client.chat(MODEL, MESSAGES)

    async def a_stream(client: dv.AsyncClient) -> None:
        for _ in range(streams):
            async with client.stream(MODEL, MESSAGES, extra_headers=extra) as stream:
                async for _chunk in stream:
                    pass

    def s_stream(client: Client) -> None:
        for _ in range(streams):
            with client.stream(MODEL, MESSAGES, extra_headers=extra) as stream:
                for _chunk in stream:
                    pass

    async def a_wide(client: dv.AsyncClient) -> None:
        async def lane() -> None:
            for _ in range(count // WIDTH):
                await client.chat(MODEL, MESSAGES)

        await asyncio.gather(*(lane() for _ in range(WIDTH)))

    def s_wide(client: Client) -> None:
        def lane(_: int) -> None:
            for _ in range(count // WIDTH):
                client.chat(MODEL, MESSAGES)

        with ThreadPoolExecutor(WIDTH) as pool:
            list(pool.map(lane, range(WIDTH)))

    return {
        "chat": (
            count,
            lambda: async_run(url, count, warm, a_chat),
            lambda: sync_run(url, warm, s_chat),
        ),
        "stream": (
            streams,
            lambda: async_run(url, streams, warm, a_stream),
            lambda: sync_run(url, warm, s_stream),
        ),
        f"{WIDTH} at once": (
            count // WIDTH * WIDTH,
            lambda: async_run(url, count, warm, a_wide),
            lambda: sync_run(url, warm, s_wide),
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["raw", "emulator"], default="raw")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one round")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.requests, args.streams, args.chunks = 1, 32, 4, 10

    rows = []
    with server(args.server, args.chunks) as url:
        for name, (calls, run_async, run_sync) in workloads(
            url, args.requests, args.streams, args.chunks, args.server
        ).items():
            a_wall, a_cpu, s_wall, s_cpu, extra = [], [], [], [], []
            for _ in range(args.rounds):
                aw, ac = run_async()
                sw, sc = run_sync()
                a_wall.append(aw / calls)
                a_cpu.append(ac / calls)
                s_wall.append(sw / calls)
                s_cpu.append(sc / calls)
                extra.append((sw - aw) / calls)
            rows.append(
                (
                    name,
                    calls,
                    statistics.median(a_wall),
                    statistics.median(s_wall),
                    statistics.median(extra),
                    statistics.median(s / a for s, a in zip(s_wall, a_wall, strict=True)),
                    statistics.median(a_cpu),
                    statistics.median(s_cpu),
                )
            )

    us = 1e6
    print(
        f"server: {args.server}, rounds: {args.rounds}, stream chunks: {args.chunks}, "
        f"Python {sys.version.split()[0]}"
    )
    print()
    print(
        "| workload | calls/round | async µs/call | sync µs/call | sync overhead µs/call"
        " | sync/async | async CPU µs/call | sync CPU µs/call |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, calls, aw, sw, extra_wall, ratio, ac, sc in rows:
        print(
            f"| {name} | {calls} | {aw * us:.0f} | {sw * us:.0f} | {extra_wall * us:+.0f}"
            f" | {ratio:.2f}x | {ac * us:.0f} | {sc * us:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
