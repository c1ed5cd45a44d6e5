"""Ray Data throughput of ``doubao_vision.ray.map_images``, and the cost of the cluster limiter.

Usage: ``python benchmarks/bench_ray.py [--smoke] [--rows N] [--actors 1 2 4] [--calls N]``

Starts the emulator on a thread of its own (its request log gives arrival
times) and a local Ray cluster bound to 127.0.0.1 (no dashboard, usage stats
off, ``num_cpus=2``), then in the same run:

1. rows/s of ``map_images`` over ``--rows`` distinct small PNGs for each actor
   count in ``--actors``, without a rate limit and with the cluster limiter
   on but never binding (``rpm`` far above what is reached), so the two
   columns differ only by the limiter's work; a warm-up job runs first;
2. the limiter's cost per call, from one process: ``acquire`` on the budget
   actor one call at a time (one round trip per call) and 16 callers at once
   (leases shared), next to the in-process ``RateLimiter``.

Each job's time includes starting its actors, as a user's job does. Prints a
markdown table. Talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

API_KEY = "bench-key"
PROMPT = "What is in the picture?"


class ThreadedEmulator:
    """The emulator on its own event loop in a thread: its request log gives arrival times."""

    def __init__(self) -> None:
        from doubao_vision.emulator import Emulator

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.emulator = Emulator(api_key=API_KEY, record_bodies=False)
        self.base_url: str = self._run(self.emulator.start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def arrivals(self) -> list[float]:
        """Arrival times of the chat requests since the last call, and forget them."""

        async def take() -> list[float]:
            times = [r.received_at for r in self.emulator.requests if r.method == "POST"]
            self.emulator.reset()
            return times

        return sorted(self._run(take()))

    def close(self) -> None:
        self._run(self.emulator.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def emulator() -> Iterator[ThreadedEmulator]:
    emu = ThreadedEmulator()
    try:
        yield emu
    finally:
        emu.close()


@contextmanager
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster on loopback that leaves nothing behind."""
    import ray
    import ray.data

    temp_dir = tempfile.mkdtemp(prefix="dvray-")
    try:
        ray.init(
            num_cpus=2,
            object_store_memory=200 * 2**20,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            _temp_dir=temp_dir,
            log_to_driver=False,
        )
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def run_job(
    ray: Any, emu: ThreadedEmulator, images: list[bytes], actors: int, rpm: float | None
) -> tuple[float, float]:
    """(wall seconds, steady rows/s at the emulator) to answer every image; checks every row."""
    from doubao_vision import MODEL_VISION_LITE
    from doubao_vision.ray import map_images

    emu.arrivals()
    ds = ray.data.from_items([{"image": data} for data in images])
    began = time.perf_counter()
    out = map_images(
        ds,
        prompt=PROMPT,
        model=MODEL_VISION_LITE,
        base_url=emu.base_url,
        api_key=API_KEY,
        concurrency=actors,
        max_in_flight=16,
        batch_size=100,
        rpm=rpm,
    ).materialize()
    seconds = time.perf_counter() - began
    failed = _failed(out)
    if out.count() != len(images) or failed:
        raise RuntimeError(f"{failed} of {out.count()} rows failed")
    times = emu.arrivals()
    # Between the 10th and the 90th percentile of arrivals: all actors are up and busy.
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]
    steady = (len(times) * 8 // 10) / (high - low) if high > low else float("nan")
    return seconds, steady


def _failed(out: Any) -> int:
    return sum(1 for row in out.select_columns(["error_type"]).iter_rows() if row["error_type"])


async def limiter_cost(calls: int, concurrent: int, limit: Any | None) -> float:
    """Microseconds per ``acquire``: the cluster budget (``limit``) or a local RateLimiter."""
    from doubao_vision import RateLimiter
    from doubao_vision.ray import ClusterRateLimiter

    limiter: Any = ClusterRateLimiter(limit) if limit is not None else RateLimiter(rpm=1e9)
    per_task = calls // concurrent

    async def caller() -> None:
        for _ in range(per_task):
            await limiter.acquire(None)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrent)))
    return (time.perf_counter() - began) / (per_task * concurrent) * 1e6


def ray_environment() -> None:
    """Read by Ray when it is first imported and by the processes it starts."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback, not the LAN address
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)  # no token file in $HOME


def main() -> int:
    ray_environment()  # before anything imports ray
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts, to check it runs")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--calls", type=int, default=4000, help="acquire calls per cost figure")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.actors, args.calls = 50, [1, 2], 160

    from doubao_vision._samples import make_png
    from doubao_vision.ray import cluster_limit

    images = [make_png(32, 24, seed=seed) for seed in range(args.rows)]
    rows: list[tuple[int, tuple[float, float], tuple[float, float]]] = []
    with emulator() as emu, ray_cluster() as ray:
        run_job(ray, emu, images[: min(100, len(images))], max(args.actors), None)  # warm-up
        for actors in args.actors:
            plain = run_job(ray, emu, images, actors, None)
            limited = run_job(ray, emu, images, actors, 1e9)
            rows.append((actors, plain, limited))
        budget = cluster_limit(name="bench-overhead")
        costs = {
            "local RateLimiter, 1 caller": asyncio.run(limiter_cost(args.calls, 1, None)),
            "local RateLimiter, 16 callers": asyncio.run(limiter_cost(args.calls, 16, None)),
            "cluster budget, 1 caller": asyncio.run(limiter_cost(args.calls, 1, budget)),
            "cluster budget, 16 callers": asyncio.run(limiter_cost(args.calls, 16, budget)),
        }
        stats = budget.stats()

    print(f"\n## map_images on Ray: {args.rows} rows of 32x24 PNGs\n")
    print("wall: the whole job, actor start included; steady: arrivals at the emulator,")
    print("10th to 90th percentile. 'limiter on': the cluster budget, rpm far above reach.\n")
    print("| actors | wall s | wall rows/s | steady rows/s | limited: wall rows/s | steady |")
    print("|---:|---:|---:|---:|---:|---:|")
    for actors, (wall, steady), (wall_l, steady_l) in rows:
        print(
            f"| {actors} | {wall:.1f} | {args.rows / wall:,.0f} | {steady:,.0f} "
            f"| {args.rows / wall_l:,.0f} | {steady_l:,.0f} |"
        )
    print("\n## Limiter cost per acquire (one process, no limit binding)\n")
    print("| limiter | µs per call |")
    print("|---|---:|")
    for name, micros in costs.items():
        print(f"| {name} | {micros:,.1f} |")
    leases, admitted = stats["leases"], stats["admitted"]
    print(f"\nBudget actor: {admitted} calls admitted in {leases} leases.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
