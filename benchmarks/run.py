"""Speed and memory of doubao_vision against raw aiohttp and the openai SDK.

Usage::

    python benchmarks/run.py [--smoke] [--workload W ...] [--runs N] [--contender C ...]
                             [--package-root DIR] [--out NAME]

Starts the fake server (``server.py``) in its own process per workload, then
runs every contender (``client.py``) in a fresh process, alternating
(A B C A B C ...), ``--runs`` times (default 5). Each figure is the median over the runs;
each ratio is taken against floor B (raw aiohttp + orjson) *of the same run*,
then the median of those. Writes a markdown table (``report.py``) to stdout and to
``benchmarks/results/<NAME>.md`` (default ``latest``), the raw numbers to ``<NAME>.json``.
The method and every row are described in ``benchmarks/README.md``.

Workloads: small, small-dataurl, small-path (non-streaming requests with a ~100 KB
image as bytes, as an OpenAI-style dict with a data URL, as a Path), stream (long
streams, written as fast as the server can), stream-paced (events 1 ms apart, as a
model sends tokens: one event per read), big, big-dataurl (10 MB images), hold,
hold-dataurl (many streams open at once), costs (a stream chunk's CPU stage by stage,
``chunk_costs.py``), decode (the SSE decoder alone, ``bench_sse.py``), import
(``import doubao_vision``).

``--package-root DIR`` measures the doubao_vision found in DIR (another checkout,
e.g. an older commit) with this harness. ``--smoke`` uses tiny counts and one run,
for CI. The exit status is 1 if any contender's answers failed their check (a slow
contender never fails).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import bench_sse  # noqa: E402 -- after the path set-up above
import report as rendering  # noqa: E402
from report import FLOOR_A, FLOOR_B, HTTP_WORKLOADS, IMPORTS, MIB  # noqa: E402
from server import image_answer  # noqa: E402

from doubao_vision._samples import make_png_of_size  # noqa: E402

CONTENDERS = ["doubao_vision", "aiohttp+json", "aiohttp+orjson", "openai", "openai+aiohttp"]
ALL_WORKLOADS = [*HTTP_WORKLOADS, "costs", "decode", "import"]
BIG_IMAGE = 10 * MIB - 64 * 1024  # just under the 10 MiB the API (and the SDK) accept


def workloads(smoke: bool) -> dict[str, dict[str, Any]]:
    """Counts per workload; ``server`` is how the fake server paces its streams."""
    if smoke:
        small = {"requests": 20, "concurrency": 8, "image": 100_000, "pool": 2}
        big = {"requests": 1, "concurrency": 1, "image": MIB, "warm_image": 100_000}
        hold = {"streams": 10, "warm": 2, "server": (5, 20)}
        stream = {"streams": 3, "concurrency": 3, "server": (10, 0)}
        paced = {"streams": 3, "concurrency": 3, "server": (10, 1)}
    else:
        small = {"requests": 2000, "concurrency": 64, "image": 100_000, "pool": 16}
        big = {"requests": 20, "concurrency": 4, "image": BIG_IMAGE, "warm_image": MIB}
        hold = {"streams": 1000, "warm": 20, "server": (20, 100)}
        stream = {"streams": 200, "concurrency": 20, "server": (500, 0)}
        # As a model sends tokens: 1 ms apart, so each read brings one event (the
        # stream row's server writes as fast as it can: ~250 events a read).
        paced = {"streams": 60, "concurrency": 20, "server": (200, 1)}
    return {
        "small": small,
        "small-dataurl": {**small, "input": "dataurl"},
        "small-path": {**small, "input": "path"},
        "stream": stream,
        "stream-paced": paced,
        "big": big,
        "big-dataurl": {**big, "input": "dataurl"},
        "hold": hold,
        "hold-dataurl": {**hold, "input": "dataurl"},
    }


# -- inputs -------------------------------------------------------------------


def prepare_inputs(folder: Path, counts: dict[str, dict[str, Any]]) -> None:
    """Write the images and the answers the server must give for each to ``folder``."""

    def save(name: str, data: bytes) -> tuple[str, str]:
        (folder / name).write_bytes(data)
        return name, image_answer(base64.b64encode(data))

    spec: dict[str, Any] = {}
    small = counts["small"]
    pool = [
        save(f"small-{i}.png", make_png_of_size(small["image"], seed=i))
        for i in range(small["pool"])
    ]
    big = counts["big"]
    name, answer = save("big.png", make_png_of_size(big["image"], seed=99))
    warm_name, warm_answer = save("big-warm.png", make_png_of_size(big["warm_image"], seed=98))
    for workload, count in counts.items():
        base = workload.split("-")[0]
        form = count.get("input", "bytes")
        if base == "small":
            spec[workload] = {
                "kind": "requests",
                "input": form,
                "requests": count["requests"],
                "concurrency": count["concurrency"],
                "images": [name for name, _ in pool],
                "answers": [answer for _, answer in pool],
                "warm_images": [name for name, _ in pool],
                "warm_answers": [answer for _, answer in pool],
            }
        elif base == "big":
            spec[workload] = {
                "kind": "requests",
                "input": form,
                "requests": count["requests"],
                "concurrency": count["concurrency"],
                "images": [name],
                "answers": [answer],
                "warm_images": [warm_name],
                "warm_answers": [warm_answer],
                "image_bytes": (folder / name).stat().st_size,
            }
        elif base == "stream":
            spec[workload] = {
                "kind": "stream",
                "streams": count["streams"],
                "concurrency": count["concurrency"],
                "chunks": count["server"][0],
                "delay_ms": count["server"][1],
            }
        else:  # hold: with a data URL, each stream sends one of the small images
            spec[workload] = {
                "kind": "hold",
                "input": form,
                "streams": count["streams"],
                "concurrency": count["streams"],
                "warm": count["warm"],
                "chunks": count["server"][0],
                "images": [name for name, _ in pool] if form == "dataurl" else [],
                "image_bytes": (folder / pool[0][0]).stat().st_size if form == "dataurl" else 0,
            }
    (folder / "spec.json").write_text(json.dumps({"workloads": spec}))


# -- processes ----------------------------------------------------------------

# With two or more cores, the server gets the last one and each client the first
# (server.py and client.py pin themselves to the core named in PIN_ENV), so neither
# is migrated onto the other's core in the middle of a run.
PIN_ENV = "DOUBAO_BENCH_CPU"
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
# --package-root: the doubao_vision the clients (and the import rows) load.
PACKAGE_ROOT: list[str] = []
# --compare NAME=DIR: contender "doubao_vision@NAME" loads the doubao_vision in DIR.
COMPARE: dict[str, str] = {}


def _env(cpu_index: int, contender: str = "") -> dict[str, str]:
    env = dict(os.environ)
    root = COMPARE.get(contender.partition("@")[2]) if "@" in contender else None
    roots = [root] if root else PACKAGE_ROOT
    if roots:
        env["PYTHONPATH"] = os.pathsep.join([*roots, env.get("PYTHONPATH", "")])
    env.pop(PIN_ENV, None)
    if len(_CPUS) >= 2:
        env[PIN_ENV] = str(_CPUS[cpu_index])
    return env


@contextlib.contextmanager
def fake_server(chunks: int, delay_ms: float) -> Iterator[int]:
    """The server in its own process; yields its port. Closing its stdin stops it."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "server.py"),
            "--chunks",
            str(chunks),
            "--delay-ms",
            str(delay_ms),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(-1),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"the fake server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_cpu(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=10) as resp:
        return float(json.loads(resp.read())["cpu"])


