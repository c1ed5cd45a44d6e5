"""Ray Data: map_images on a local Ray cluster bound to 127.0.0.1, against the emulator.

One cluster (``num_cpus=2``, a 200 MB object store, no dashboard, usage stats
off) serves the whole module; its teardown checks that no Ray process is left.
The emulator runs in a thread with its own event loop, since Ray's API is
synchronous. Kept lean: the machine has 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import doubao_vision as dv
from doubao_vision import AuthenticationError, RateLimitError, RetryPolicy
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault, RecordedRequest

from .conftest import API_KEY

MODEL = dv.MODEL_VISION_LITE
PROMPT = "What is in the picture?"
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05, max_retry_after=5)
# Ray's own DeprecationWarnings, raised inside Ray Data when it copies its
# DataContext (it reads its own deprecated fields); nothing we call asks for them.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`use_push_based_shuffle` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`use_polars` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`use_arrow_tensor_v2` is deprecated:DeprecationWarning"),
    pytest.mark.timeout(180),
]


# -- fixtures ----------------------------------------------------------------------


class ThreadedEmulator:
    """The emulator on its own event loop in a thread, for synchronous Ray code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.emulator = Emulator(api_key=API_KEY)
        self.base_url = self.run(self.emulator.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def call(self, fn: Any, *args: Any) -> Any:
        async def call() -> Any:
            return fn(*args)

        return self.run(call())

    def requests(self) -> list[RecordedRequest]:
        return list(self.call(lambda: [r for r in self.emulator.requests if r.method == "POST"]))

    def close(self) -> None:
        self.run(self.emulator.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[ThreadedEmulator]:
    emu = ThreadedEmulator()
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def emu(emulator: ThreadedEmulator) -> ThreadedEmulator:
    emulator.call(emulator.emulator.reset)
    return emulator


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    return children


def descendants(root: int) -> set[int]:
    """Every process under ``root`` (Ray's raylet, GCS and workers under the test)."""
    children, found, todo = _children(), set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def ray_processes(temp_dir: str) -> list[str]:
    """Command lines of Ray processes of this test run still alive."""
    mine = descendants(os.getpid())
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ours = int(entry) in mine or temp_dir in cmdline
        if ours and re.search(r"raylet|gcs_server|ray::|default_worker", cmdline):
            left.append(cmdline)
    return left


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster on 127.0.0.1 for this module; nothing of it survives."""
    with pytest.MonkeyPatch.context() as env:
        # Read by Ray when it is imported and by the processes it starts: loopback
        # only (Ray advertises the machine's address otherwise), no usage stats, and
        # the cluster's auth token from the environment instead of a file in $HOME.
        env.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
        pytest.importorskip("ray.data")
        import ray

        temp_dir = tempfile.mkdtemp(prefix="dvray-")  # short: Ray puts unix sockets in it
        try:
            ray.init(
                num_cpus=2,
                object_store_memory=200 * 2**20,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                _temp_dir=temp_dir,
                log_to_driver=False,
            )
            ray.data.DataContext.get_current().enable_progress_bars = False
            yield ray
        finally:
            ray.shutdown()
            deadline = time.monotonic() + 15
            while ray_processes(temp_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = ray_processes(temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)
            assert not left, f"Ray processes left after shutdown: {left}"


def pngs(count: int, *, start: int = 0) -> list[bytes]:
    return [make_png(32, 24, seed=seed) for seed in range(start, start + count)]


def sha12(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:12]


def map_images(ds: Any, emu: ThreadedEmulator, **options: Any) -> Any:
    from doubao_vision.ray import map_images

    settings: dict[str, Any] = {
        "prompt": PROMPT,
        "model": MODEL,
        "base_url": emu.base_url,
        "api_key": API_KEY,
        "retry": FAST_RETRY,
        "concurrency": 4,
        "max_in_flight": 8,
    }
    settings.update(options)
    return map_images(ds, **settings)


# -- without Ray -------------------------------------------------------------------


def test_importing_doubao_vision_never_imports_ray() -> None:
    """import doubao_vision, its client and its emulator load no Ray module."""
    code = (
        "import sys, doubao_vision\n"
        "from doubao_vision import AsyncClient, RateLimiter\n"
        "import doubao_vision.emulator\n"
        "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_doubao_vision_ray_without_ray_names_the_extra() -> None:
    """Without Ray installed, importing doubao_vision.ray says to install the 'ray' extra."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import doubao_vision.ray\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'doubao-vision[ray]'" in done.stdout


# -- on a Ray cluster --------------------------------------------------------------


@pytest.mark.slow
def test_two_thousand_rows_through_four_actors_every_answer_right(
    ray_cluster: Any, emu: ThreadedEmulator
) -> None:
    """2,000 rows through 4 actors: each answer describes its own image; broken ones fail alone."""
    images = pngs(2000)
    broken = [b"not an image", images[0][:20], make_png(10, 10)]
    rows = [{"image": data, "n": n} for n, data in enumerate(images + broken)]
    ds = ray_cluster.data.from_items(rows)
    out = map_images(ds, emu, batch_size=50).take_all()

    assert len(out) == len(rows)
    by_n = {row["n"]: row for row in out}
    for n, data in enumerate(images):
        row = by_n[n]
        assert row["error_type"] is None, row["error_message"]
        assert f"png 32x24 {len(data)} bytes sha256:{sha12(data)}" in row["answer"]
        assert row["answer"].startswith(f"prompt: {PROMPT}")
        assert row["finish_reason"] == "stop"
        assert row["usage_prompt_tokens"] > 0 and row["usage_completion_tokens"] > 0
        assert row["request_id"]
    kinds = [by_n[2000 + i]["error_type"] for i in range(len(broken))]
    assert kinds == [
        "UnsupportedImageFormatError",
        "UnsupportedImageFormatError",
        "ImageDimensionsError",
    ]
    assert all(by_n[2000 + i]["answer"] is None for i in range(len(broken)))
    # Broken images are refused before sending; every good one was sent once.
    assert len(emu.requests()) == 2000
    assert len({row["resume_key"] for row in out}) == len(rows)


def test_ray_uses_only_loopback(ray_cluster: Any, emu: ThreadedEmulator) -> None:
    """While a job runs, every socket of the test's Ray processes is on 127.0.0.1."""
    ds = ray_cluster.data.from_items([{"image": data} for data in pngs(20)])
    out = map_images(ds, emu, concurrency=2).materialize()
    assert out.count() == 20
    pids = descendants(os.getpid()) | {os.getpid()}
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("needs ss (iproute2) to list sockets")
    listing = subprocess.run([ss, "-tanpH"], capture_output=True, text=True, check=True)
    ours = [
        line.split()
        for line in listing.stdout.splitlines()
        if {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & pids
    ]
    assert any("raylet" in " ".join(fields) for fields in ours)  # the check saw Ray
    for fields in ours:
        local, peer = fields[3], fields[4]
        assert re.match(r"(\[::ffff:)?127\.0\.0\.1\]?:", local), fields
        assert peer in ("*:*", "0.0.0.0:*") or re.match(r"(\[::ffff:)?127\.0\.0\.1\]?:", peer)


def test_paths_binary_files_and_decoded_arrays(
    ray_cluster: Any, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """Paths and read_binary_files bytes arrive intact; read_images arrays are sent as PNG."""
    images = pngs(6, start=5000)
    for n, data in enumerate(images):
        (tmp_path / f"{n}.png").write_bytes(data)
    data = ray_cluster.data
    by_path = data.from_items([{"image": str(tmp_path / f"{n}.png")} for n in range(6)])
    binary = data.read_binary_files(str(tmp_path), include_paths=True)
    arrays = data.read_images(str(tmp_path), include_paths=True)

    for row in map_images(by_path, emu, concurrency=1).take_all():
        data_ = (Path(row["image"])).read_bytes()
        assert f"sha256:{sha12(data_)}" in row["answer"]
    for row in map_images(binary, emu, image_column="bytes", concurrency=1).take_all():
        assert f"sha256:{sha12(Path(row['path']).read_bytes())}" in row["answer"]
    answered = map_images(arrays, emu, concurrency=1).drop_columns(["image"]).take_all()
    assert len(answered) == 6
    assert all(re.search(r"image 1: png 32x24 \d+ bytes", row["answer"]) for row in answered)


@pytest.mark.slow
def test_cluster_wide_rate_limit_within_ten_percent(
    ray_cluster: Any, emu: ThreadedEmulator
) -> None:
    """rpm=1500 shared by 4 actors: the emulator sees 25 requests/s (within 10%) after the burst."""
    ds = ray_cluster.data.from_items([{"image": data} for data in pngs(225, start=3000)])
    out = map_images(ds, emu, rpm=1500, batch_size=15).materialize()
    assert out.count() == 225
    times = sorted(r.received_at for r in emu.requests())
    assert len(times) == 225
    # The budget holds one second (25 requests); after that, the pace.
    steady = times[25:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate == pytest.approx(25.0, rel=0.1)
    for i, start in enumerate(times):  # never more than the burst plus the rate in a second
        assert sum(1 for t in times[i:] if t - start < 1.0) <= 25 + 25 + 1


def test_rerun_skips_rows_already_answered(
    ray_cluster: Any, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """A rerun into the same output asks nothing answered again and adds no answer; a new prompt asks all."""
    import pyarrow.dataset as pads  # type: ignore[import-untyped,unused-ignore]

    from doubao_vision.ray import answered_keys

    images = pngs(30, start=7000)
    good = ray_cluster.data.from_items([{"image": data} for data in images])
    ds = ray_cluster.data.from_items([{"image": data} for data in [*images, b"broken"]])
    results = str(tmp_path / "results")
    map_images(ds, emu, concurrency=1, resume_from=results).write_parquet(results)
    assert len(emu.requests()) == 30
    assert pads.dataset(results).count_rows() == 31

    # Everything answered: the rerun sends nothing and writes no row.
    map_images(good, emu, concurrency=1, resume_from=results).write_parquet(results)
    assert len(emu.requests()) == 30
    assert pads.dataset(results).count_rows() == 31
    # The failed row is tried again (and fails again, before anything is sent).
    again = map_images(ds, emu, concurrency=1, resume_from=results).take_all()
    assert [row["error_type"] for row in again] == ["UnsupportedImageFormatError"]
    assert len(emu.requests()) == 30
    assert len(answered_keys(results)) == 30

    other = map_images(ds, emu, concurrency=1, resume_from=results, prompt="Count the cats.")
    assert other.count() == 31
    assert len(emu.requests()) == 60


@pytest.mark.parametrize(
    ("fault", "api_key", "kind"),
    [
        (None, "sk-wrong", AuthenticationError),
        (Fault.quota(), API_KEY, RateLimitError),
    ],
    ids=["401", "quota"],
)
def test_fatal_error_stops_the_job_with_our_typed_error(
    ray_cluster: Any,
    emu: ThreadedEmulator,
    fault: Fault | None,
    api_key: str,
    kind: type[dv.APIStatusError],
) -> None:
    """A 401 or a used-up quota stops the job with our typed error (Ray's RayTaskError subclasses it)."""
    if fault is not None:
        emu.call(emu.emulator.script, *[fault] * 200)
    ds = ray_cluster.data.from_items([{"image": data} for data in pngs(100, start=9000)])
    with pytest.raises(kind) as info:
        map_images(ds, emu, api_key=api_key, concurrency=2).materialize()
    assert isinstance(info.value, ray_cluster.exceptions.RayTaskError)  # raised in an actor
    assert info.value.status_code == (401 if kind is AuthenticationError else 429)
    assert len(emu.requests()) < 100  # stopped early, not one failure per row


def test_a_429_cools_down_every_actor(ray_cluster: Any, emu: ThreadedEmulator) -> None:
    """One 429 (Retry-After: 1) mid-run closes the cluster's gate for every call, once."""
    from doubao_vision.ray import cluster_limit

    limit = cluster_limit(rpm=60_000, name="cool-down-test")
    # 20 plain answers (a zero-second "slow" fault is none), then one 429.
    emu.call(emu.emulator.script, *[Fault.slow(0.0)] * 20, Fault.rate_limited("1"))
    images = pngs(200, start=11000)
    ds = ray_cluster.data.from_items([{"image": data} for data in images])
    out = map_images(ds, emu, concurrency=2, max_in_flight=2, batch_size=10, limit=limit)
    assert [row["error_type"] for row in out.take_all()] == [None] * 200
    # Only this run's requests: an earlier job's actors may still be winding down.
    ours = {sha12(data) for data in images}
    requests = [r for r in emu.requests() if any(h in str(r.body) for h in ours)]
    limited = [r.received_at for r in requests if r.fault == "rate_limited"]
    assert len(limited) == 1 and len(requests) == 201
    # Only calls admitted before the gate closed (at most 2 actors x 2 in flight, less
    # the 429 itself, plus a lease already on its way) may arrive in the pause;
    # without the shared gate the run goes on at full speed.
    in_pause = [r for r in requests if limited[0] < r.received_at < limited[0] + 0.9]
    assert len(in_pause) <= 6
    assert limit.stats()["cooldowns"] == 1


def test_response_format_mapping_is_sent(ray_cluster: Any, emu: ThreadedEmulator) -> None:
    """response_format={"type": "json_object"} reaches the server; the answer is its JSON."""
    import orjson

    images = pngs(4, start=12000)
    ds = ray_cluster.data.from_items([{"image": data} for data in images])
    out = map_images(ds, emu, concurrency=1, response_format={"type": "json_object"})
    answers = {orjson.loads(row["answer"])["images"][0]["sha256"] for row in out.take_all()}
    assert answers == {sha12(data) for data in images}
    bodies = [r.body for r in emu.requests()]
    assert all(body["response_format"] == {"type": "json_object"} for body in bodies)


def test_response_format_class_fills_the_parsed_column(
    ray_cluster: Any, emu: ThreadedEmulator
) -> None:
    """response_format=SomeClass: each row's parsed column holds the object read from its answer."""
    import dataclasses

    import orjson

    @dataclasses.dataclass
    class Facts:  # defined here so Ray pickles it by value into the actors
        width: int
        height: int
        format: str

    images = pngs(3, start=13000)
    ds = ray_cluster.data.from_items([{"image": data} for data in images])
    out = map_images(
        ds, emu, concurrency=1, model="doubao-seed-1-6-vision-250815", response_format=Facts
    ).take_all()
    assert all(row["error_type"] is None for row in out), out
    parsed = [orjson.loads(row["parsed"]) for row in out]
    assert all(p["format"] == "png" and p["width"] > 0 and p["height"] > 0 for p in parsed)
    bodies = [r.body for r in emu.requests()]
    assert all(body["response_format"]["type"] == "json_schema" for body in bodies)


def test_budget_grants_the_leading_calls_that_fit(ray_cluster: Any) -> None:
    """A lease grants at once the prefix of calls its buckets hold: 10 of 20 at 600 rpm, 2 of 3 by tokens."""
    from doubao_vision.ray._limiter import _Budget

    async def leases() -> tuple[tuple[int, int], tuple[int, int]]:
        by_requests = await _Budget(600, None, 0.25).lease([0] * 20)
        by_tokens = await _Budget(None, 600, 0.25).lease([4, 4, 4])
        return by_requests, by_tokens

    assert asyncio.run(leases()) == ((10, 0), (2, 0))


def test_budget_cools_down_once_per_burst_then_probes(ray_cluster: Any) -> None:
    """A 429 starts one cool-down; echoes of the same burst do not; then one probe goes first."""
    from doubao_vision.ray._limiter import _Budget

    budget = _Budget(None, None, 60.0)
    budget.cool_down(0.0, 0)  # a call admitted under generation 0
    budget.cool_down(0.0, 0)  # another of the same burst: an echo
    assert budget.cooldowns == 1
    granted, generation = asyncio.run(budget.lease([0] * 5))
    assert (granted, generation) == (1, 1)  # half-open: a single probe
    budget.cool_down(0.0, 1)  # the probe's own 429: a new cool-down
    assert budget.cooldowns == 2
