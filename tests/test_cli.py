"""The doubao-vision command line, run as a real subprocess (``python -m doubao_vision``)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doubao_vision._samples import make_png, sample_images
from doubao_vision.emulator import Emulator

from ._expect import answer
from .conftest import API_KEY

SECRET = "sk-live-DO-NOT-PRINT-0123456789"
CLI = [sys.executable, "-m", "doubao_vision"]
# The emulator in its own process, every answer delayed: a batch is then slow
# enough to be killed half-way.
SLOW_EMULATOR = """
import asyncio, os
from doubao_vision.emulator import Emulator, Fault

async def main():
    emu = Emulator(api_key=os.environ["EMULATOR_KEY"], record_bodies=False)
    emu.script(*[Fault.slow(float(os.environ["EMULATOR_DELAY"]))] * 100_000)
    print(await emu.start(), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
WITHOUT_RICH = (
    "import sys; sys.modules['rich'] = None; from doubao_vision._cli import main; sys.exit(main())"
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOUBAO_VISION_")}
    env.update(extra)
    return env


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(**env),
        timeout=60,
        check=False,
    )


async def acli(*args: str, **env: str) -> tuple[int, str]:
    """Run the CLI without blocking the loop (an in-process emulator must keep answering)."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=clean_env(**env),
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def in_pty(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; returns (code, terminal text, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=clean_env(TERM="xterm-256color"),
    )
    os.close(slave)
    seen = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=30), seen.decode(errors="replace"), stdout


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        (folder / f"p{i:02d}.png").write_bytes(make_png(24, 20, seed=i))
    return folder


@pytest.fixture
def slow_emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_EMULATOR],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(EMULATOR_KEY=API_KEY, EMULATOR_DELAY="0.15"),
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    try:
        assert base_url.startswith("http://127.0.0.1:")
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_ask_against_the_embedded_emulator(photos: Path) -> None:
    """`ask IMAGE -p PROMPT --emulator` prints the answer about the image."""
    done = cli("ask", str(photos / "p00.png"), "-p", "What is this?", "--emulator")
    assert done.returncode == 0, done.stderr
    assert done.stdout == answer("What is this?", (photos / "p00.png").read_bytes()) + "\n"


def test_ask_streams_the_answer(photos: Path) -> None:
    """`ask --stream` prints the same answer, arriving piece by piece."""
    done = cli("--emulator", "ask", str(photos / "p01.png"), "-p", "Describe", "--stream")
    assert done.returncode == 0, done.stderr
    assert done.stdout == answer("Describe", (photos / "p01.png").read_bytes()) + "\n"


def test_ask_reports_a_bad_image(tmp_path: Path) -> None:
    """A missing image is a one-line typed error and exit code 1."""
    done = cli("--emulator", "ask", str(tmp_path / "nope.png"), "-p", "hi")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ImageNotFoundError:")


def test_models_against_the_embedded_emulator() -> None:
    """`models --emulator` lists the model ids."""
    done = cli("models", "--emulator")
    assert done.returncode == 0, done.stderr
    assert "doubao-1-5-vision-pro-250328" in done.stdout.split()


def test_demo_runs_with_core_dependencies_only() -> None:
    """`demo` answers about every sample image, with usage and timing, even without rich."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_RICH, "demo"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name, data in sample_images().items():
        assert f"== {name}" in done.stdout
        assert answer("What is in this image?", data).splitlines()[1] in done.stdout
    assert "prompt +" in done.stdout
    assert " s; tokens: " in done.stdout


def test_batch_reports_bad_paths_and_images_per_item(photos: Path, tmp_path: Path) -> None:
    """A missing path, a non-image and an empty glob are failed lines; the rest are answered."""
    (photos / "broken.png").write_bytes(b"not a picture at all")
    out = tmp_path / "results.jsonl"
    done = cli(
        "--emulator",
        "batch",
        str(photos),
        str(tmp_path / "missing.jpg"),
        str(tmp_path / "none-*.gif"),
        "-p",
        "Caption",
        "-o",
        str(out),
        "--concurrency",
        "4",
        "--rpm",
        "60000",
    )
    assert done.returncode == 1
    lines = results(out)
    assert len(lines) == 12 + 3
    by_image = {line["image"]: line for line in lines}
    for i in range(12):
        path = photos / f"p{i:02d}.png"
        line = by_image[str(path)]
        assert line["ok"] is True
        assert line["answer"] == answer("Caption", path.read_bytes())
        assert line["usage"]["total_tokens"] > 0
        assert line["request_id"]
    errors = {Path(k).name: v["error"]["type"] for k, v in by_image.items() if not v["ok"]}
    assert errors == {
        "broken.png": "UnsupportedImageFormatError",
        "missing.jpg": "ImageNotFoundError",
        "none-*.gif": "ImageNotFoundError",
    }
    assert "12 ok, 3 failed (ImageNotFoundError 2, UnsupportedImageFormatError 1)" in done.stdout
    assert "wall time" in done.stdout
    assert "tokens:" in done.stdout
    assert done.stderr == ""  # not a terminal: no progress at all


def test_rerun_skips_answered_images_and_retries_failed_ones(photos: Path, tmp_path: Path) -> None:
    """A second run asks only what failed; the latest line per image wins."""
    fixable = photos / "later.png"
    fixable.write_bytes(b"garbage")
    out = tmp_path / "out.jsonl"
    first = cli("--emulator", "batch", str(photos / "*.png"), "-p", "Hi", "-o", str(out))
    assert first.returncode == 1
    fixable.write_bytes(make_png(30, 30, seed=99))
    second = cli("--emulator", "batch", str(photos / "*.png"), "-p", "Hi", "-o", str(out))
    assert second.returncode == 0, second.stdout
    assert "1 ok, 0 failed, 12 skipped" in second.stdout
    lines = results(out)
    assert [line["ok"] for line in lines if line["image"] == str(fixable)] == [False, True]
    assert len(lines) == 14


def test_torn_last_line_is_cut_off_on_resume(photos: Path, tmp_path: Path) -> None:
    """A results file ending in half a line (a crash mid-write) is repaired, not misread."""
    out = tmp_path / "out.jsonl"
    first = cli("--emulator", "batch", str(photos / "p0[0-2].png"), "-p", "Hi", "-o", str(out))
    assert first.returncode == 0, first.stdout
    with out.open("ab") as f:
        f.write(b'{"image": "' + str(photos / "p03.png").encode() + b'", "ok": tr')
    second = cli("--emulator", "batch", str(photos / "p0[0-4].png"), "-p", "Hi", "-o", str(out))
    assert second.returncode == 0, second.stdout
    assert "2 ok, 0 failed, 3 skipped" in second.stdout
    assert "torn last line" in second.stdout
    lines = results(out)  # every line parses
    assert Counter(line["image"] for line in lines) == {
        str(photos / f"p0{i}.png"): 1 for i in range(5)
    }


@pytest.mark.slow
def test_resume_after_kill_9_loses_and_duplicates_nothing(
    tmp_path: Path, slow_emulator: str
) -> None:
    """kill -9 mid-run, then rerun: every image answered exactly once, the file intact."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"img{i:02d}.png").write_bytes(make_png(20, 20, seed=1000 + i))
    out = tmp_path / "out.jsonl"
    argv = [*CLI, "--base-url", slow_emulator, "batch", str(folder), "-p", "Q", "-o", str(out)]
    argv += ["--concurrency", "4"]
    env = clean_env(DOUBAO_VISION_API_KEY=API_KEY)
    victim = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    written = len(results(out))
    assert 8 <= written < 40
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{40 - written} ok, 0 failed, {written} skipped" in rerun.stdout
    lines = results(out)
    assert all(line["ok"] for line in lines)
    assert Counter(line["image"] for line in lines) == {
        str(folder / f"img{i:02d}.png"): 1 for i in range(40)
    }
    for line in lines:
        assert line["answer"] == answer("Q", Path(line["image"]).read_bytes())


def test_progress_shows_on_a_terminal(photos: Path, tmp_path: Path) -> None:
    """On a terminal, batch draws progress (done, failed, rate, ETA) on stderr."""
    (photos / "bad.png").write_bytes(b"nope")
    argv = [*CLI, "--emulator", "batch", str(photos), "-p", "Hi", "-o", str(tmp_path / "a.jsonl")]
    code, terminal, stdout = in_pty(argv, tmp_path)
    assert code == 1
    assert "13/13" in terminal
    for word in ("done", "1 failed", "/s", "ETA"):
        assert word in terminal
    assert "12 ok, 1 failed" in stdout


def test_plain_progress_without_rich(photos: Path, tmp_path: Path) -> None:
    """Without rich, the progress is one plain line redrawn with carriage returns."""
    argv = [sys.executable, "-c", WITHOUT_RICH, "--emulator", "batch", str(photos)]
    argv += ["-p", "Hi", "-o", str(tmp_path / "b.jsonl")]
    code, terminal, stdout = in_pty(argv, tmp_path)
    assert code == 0
    assert "\r[" in terminal
    assert "12/12 done, 0 failed" in terminal
    assert "ETA 0:00:00" in terminal
    assert "12 ok, 0 failed" in stdout


def test_progress_can_be_turned_off_on_a_terminal(photos: Path, tmp_path: Path) -> None:
    """--progress off keeps a terminal quiet too."""
    argv = [*CLI, "--emulator", "batch", str(photos), "-p", "Hi", "-o", str(tmp_path / "c.jsonl")]
    code, terminal, _ = in_pty([*argv, "--progress", "off"], tmp_path)
    assert code == 0
    assert terminal == ""


async def test_key_from_env_or_file_is_used_and_never_printed(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The key works from the environment and from --api-key-file; a rejected one is not echoed."""
    url = emulator.base_url
    code, out = await acli("--base-url", url, "models", DOUBAO_VISION_API_KEY=API_KEY)
    assert code == 0, out
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    code, out = await acli("models", "--base-url", url, "--api-key-file", str(key_file))
    assert code == 0, out
    code, out = await acli("--base-url", url, "models", DOUBAO_VISION_API_KEY=SECRET)
    assert code == 1
    assert "AuthenticationError" in out
    assert SECRET not in out
    key_file.write_text(SECRET)
    code, out = await acli("--base-url", url, "--api-key-file", str(key_file), "ask", "-p", "x")
    assert code == 1
    assert SECRET not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--api-key", SECRET, "models"],
        ["models", f"--api-key={SECRET}"],
        ["ask", "-p", "hi", "--token", SECRET],
        ["models", f"--apikey={SECRET}"],
        ["models", "--api-key-fil", SECRET],
    ],
)
def test_a_key_on_the_command_line_is_refused_and_not_echoed(argv: list[str]) -> None:
    """There is no option taking a key; trying one is a usage error that does not print it."""
    done = cli(*argv)
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr


