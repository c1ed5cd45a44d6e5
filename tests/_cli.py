"""Running the doubao-vision command line as a real subprocess, for the test_cli_* files."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

# The installed console script, as users run it; `python -m doubao_vision` where the
# package is not installed with its scripts.
_SCRIPT = Path(sys.executable).with_name("doubao-vision")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "doubao_vision"]
WITHOUT_RICH = (
    "import sys; sys.modules['rich'] = None; from doubao_vision.cli import main; sys.exit(main())"
)
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


async def acli(*args: str, cwd: Path | None = None, **env: str) -> tuple[int, str]:
    """Run the CLI without blocking the loop (an in-process emulator must keep answering)."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
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


def make_photos(folder: Path, count: int = 12) -> Path:
    """``count`` small distinct PNGs, p00.png, p01.png, ... in ``folder``."""
    from doubao_vision._samples import make_png

    folder.mkdir()
    for i in range(count):
        (folder / f"p{i:02d}.png").write_bytes(make_png(24, 20, seed=i))
    return folder
