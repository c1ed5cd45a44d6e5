"""One contender running one workload, in a fresh process; prints one JSON line.

Usage (the harness runs this; see ``run.py``)::

    python benchmarks/client.py CONTENDER WORKLOAD --port P --inputs DIR

It pins itself to the core the harness names in ``DOUBAO_BENCH_CPU``. Only the
workload is measured: imports, reading the inputs and a warm-up (which
also fills the connection pool) come first. The figures are client CPU
(``getrusage`` user+sys), wall time, the RSS before the workload, its peak during
it (the high-water mark is reset just before, through ``/proc/self/clear_refs``)
and, for the hold workload, the RSS while every stream is open.

Every answer is checked (completion text, stream text, chunk count, usage), so
no contender wins by skipping work. Images reach each contender the way its
users hold them: raw bytes, a ``pathlib.Path``, or an OpenAI-style dict message
whose image is already a base64 data URL (the ``-dataurl`` workloads; the data
URLs are made before the clock starts, as a migrating user already has them).
Stream workloads also count the garbage collector's runs per generation.
Exit status: 0 ok, 1 a failed check or an error, 3 the contender is not installed
(the harness reports it as skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import itertools
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server import MODEL, pin_to_cpu, stream_text

PROMPT = "What is in this image?"
STREAM_PROMPT = "Describe the picture in detail."
API_KEY = "sk-bench-not-a-real-key"
PAGE = os.sysconf("SC_PAGE_SIZE")

OnFirst = Callable[[], Awaitable[None]] | None


class Unavailable(Exception):
    """The contender's package (or extra) is not installed."""


class CheckFailed(Exception):
    """A contender's answer is not what the server sent."""


# -- contenders ---------------------------------------------------------------
#
# Each does what a user of that library would write: build the messages with the
# image as a base64 data URL, send, read, pull out the text. ``complete`` takes
# the image as bytes, a Path, or a ready data URL (str). ``stream`` returns
# (text, chunks, completion_tokens from the usage chunk), sends ``image`` (a data
# URL) when given, and awaits ``on_first`` after the first chunk (the hold
# workload's barrier).

Image = bytes | str | Path


def data_url(image: Image) -> str:
    """What the raw and openai contenders send: a data URL, made the plain way."""
    if isinstance(image, str):
        return image
    data = image.read_bytes() if isinstance(image, Path) else image
    return f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}"