def run_client(contender: str, workload: str, port: int, inputs: Path) -> dict[str, Any]:
    before = server_cpu(port)
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "client.py"),
            contender,
            workload,
            "--port",
            str(port),
            "--inputs",
            str(inputs),
        ],
        capture_output=True,
        text=True,
        env=_env(0, contender),
        timeout=900,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        result = {
            "contender": contender,
            "workload": workload,
            "ok": False,
            "error": f"exit {proc.returncode}",
        }
    if not result.get("ok") and not result.get("skipped"):
        tail = proc.stderr.strip().splitlines()[-12:]
        print(f"  ! {contender} / {workload} failed: {result.get('error')}", file=sys.stderr)
        for line in tail:
            print(f"    {line}", file=sys.stderr)
    result["server_cpu_s"] = server_cpu(port) - before
    return result


# -- the HTTP workloads -------------------------------------------------------


def per_unit(result: dict[str, Any], workload: str) -> float:
    """The CPU figure that is compared: per request, per chunk, or per stream."""
    base = workload.split("-")[0]
    if base in ("small", "big"):
        return float(result["cpu_s"]) / int(result["requests"])
    if base == "stream":
        return float(result["cpu_s"]) / int(result["chunks"])
    return float(result["cpu_s"]) / int(result["streams"])


def memory_figure(result: dict[str, Any], workload: str, spec: dict[str, Any]) -> float:
    """KB: peak growth per in-flight image (big), RSS per open stream (hold), else peak RSS."""
    base = workload.split("-")[0]
    if base == "big":
        return float(result["peak_growth_kb"]) / int(spec["concurrency"])
    if base == "hold":
        return float(result["rss_per_stream_kb"])
    return float(result["peak_kb"])


def gc_per_100k(result: dict[str, Any]) -> list[float]:
    """Garbage-collector runs (young, middle, full) per 100,000 stream chunks."""
    return [runs * 1e5 / result["chunks"] for runs in result.get("gc_runs", [0, 0, 0])]