def test_missing_key_is_a_usage_error() -> None:
    """No key and no --emulator: exit 2 with a hint, nothing sent."""
    done = cli("models", "--base-url", "http://127.0.0.1:9/v1")
    assert done.returncode == 2
    assert "DOUBAO_VISION_API_KEY" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["ask", "x.png"],  # no -p
        ["batch", "x.png", "-p", "hi"],  # no -o
        ["batch", "x.png", "-p", "hi", "-o", "o.jsonl", "--concurrency", "0"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    """Bad options and unknown commands exit with code 2."""
    assert cli(*argv).returncode == 2


def test_emulator_command_serves_until_interrupted() -> None:
    """`emulator --port 0` prints where it listens, answers, and stops cleanly on SIGINT."""
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True, env=clean_env()
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        assert line.startswith("doubao-vision emulator listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        done = cli("--base-url", base_url, "models", DOUBAO_VISION_API_KEY="any-key")
        assert done.returncode == 0, done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


def test_console_script_is_installed() -> None:
    """The doubao-vision console script runs the same CLI."""
    script = Path(sys.executable).with_name("doubao-vision")
    if not script.exists():
        pytest.skip("the package is not installed with its console script")
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0
    for command in ("ask", "batch", "models", "emulator", "demo"):
        assert command in done.stdout