def dict_messages(prompt: str, url: str | None) -> list[dict[str, Any]]:
    """An OpenAI-style user message: the text, and the image as a data URL if any."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    if url is not None:
        content.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "user", "content": content}]


async def collect_chunks(chunks: Any, on_first: OnFirst) -> tuple[str, int, int]:
    """Text, chunk count and completion tokens of an SDK's typed chunk stream
    (ours and openai's have the same shape)."""
    parts: list[str] = []
    n = tokens = 0
    async for chunk in chunks:
        n += 1
        if chunk.choices:
            content = chunk.choices[0].delta.content
            if content:
                parts.append(content)
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
        if n == 1 and on_first is not None:
            await on_first()
    return "".join(parts), n, tokens


class DoubaoVision:
    def __init__(self, base_url: str, connections: int) -> None:
        from doubao_vision import AsyncClient

        self.client = AsyncClient(API_KEY, base_url=base_url, max_connections=connections)

    async def complete(self, image: Image) -> str:
        from doubao_vision import user

        # A data URL comes in an OpenAI-style dict, as a user migrating from openai has it.
        messages = dict_messages(PROMPT, image) if isinstance(image, str) else [user(PROMPT, image)]
        completion = await self.client.chat(MODEL, messages)
        return completion.text

    async def stream(self, on_first: OnFirst, image: str | None = None) -> tuple[str, int, int]:
        from doubao_vision import user

        messages = dict_messages(STREAM_PROMPT, image) if image else [user(STREAM_PROMPT)]
        async with self.client.stream(MODEL, messages) as stream:
            return await collect_chunks(stream, on_first)

    async def close(self) -> None:
        await self.client.aclose()


class RawAiohttp:
    """The floor: aiohttp, a JSON library, and the SSE framing done by hand."""

    def __init__(self, base_url: str, connections: int, *, use_orjson: bool) -> None:
        import aiohttp

        if use_orjson:
            import orjson

            self.dumps: Callable[[Any], bytes] = orjson.dumps
            self.loads: Callable[[bytes], Any] = orjson.loads
        else:
            self.dumps = lambda obj: json.dumps(obj).encode()
            self.loads = json.loads
        self.url = f"{base_url}/chat/completions"
        self.headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

    async def complete(self, image: Image) -> str:
        payload = {"model": MODEL, "messages": dict_messages(PROMPT, data_url(image))}
        async with self.session.post(self.url, data=self.dumps(payload), headers=self.headers) as r:
            raw = await r.read()
            if r.status != 200:
                raise CheckFailed(f"HTTP {r.status}: {raw[:200]!r}")
        return str(self.loads(raw)["choices"][0]["message"]["content"])

    async def stream(self, on_first: OnFirst, image: str | None = None) -> tuple[str, int, int]:
        payload = {
            "model": MODEL,
            "messages": dict_messages(STREAM_PROMPT, image),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        parts: list[str] = []
        n = tokens = 0
        loads = self.loads
        async with self.session.post(self.url, data=self.dumps(payload), headers=self.headers) as r:
            if r.status != 200:
                raise CheckFailed(f"HTTP {r.status}")
            buffer = b""
            async for data in r.content.iter_any():
                lines = (buffer + data).split(b"\n")
                buffer = lines.pop()
                for line in lines:
                    if not line.startswith(b"data: "):
                        continue
                    body = line[6:]
                    if body == b"[DONE]":
                        break
                    chunk = loads(body)
                    n += 1
                    choices = chunk["choices"]
                    if choices:
                        content = choices[0]["delta"].get("content")
                        if content:
                            parts.append(content)
                    usage = chunk.get("usage")
                    if usage:
                        tokens = usage["completion_tokens"]
                    if n == 1 and on_first is not None:
                        await on_first()
        return "".join(parts), n, tokens

    async def close(self) -> None:
        await self.session.close()


class OpenAI:
    def __init__(self, base_url: str, connections: int, *, aiohttp_transport: bool) -> None:
        # The SDK's defaults, as a user gets them: a pool of up to 1,000 connections.
        try:
            import openai
        except ImportError as exc:
            raise Unavailable(f"openai is not installed ({exc})") from None
        http_client = None
        if aiohttp_transport:
            try:
                http_client = openai.DefaultAioHttpClient()
            except RuntimeError as exc:  # installed without the aiohttp extra
                raise Unavailable(str(exc)) from None
        self.client = openai.AsyncOpenAI(
            api_key=API_KEY, base_url=base_url, http_client=http_client
        )

    async def complete(self, image: Image) -> str:
        completion = await self.client.chat.completions.create(
            model=MODEL,
            messages=dict_messages(PROMPT, data_url(image)),  # type: ignore[arg-type]
        )
        return completion.choices[0].message.content or ""

    async def stream(self, on_first: OnFirst, image: str | None = None) -> tuple[str, int, int]:
        stream = await self.client.chat.completions.create(  # type: ignore[call-overload]
            model=MODEL,
            messages=dict_messages(STREAM_PROMPT, image),
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            return await collect_chunks(stream, on_first)

    async def close(self) -> None:
        await self.client.close()


CONTENDERS: dict[str, Callable[[str, int], Any]] = {
    "doubao_vision": DoubaoVision,
    "aiohttp+json": lambda url, n: RawAiohttp(url, n, use_orjson=False),
    "aiohttp+orjson": lambda url, n: RawAiohttp(url, n, use_orjson=True),
    "openai": lambda url, n: OpenAI(url, n, aiohttp_transport=False),
    "openai+aiohttp": lambda url, n: OpenAI(url, n, aiohttp_transport=True),
}


# -- measuring ----------------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


def reset_peak() -> bool:
    """Reset the RSS high-water mark (Linux >= 4.0), so the peak is the workload's own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_kb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def pooled(n: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> None:
    """Run ``job(0..n-1)`` on ``concurrency`` workers (the same shape for everyone)."""
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            await job(i)

    await asyncio.gather(*(worker() for _ in range(min(n, concurrency))))


def gc_runs() -> list[int]:
    """Collections so far, per generation (young, middle, full heap)."""
    return [g["collections"] for g in gc.get_stats()]


class Measure:
    def __init__(self) -> None:
        gc.collect()
        self.rss_start = rss_kb()
        self.peak_reset = reset_peak()
        self.gc = gc_runs()
        self.cpu = cpu_s()
        self.wall = time.perf_counter()

    def done(self) -> dict[str, Any]:
        cpu = cpu_s() - self.cpu
        wall = time.perf_counter() - self.wall
        runs = [b - a for a, b in zip(self.gc, gc_runs(), strict=True)]
        peak = peak_kb()
        return {
            "gc_runs": runs,
            "cpu_s": cpu,
            "wall_s": wall,
            "rss_start_kb": self.rss_start,
            "rss_end_kb": rss_kb(),
            "peak_kb": peak,
            "peak_growth_kb": peak - self.rss_start,
            "peak_reset": self.peak_reset,
        }


# -- workloads ----------------------------------------------------------------


async def requests_workload(
    contender: Any,
    images: list[Image],
    answers: list[str],
    n: int,
    concurrency: int,
    warm_images: list[Image],
    warm_answers: list[str],
) -> dict[str, Any]:
    async def call(pool: list[Image], expected: list[str], i: int) -> None:
        k = i % len(pool)
        got = await contender.complete(pool[k])
        if got != expected[k]:
            raise CheckFailed(f"request {i}: answer {got!r}, expected {expected[k]!r}")

    await pooled(concurrency, concurrency, lambda i: call(warm_images, warm_answers, i))
    measure = Measure()
    await pooled(n, concurrency, lambda i: call(images, answers, i))
    return {**measure.done(), "requests": n}


async def stream_workload(
    contender: Any, streams: int, concurrency: int, chunks: int
) -> dict[str, Any]:
    expected = (stream_text(chunks), chunks + 2, chunks)

    async def one(i: int) -> None:
        got = await contender.stream(None)
        if got != expected:
            raise CheckFailed(f"stream {i}: got {_short(got)}, expected {_short(expected)}")

    await pooled(concurrency, concurrency, one)
    measure = Measure()
    await pooled(streams, concurrency, one)
    return {**measure.done(), "streams": streams, "chunks": streams * (chunks + 2)}


async def hold_workload(
    contender: Any, streams: int, chunks: int, warm: int, images: list[str]
) -> dict[str, Any]:
    """``streams`` streams open at once; each sends ``images[i % len]`` if any."""
    expected = (stream_text(chunks), chunks + 2, chunks)

    async def run(n: int) -> tuple[dict[str, Any], int]:
        opened = 0
        all_open = asyncio.Event()
        release = asyncio.Event()

        async def barrier() -> None:
            nonlocal opened
            opened += 1
            if opened == n:
                all_open.set()
            await release.wait()

        async def one(i: int) -> None:
            image = images[i % len(images)] if images else None
            got = await contender.stream(barrier, image)
            if got != expected:
                raise CheckFailed(f"stream {i}: got {_short(got)}, expected {_short(expected)}")

        measure = Measure()
        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        waiter = asyncio.ensure_future(all_open.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():  # a stream failed before all were open
            waiter.cancel()
            await asyncio.gather(*tasks)
        rss_open = rss_kb()
        release.set()
        await asyncio.gather(*tasks)
        return measure.done(), rss_open

    await run(warm)
    figures, rss_open = await run(streams)
    return {
        **figures,
        "streams": streams,
        "chunks": streams * (chunks + 2),
        "rss_open_kb": rss_open,
        "rss_per_stream_kb": (rss_open - figures["rss_start_kb"]) / streams,
    }


def _short(got: tuple[str, int, int]) -> str:
    text, n, tokens = got
    return f"({len(text)} chars, {n} chunks, {tokens} tokens)"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    inputs = Path(args.inputs)
    spec = json.loads((inputs / "spec.json").read_text())
    work = spec["workloads"][args.workload]
    base_url = f"http://127.0.0.1:{args.port}/v1"
    connections = work["concurrency"]
    # doubao_vision@NAME: the SDK from another folder (run.py --compare sets PYTHONPATH).
    make = CONTENDERS[args.contender.partition("@")[0]]
    contender = make(base_url, connections)
    form = work.get("input", "bytes")

    def load(name: str) -> Image:
        """The image as this workload hands it over (read before the clock starts)."""
        if form == "path":
            return inputs / name
        data = (inputs / name).read_bytes()
        return data_url(data) if form == "dataurl" else data

    try:
        if work["kind"] == "requests":
            pool = [load(name) for name in work["images"]]
            warm = [load(name) for name in work["warm_images"]]
            return await requests_workload(
                contender,
                pool,
                work["answers"],
                work["requests"],
                connections,
                warm,
                work["warm_answers"],
            )
        if work["kind"] == "stream":
            return await stream_workload(contender, work["streams"], connections, work["chunks"])
        if work["kind"] == "hold":
            images = [str(load(name)) for name in work.get("images", [])]
            return await hold_workload(
                contender, work["streams"], work["chunks"], work["warm"], images
            )
        raise SystemExit(f"unknown workload {args.workload}")
    finally:
        await contender.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contender", help=f"one of {sorted(CONTENDERS)}, or doubao_vision@NAME")
    parser.add_argument("workload", help="a workload named in the inputs' spec.json")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--inputs", required=True, help="the folder run.py prepared")
    args = parser.parse_args()
    pin_to_cpu()
    result: dict[str, Any] = {"contender": args.contender, "workload": args.workload}
    status = 0
    try:
        result.update(asyncio.run(main_async(args)), ok=True)
    except Unavailable as exc:
        result.update(ok=False, skipped=str(exc))
        status = 3
    except Exception as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
        status = 1
    print(json.dumps(result), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