def bench_http(
    workload: str,
    spec: dict[str, Any],
    server: tuple[int, float],
    contenders: list[str],
    runs: int,
    inputs: Path,
) -> dict[str, Any]:
    per_run: list[dict[str, dict[str, Any]]] = []
    skipped: dict[str, str] = {}
    with fake_server(*server) as port:
        for r in range(runs):
            row: dict[str, dict[str, Any]] = {}
            for name in contenders:
                if name in skipped:
                    continue
                t0 = time.perf_counter()
                result = run_client(name, workload, port, inputs)
                if result.get("skipped"):
                    skipped[name] = result["skipped"]
                    print(f"  {workload}: {name} skipped ({result['skipped']})", file=sys.stderr)
                    continue
                row[name] = result
                status = "ok" if result.get("ok") else "FAILED"
                print(
                    f"  {workload} run {r + 1}/{runs}: {name:<15} {status} "
                    f"({time.perf_counter() - t0:.1f}s)",
                    file=sys.stderr,
                )
            per_run.append(row)
    summary: dict[str, Any] = {}
    for name in contenders:
        results = [row[name] for row in per_run if name in row]
        if not results:
            continue
        ok = all(res.get("ok") for res in results)
        entry: dict[str, Any] = {"ok": ok, "runs": len(results)}
        if not ok:
            entry["error"] = next(res.get("error") for res in results if not res.get("ok"))
            summary[name] = entry
            continue
        entry.update(
            cpu_unit=statistics.median(per_unit(res, workload) for res in results),
            cpu_s=statistics.median(res["cpu_s"] for res in results),
            wall_s=statistics.median(res["wall_s"] for res in results),
            peak_kb=statistics.median(res["peak_kb"] for res in results),
            memory_kb=statistics.median(memory_figure(res, workload, spec) for res in results),
            server_share=statistics.median(res["server_cpu_s"] / res["cpu_s"] for res in results),
            cpu_spread=[
                min(per_unit(r, workload) for r in results),
                max(per_unit(r, workload) for r in results),
            ],
        )
        if "chunks" in results[0] and "gc_runs" in results[0]:
            per_run_gc = [gc_per_100k(res) for res in results]
            entry["gc_per_100k"] = [statistics.median(g[i] for g in per_run_gc) for i in range(3)]
        for floor, key in (
            (FLOOR_B, "cpu_ratio"),
            ("openai", "cpu_ratio_openai"),
            (FLOOR_B, "memory_ratio"),
            (FLOOR_A, "memory_ratio_a"),
        ):
            ratios = []
            for row in per_run:
                if name in row and floor in row and row[name].get("ok") and row[floor].get("ok"):
                    mine, theirs = row[name], row[floor]
                    if key.startswith("cpu_ratio"):
                        a, b = per_unit(mine, workload), per_unit(theirs, workload)
                    else:
                        a, b = (
                            memory_figure(mine, workload, spec),
                            memory_figure(theirs, workload, spec),
                        )
                    if b > 0:
                        ratios.append(a / b)
            if ratios:
                entry[key] = statistics.median(ratios)
                entry[key + "_spread"] = [min(ratios), max(ratios)]
        summary[name] = entry
    return {"spec": spec, "contenders": summary, "skipped": skipped, "runs": per_run}


# -- decode and import --------------------------------------------------------


def bench_decode(smoke: bool) -> dict[str, Any]:
    rows = bench_sse.run(smoke)
    by = {(r["workload"], r["decoder"]): r for r in rows}
    workloads_seen = list(dict.fromkeys(r["workload"] for r in rows))
    chat, small, large = workloads_seen[0], workloads_seen[-2], workloads_seen[-1]
    out: dict[str, Any] = {"rows": rows, "chat": chat, "small_event": small, "large_event": large}
    if (chat, "openai") in by:
        out["speedup_vs_openai"] = (
            by[chat, "doubao_vision"]["events_per_s"] / by[chat, "openai"]["events_per_s"]
        )
    out["growth"] = {
        name: by[large, name]["seconds"] / by[small, name]["seconds"]
        for name in dict.fromkeys(r["decoder"] for r in rows)
    }
    return out


