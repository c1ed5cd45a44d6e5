"""Speed and memory of doubao_vision against raw aiohttp and the openai SDK.

Usage: ``python benchmarks/run.py [--smoke] [--workload W ...] [--runs N] [--contender C ...]``

Starts the fake server (``server.py``) in its own process per workload, then
runs every contender (``client.py``) in a fresh process, alternating
(A B C A B C ...), ``--runs`` times (default 5). Each figure is the median over the runs;
each ratio is taken against floor B (raw aiohttp + orjson) *of the same run*,
then the median of those. Writes a markdown table to stdout and to
``benchmarks/results/latest.md``, the raw numbers to ``latest.json``.

Workloads: small (non-streaming requests with a ~100 KB image), stream (long
streams), big (10 MB images), hold (many streams open at once), decode (the SSE
decoder alone, from ``bench_sse.py``), import (``import doubao_vision``).

``--smoke`` uses tiny counts and one run, for CI. The exit status is 1 if any
contender's answers failed their check (a slow contender never fails).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import importlib.metadata
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
from server import image_answer  # noqa: E402

from doubao_vision._samples import make_png_of_size  # noqa: E402

MIB = 1 << 20
CONTENDERS = ["doubao_vision", "aiohttp+json", "aiohttp+orjson", "openai", "openai+aiohttp"]
FLOOR_A, FLOOR_B = "aiohttp+json", "aiohttp+orjson"
HTTP_WORKLOADS = ["small", "stream", "big", "hold"]
ALL_WORKLOADS = [*HTTP_WORKLOADS, "decode", "import"]
BIG_IMAGE = 10 * MIB - 64 * 1024  # just under the 10 MiB the API (and the SDK) accept


def workloads(smoke: bool) -> dict[str, dict[str, Any]]:
    """Counts per workload; ``server`` is how the fake server paces its streams."""
    if smoke:
        return {
            "small": {"requests": 20, "concurrency": 8, "image": 100_000, "pool": 2},
            "stream": {"streams": 3, "concurrency": 3, "server": (10, 0)},
            "big": {"requests": 1, "concurrency": 1, "image": MIB, "warm_image": 100_000},
            "hold": {"streams": 10, "warm": 2, "server": (5, 20)},
        }
    return {
        "small": {"requests": 2000, "concurrency": 64, "image": 100_000, "pool": 16},
        "stream": {"streams": 100, "concurrency": 20, "server": (500, 0)},
        "big": {"requests": 20, "concurrency": 4, "image": BIG_IMAGE, "warm_image": MIB},
        "hold": {"streams": 1000, "warm": 20, "server": (20, 100)},
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
    spec["small"] = {
        "requests": small["requests"],
        "concurrency": small["concurrency"],
        "images": [name for name, _ in pool],
        "answers": [answer for _, answer in pool],
        "warm_images": [name for name, _ in pool],
        "warm_answers": [answer for _, answer in pool],
    }
    big = counts["big"]
    name, answer = save("big.png", make_png_of_size(big["image"], seed=99))
    warm_name, warm_answer = save("big-warm.png", make_png_of_size(big["warm_image"], seed=98))
    spec["big"] = {
        "requests": big["requests"],
        "concurrency": big["concurrency"],
        "images": [name],
        "answers": [answer],
        "warm_images": [warm_name],
        "warm_answers": [warm_answer],
        "image_bytes": (folder / name).stat().st_size,
    }
    stream = counts["stream"]
    spec["stream"] = {
        "streams": stream["streams"],
        "concurrency": stream["concurrency"],
        "chunks": stream["server"][0],
    }
    hold = counts["hold"]
    spec["hold"] = {
        "streams": hold["streams"],
        "concurrency": hold["streams"],
        "warm": hold["warm"],
        "chunks": hold["server"][0],
    }
    (folder / "spec.json").write_text(json.dumps({"workloads": spec}))


# -- processes ----------------------------------------------------------------

# With two or more cores, the server gets the last one and each client the first
# (server.py and client.py pin themselves to the core named in PIN_ENV), so neither
# is migrated onto the other's core in the middle of a run.
PIN_ENV = "DOUBAO_BENCH_CPU"
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _env(cpu_index: int) -> dict[str, str]:
    env = dict(os.environ)
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
        env=_env(0),
        timeout=600,
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
    if workload in ("small", "big"):
        return float(result["cpu_s"]) / result["requests"]
    if workload == "stream":
        return float(result["cpu_s"]) / result["chunks"]
    return float(result["cpu_s"]) / result["streams"]


def memory_figure(result: dict[str, Any], workload: str, spec: dict[str, Any]) -> float:
    """KB: peak growth per in-flight image (big), RSS per open stream (hold), else peak RSS."""
    if workload == "big":
        return float(result["peak_growth_kb"]) / spec["concurrency"]
    if workload == "hold":
        return float(result["rss_per_stream_kb"])
    return float(result["peak_kb"])


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
        )
        for floor, key in (
            (FLOOR_B, "cpu_ratio"),
            (FLOOR_B, "memory_ratio"),
            (FLOOR_A, "memory_ratio_a"),
        ):
            ratios = []
            for row in per_run:
                if name in row and floor in row and row[name].get("ok") and row[floor].get("ok"):
                    mine, theirs = row[name], row[floor]
                    if key == "cpu_ratio":
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


# What each import row runs in a fresh interpreter. The client side (aiohttp) loads
# on first use, so the second row is what a program that makes a client pays.
IMPORTS = {
    "import doubao_vision": "import doubao_vision",
    "first use": "import doubao_vision; doubao_vision.AsyncClient",
    "import openai": "import openai",
    "import aiohttp": "import aiohttp",
}


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


# -- reporting ----------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "system": f"{platform.system()} {platform.release()}",
    }


def _ratio(entry: dict[str, Any], key: str) -> str:
    if key not in entry:
        return "-"
    value = entry[key]
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def http_table(workload: str, data: dict[str, Any]) -> list[str]:
    spec = data["spec"]
    conc = spec["concurrency"]
    if workload == "small":
        title = f"small: {spec['requests']:,} requests, ~100 KB image each, concurrency {conc}"
        unit, scale, mem_head = "CPU/request (µs)", 1e6, "peak RSS (MB)"
    elif workload == "stream":
        n = spec["streams"] * (spec["chunks"] + 2)
        title = (
            f"stream: {spec['streams']} streams x {spec['chunks']} chunks "
            f"({n:,} events), concurrency {conc}"
        )
        unit, scale, mem_head = "CPU/chunk (µs)", 1e6, "peak RSS (MB)"
    elif workload == "big":
        size = spec["image_bytes"] / MIB
        title = (
            f"big: {spec['requests']} requests, one {size:.2f} MiB image each, concurrency {conc}"
        )
        unit, scale, mem_head = "CPU/request (ms)", 1e3, "peak growth per in-flight image (MB)"
    else:
        title = (
            f"hold: {spec['streams']:,} streams open at once, {spec['chunks']} chunks each, paced"
        )
        unit, scale, mem_head = "CPU/stream (ms)", 1e3, "RSS per open stream (KB)"
    mem_ratio_key = "memory_ratio_a" if workload == "hold" else "memory_ratio"
    mem_ratio_head = "memory vs floor A" if workload == "hold" else "memory vs floor B"
    lines = [
        f"**{title}**",
        "",
        f"| contender | {unit} | CPU vs floor B | wall (s) | {mem_head} | {mem_ratio_head} "
        "| server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in data["contenders"].items():
        if not entry["ok"]:
            lines.append(f"| {name} | FAILED: {entry.get('error', '')[:80]} | | | | | |")
            continue
        if workload == "hold":
            memory = f"{entry['memory_kb']:,.1f}"
        elif workload == "big":
            memory = f"{entry['memory_kb'] / 1024:,.1f}"
        else:
            memory = f"{entry['memory_kb'] / 1024:,.0f}"
        lines.append(
            f"| {name} | {entry['cpu_unit'] * scale:,.1f} | {_ratio(entry, 'cpu_ratio')} "
            f"| {entry['wall_s']:,.2f} | {memory} | {_ratio(entry, mem_ratio_key)} "
            f"| {entry['server_share']:.0%} |"
        )
    for name, reason in data["skipped"].items():
        lines.append(f"| {name} | skipped: {reason[:80]} | | | | | |")
    return lines


def decode_table(data: dict[str, Any]) -> list[str]:
    lines = ["**decode: the SSE decoder alone, fed 4 KiB pieces (bench_sse.py)**", ""]
    lines += bench_sse.table(data["rows"]).splitlines()
    return lines


def import_table(data: dict[str, Any]) -> list[str]:
    lines = ["**import: fresh interpreter, median**", "", "| what | ms |", "|---|---:|"]
    for label, seconds in data["rows"].items():
        lines.append(f"| `{IMPORTS[label]}` | {seconds * 1e3:,.0f} |")
    heavy = ", ".join(f"{h['module']} {h['cumulative_ms']:.0f} ms" for h in data["heaviest"])
    lines += [
        "",
        f"`python -X importtime -c 'import doubao_vision'`: the heaviest packages it pulls in "
        f"(cumulative, nested ones counted in their importer too) are {heavy}; "
        f"doubao_vision's own modules take {data['own_modules_ms']:.0f} ms.",
    ]
    return lines


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target the run could judge."""
    out: list[tuple[str, str, bool | None]] = []
    http = report["workloads"]

    def ours(workload: str) -> dict[str, Any] | None:
        entry = http.get(workload, {}).get("contenders", {}).get("doubao_vision")
        return entry if entry and entry.get("ok") else None

    def check(label: str, workload: str, key: str, limit: float) -> None:
        entry = ours(workload)
        if entry is not None and key in entry:
            out.append((label, _ratio(entry, key), entry[key] <= limit))

    check("small: CPU/request <= 1.25x floor B", "small", "cpu_ratio", 1.25)
    check("stream: CPU/chunk <= 1.5x floor B", "stream", "cpu_ratio", 1.5)
    check("big: CPU <= 1.0x floor B", "big", "cpu_ratio", 1.0)
    check("big: peak memory per in-flight image <= 0.6x floor B", "big", "memory_ratio", 0.6)
    check("hold: RSS per open stream <= 1.1x floor A", "hold", "memory_ratio_a", 1.1)
    decode = report.get("decode")
    if decode:
        if "speedup_vs_openai" in decode:
            speed = decode["speedup_vs_openai"]
            out.append(("decode: >= 2x openai's events/s", f"{speed:.1f}x", speed >= 2.0))
        growth = decode["growth"]["doubao_vision"]
        # 4x the bytes should take about 4x the time; 5x leaves room for noise.
        out.append(
            (
                "decode: one big event linear (4x the bytes ~ 4x the time)",
                f"{growth:.1f}x time",
                growth <= 5.0,
            )
        )
    imp = report.get("import", {}).get("rows", {}).get("import doubao_vision")
    if imp is not None:
        out.append(("import doubao_vision <= 150 ms", f"{imp * 1e3:.0f} ms", imp <= 0.150))
    return out


