"""What OpenTelemetry costs a call: absent, installed with no provider, and with an SDK.

Usage: ``python benchmarks/bench_otel.py [--smoke] [--rounds N] [--calls N] [--streams N]``

Starts the benchmarks' raw fake server (``server.py``, in its own process, on
127.0.0.1), then, round after round (A B C A B C ...), runs one worker process
per setting:

- ``absent``: a meta-path hook makes ``import opentelemetry`` fail, as if the
  package were not installed (the client then installs logging only);
- ``no provider``: ``opentelemetry-api`` importable, no provider configured
  (the default observer reads the global providers per call and returns);
- ``sdk``: the SDK's ``TracerProvider`` with a ``SimpleSpanProcessor`` into an
  ``InMemorySpanExporter`` and a ``MeterProvider`` with an
  ``InMemoryMetricReader``, set as the global providers.

Each worker warms its client up, then measures client CPU
(``time.process_time``) for ``--calls`` sequential chat calls and ``--streams``
sequential streams read to the end, in batches: the best batch is the one least
disturbed by other processes (the machine may be shared), the median batch the
typical one. It also times the observers' hooks alone for one call, without
I/O: the part of a call this feature adds. The table shows medians over the
rounds and the difference from ``absent``. Logging stays at its default
(WARNING), as in most deployments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("absent", "no provider", "sdk")
BATCHES = 10

API_KEY = "sk-bench-not-a-real-key"
MODEL = "doubao-1-5-vision-pro-250328"


# -- the worker: one setting, one process -------------------------------------------


class _BlockOpenTelemetry:
    """A meta-path finder that makes ``opentelemetry`` look uninstalled."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"{name} is blocked by bench_otel (simulating absence)")


def _configure(mode: str) -> Any:
    """Set the process up for ``mode``; returns the span exporter for ``sdk``."""
    if mode == "absent":
        sys.meta_path.insert(0, _BlockOpenTelemetry())
        return None
    if mode == "no provider":
        return None
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return exporter


def _per_call(batches: list[float]) -> tuple[float, float]:
    return statistics.median(batches), min(batches)


def worker(mode: str, port: int, calls: int, streams: int) -> dict[str, object]:
    exporter = _configure(mode)
    sys.path[:0] = [str(HERE.parent)]
    import doubao_vision as dv

    messages = [dv.user("What is in this image?")]
    url = f"http://127.0.0.1:{port}/v1"
    result: dict[str, object] = {"mode": mode}

    async def read_stream(client: dv.AsyncClient) -> None:
        async with client.stream(MODEL, messages) as stream:
            async for _chunk in stream:
                pass

    async def run() -> None:
        async with dv.AsyncClient(API_KEY, base_url=url) as client:
            for _ in range(20):  # warm-up: pool, caches, instruments
                await client.chat(MODEL, messages)
                await read_stream(client)
            if exporter is not None:
                exporter.clear()
            chat: list[float] = []
            for _ in range(BATCHES):
                cpu = time.process_time()
                for _ in range(calls // BATCHES):
                    await client.chat(MODEL, messages)
                chat.append((time.process_time() - cpu) / (calls // BATCHES) * 1e6)
            stream: list[float] = []
            for _ in range(BATCHES):
                cpu = time.process_time()
                for _ in range(streams // BATCHES):
                    await read_stream(client)
                stream.append((time.process_time() - cpu) / (streams // BATCHES) * 1e6)
            result["chat_us"], result["chat_best_us"] = _per_call(chat)
            result["stream_us"], result["stream_best_us"] = _per_call(stream)
            result["otel_loaded"] = any(m.startswith("opentelemetry") for m in sys.modules)
            if exporter is not None:
                result["spans"] = len(exporter.get_finished_spans())
                exporter.clear()
            result["hooks_us"] = hook_cost(dv, messages, url)

    asyncio.run(run())
    return result


def hook_cost(dv: Any, messages: list[Any], url: str, rounds: int = 20000) -> float:
    """CPU µs of the default observers' hooks for one whole call (start, answer,
    finish), without any I/O."""
    from doubao_vision._observe import default_observers

    observers = default_observers()
    request = dv.ChatRequest(model=MODEL, messages=messages)
    completion = dv.ChatCompletion(id="x", choices=[], model=MODEL, usage=dv.Usage(10, 5, 15))
    now = time.perf_counter()
    call: Any = types.SimpleNamespace(
        kind="chat", method="POST", url=url + "/chat/completions", request=request,
        client_request_id="c", retries=0, started_at=now, attempt_started_at=now,
        ended_at=now, first_chunk_at=None, chunks=0, status=200,
        response_headers={"x-request-id": "r"}, body_size=100,
    )  # fmt: skip
    cpu = time.process_time()
    for _ in range(rounds):
        for observer in observers:
            observer.call_started(call)
        for observer in observers:
            observer.attempt_answered(call)
        for observer in observers:
            observer.call_finished(call, completion, None)
    return (time.process_time() - cpu) / rounds * 1e6


# -- the harness --------------------------------------------------------------------


@contextmanager
def raw_server(chunks: int) -> Iterator[int]:
    """The raw fake server in its own process; yields its port."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--chunks", str(chunks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"the fake server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the server stops when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_worker(mode: str, port: int, calls: int, streams: int) -> dict[str, object]:
    args = ["--worker", mode, "--port", str(port), "--calls", str(calls)]
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args, "--streams", str(streams)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {mode!r} failed:\n{proc.stderr}")
    data: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def table(results: dict[str, list[dict[str, Any]]], calls: int, streams: int) -> str:
    def median(mode: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in results[mode])

    def cell(mode: str, key: str) -> str:
        value, base = median(mode, key), median("absent", key)
        return f"{value:.0f} ({value / base - 1:+.1%})"

    rows = [
        f"client CPU µs per call, medians over {len(results['absent'])} rounds of "
        f"{calls} chat calls and {streams} streams ({BATCHES} batches each); "
        "raw loopback server; in brackets: vs absent",
        "",
        "| OpenTelemetry | chat, best batch | chat, median batch | stream, best batch "
        "| stream, median batch | hooks alone |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        rows.append(
            f"| {mode} | {cell(mode, 'chat_best_us')} | {cell(mode, 'chat_us')} "
            f"| {cell(mode, 'stream_best_us')} | {cell(mode, 'stream_us')} "
            f"| {median(mode, 'hooks_us'):.2f} |"
        )
    rows += [
        "",
        "best batch: the batch least disturbed by other processes; hooks alone: the "
        "observers' own work for one call (start, answer, finish), no I/O.",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a quick run: 2 rounds, few calls")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.port, args.calls, args.streams)))
        return
    rounds, calls, streams = (2, 200, 50) if args.smoke else (args.rounds, args.calls, args.streams)
    calls, streams = (
        max(calls, BATCHES) // BATCHES * BATCHES,
        max(streams, BATCHES) // BATCHES * BATCHES,
    )
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with raw_server(args.chunks) as port:
        for _ in range(rounds):
            for mode in MODES:
                results[mode].append(run_worker(mode, port, calls, streams))
    if results["absent"][0]["otel_loaded"]:
        raise RuntimeError("the 'absent' worker imported opentelemetry: the block failed")
    if results["sdk"][0].get("spans") != calls + streams:
        raise RuntimeError(f"the sdk worker recorded {results['sdk'][0].get('spans')} spans")
    print(table(results, calls, streams))


if __name__ == "__main__":
    main()