def bench_import(smoke: bool) -> dict[str, Any]:
    """Import times in fresh interpreters (medians), and the heaviest imports."""
    code = "import time; t = time.perf_counter(); {0}; print(time.perf_counter() - t)"
    repeat = 3 if smoke else 9
    out: dict[str, Any] = {"rows": {}}
    for label, statement in IMPORTS.items():
        times = []
        for _ in range(repeat):
            proc = subprocess.run(
                [sys.executable, "-c", code.format(statement)],
                capture_output=True,
                text=True,
                check=False,
                env=_env(0),
            )
            if proc.returncode != 0:
                break
            times.append(float(proc.stdout))
        if times:
            out["rows"][label] = statistics.median(times)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import doubao_vision"],
        capture_output=True,
        text=True,
        check=False,
        env=_env(0),
    )
    # The packages it pulls in (cumulative, so nested ones count in their importer
    # too) and the self time of doubao_vision's own modules.
    packages: dict[str, int] = {}
    own = 0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| *(\S+)", line)
        if not m:
            continue
        self_us, cumulative_us, name = int(m.group(1)), int(m.group(2)), m.group(3)
        if name.startswith("doubao_vision"):
            own += self_us
        elif "." not in name and not name.startswith("_"):
            packages[name] = max(packages.get(name, 0), cumulative_us)
    heavy = sorted(packages.items(), key=lambda item: -item[1])[:6]
    out["heaviest"] = [{"module": name, "cumulative_ms": us / 1000} for name, us in heavy]
    out["own_modules_ms"] = own / 1000
    return out


def bench_costs(smoke: bool) -> dict[str, Any]:
    """A stream chunk's CPU stage by stage (``chunk_costs.py``, in its own process)."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "chunk_costs.py"), "--json", *(["--quick"] if smoke else [])],
        capture_output=True,
        text=True,
        check=False,
        env=_env(0),
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"chunk_costs.py failed: {proc.stderr.strip()[-400:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one run (CI)")
    parser.add_argument("--workload", nargs="+", choices=ALL_WORKLOADS, default=ALL_WORKLOADS)
    parser.add_argument(
        "--runs", type=int, default=None, help="alternating runs (default 5; smoke 1)"
    )
    parser.add_argument("--contender", nargs="+", choices=CONTENDERS, default=CONTENDERS)
    parser.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="NAME=DIR",
        help="also run contender doubao_vision@NAME with the doubao_vision in DIR "
        "(e.g. a checkout of an older commit), alternating with the others",
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        metavar="CONTENDER:WORKLOAD",
        help="leave a contender out of one workload (to save time on a slow peer)",
    )
    parser.add_argument(
        "--package-root", help="measure the doubao_vision in this folder (another checkout)"
    )
    parser.add_argument("--out", default="latest", help="results/<OUT>.md and .json")
    args = parser.parse_args()
    if args.package_root:
        PACKAGE_ROOT[:] = [str(Path(args.package_root).resolve())]
    contenders = list(args.contender)
    for item in args.compare:
        name, _, folder = item.partition("=")
        COMPARE[name] = str(Path(folder).resolve())
        contenders.insert(1, f"doubao_vision@{name}")
    runs = args.runs or (1 if args.smoke else 5)
    counts = workloads(args.smoke)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.date.today().isoformat(),
            "smoke": args.smoke,
            "runs": runs,
            "machine": rendering.machine(),
            "versions": {
                "python": platform.python_version(),
                **{
                    d: rendering.version(d)
                    for d in ("aiohttp", "orjson", "openai", "doubao-vision")
                },
            },
            # Names only: a results file is committed, and this machine's paths are not.
            "package_root": Path(args.package_root).name if args.package_root else None,
            "compare": {name: Path(folder).name for name, folder in COMPARE.items()},
        },
        "workloads": {},
    }
    failed = False
    inputs = Path(tempfile.mkdtemp(prefix="doubao-bench-"))
    try:
        prepare_inputs(inputs, counts)
        spec = json.loads((inputs / "spec.json").read_text())["workloads"]
        for workload in args.workload:
            t0 = time.perf_counter()
            print(f"{workload} ...", file=sys.stderr)
            if workload in HTTP_WORKLOADS:
                data = bench_http(
                    workload,
                    spec[workload],
                    counts[workload].get("server", (1, 0)),
                    [c for c in contenders if f"{c}:{workload}" not in args.skip],
                    runs,
                    inputs,
                )
                report["workloads"][workload] = data
                failed |= any(not e["ok"] for e in data["contenders"].values())
            elif workload == "decode":
                try:
                    report["decode"] = bench_decode(args.smoke)
                except AssertionError as exc:  # a decoder's output did not match
                    print(f"  ! decode failed: {exc}", file=sys.stderr)
                    failed = True
            elif workload == "costs":
                report["costs"] = bench_costs(args.smoke)
            else:
                report["import"] = bench_import(args.smoke)
            print(f"{workload} done in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
    report["meta"]["seconds"] = time.perf_counter() - started
    text = rendering.render(report)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.md").write_text(text)
    (out / f"{args.out}.json").write_text(json.dumps(report, indent=1, default=str))
    if failed:
        print("some contender's answers FAILED their check", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