def render(report: dict[str, Any]) -> str:
    meta = report["meta"]
    v = meta["versions"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']['cores']} cores ({meta['machine']['cpu']}, "
        f"{meta['machine']['system']}); Python {v['python']}, aiohttp {v['aiohttp']}, orjson "
        f"{v['orjson']}, openai {v['openai']}, doubao-vision {v['doubao-vision']}. "
        f"{meta['runs']} alternating run(s), medians; ratios against the floor in the same run."
        + (" SMOKE RUN: tiny counts, the numbers mean nothing." if meta["smoke"] else ""),
        "",
    ]
    for workload in HTTP_WORKLOADS:
        if workload in report["workloads"]:
            lines += [*http_table(workload, report["workloads"][workload]), ""]
    if "decode" in report:
        lines += [*decode_table(report["decode"]), ""]
    if "import" in report:
        lines += [*import_table(report["import"]), ""]
    rows = targets(report)
    if rows:
        lines += ["**Targets**", "", "| target | measured | met |", "|---|---:|:---:|"]
        for label, measured, met in rows:
            lines.append(f"| {label} | {measured} | {'yes' if met else 'NO'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one run (CI)")
    parser.add_argument("--workload", nargs="+", choices=ALL_WORKLOADS, default=ALL_WORKLOADS)
    parser.add_argument(
        "--runs", type=int, default=None, help="alternating runs (default 5; smoke 1)"
    )
    parser.add_argument("--contender", nargs="+", choices=CONTENDERS, default=CONTENDERS)
    args = parser.parse_args()
    runs = args.runs or (1 if args.smoke else 5)
    counts = workloads(args.smoke)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.date.today().isoformat(),
            "smoke": args.smoke,
            "runs": runs,
            "machine": machine(),
            "versions": {
                "python": platform.python_version(),
                **{d: version(d) for d in ("aiohttp", "orjson", "openai", "doubao-vision")},
            },
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
                    args.contender,
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
            else:
                report["import"] = bench_import(args.smoke)
            print(f"{workload} done in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
    report["meta"]["seconds"] = time.perf_counter() - started
    text = render(report)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(text)
    (out / "latest.json").write_text(json.dumps(report, indent=1, default=str))
    if failed:
        print("some contender's answers FAILED their check", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
