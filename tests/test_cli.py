"""The doubao-vision command line as a whole: keys, usage errors, help, version, pipes, emulator."""

from __future__ import annotations

import ast
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import doubao_vision
from doubao_vision._config import API_KEY_ENV
from doubao_vision._samples import sample_images
from doubao_vision.cli._common import KEY_ENV
from doubao_vision.emulator import Emulator

from ._cli import CLI, WITHOUT_RICH, acli, clean_env, cli
from ._expect import answer
from .conftest import API_KEY

SECRET = "sk-live-DO-NOT-PRINT-0123456789"
CLI_PACKAGE = Path(doubao_vision.__file__).parent / "cli"


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


async def test_auth_hint_names_the_command_lines_ways_to_pass_the_key(emulator: Emulator) -> None:
    """A 401 tells the CLI user about $DOUBAO_VISION_API_KEY and --api-key-file, not api_key=."""
    code, out = await acli(
        "--base-url", emulator.base_url, "models", DOUBAO_VISION_API_KEY="wrong-key"
    )
    assert code == 1
    assert out.startswith("error: AuthenticationError:")
    assert "DOUBAO_VISION_API_KEY" in out
    assert "--api-key-file" in out
    assert "api_key argument" not in out


def test_the_cli_reads_the_variable_the_client_reads() -> None:
    """The CLI's key variable is the one AsyncClient falls back to."""
    assert KEY_ENV == API_KEY_ENV


@pytest.mark.parametrize(
    "argv",
    [
        ["--api-key", SECRET, "models"],
        ["models", f"--api-key={SECRET}"],
        ["ask", "-p", "hi", "--token", SECRET],
        ["models", f"--apikey={SECRET}"],
        ["models", "--api-key-fil", SECRET],
        ["--api-key", SECRET, "emulator"],
        ["batch", "x.png", "-p", "hi", "-o", "o.jsonl", "--key", SECRET],
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
    assert "--api-key-file" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["ask", "x.png"],  # no -p
        ["batch", "x.png", "-p", "hi"],  # no -o
        ["batch", "x.png", "-p", "hi", "-o", "o.jsonl", "--concurrency", "0"],
        ["frobnicate"],
        [],
        ["ask", "x.png", "-p", "hi", "--max-tokens", "0"],
        ["ask", "x.png", "-p", "hi", "--temperature", "5"],  # checked before the image is read
        ["ask", "x.png", "-p", "hi", "--detail", "medium"],
        ["batch", "-p", "hi", "-o", "o.jsonl"],  # nothing to ask about
        ["batch", "x.png", "-o", "o.jsonl"],  # no prompt, no --input
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    """Bad options and unknown commands exit with code 2."""
    assert cli(*argv).returncode == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--emulator"],
        ["--emulator", "demo"],
        ["demo", "--model", "x"],
        ["models", "-p", "hi"],
        ["models", "--concurrency", "4"],
        ["ask", "x.png", "-p", "hi", "-o", "out.jsonl"],
        ["ask", "x.png", "-p", "hi", "--fail-fast"],
        ["--base-url", "http://127.0.0.1:9/v1", "emulator", "--port", "0"],
    ],
)
def test_options_a_command_ignores_are_not_offered(argv: list[str]) -> None:
    """An option that would do nothing for the command is a usage error, not silently dropped."""
    done = cli(*argv)
    assert done.returncode == 2, done.stdout + done.stderr


def test_help_shows_only_the_options_a_command_uses() -> None:
    """`models --help` offers connection and call options, no prompt or batch ones."""
    done = cli("models", "--help")
    assert done.returncode == 0
    assert "--timeout" in done.stdout
    assert "--base-url" in done.stdout
    for option in ("--prompt", "--concurrency", "--model", "--output"):
        assert option not in done.stdout


def test_version() -> None:
    """`--version` prints the package version."""
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"doubao-vision {doubao_vision.__version__}"


@pytest.mark.parametrize(
    "argv", [["--help"], ["ask", "--help"], ["batch", "--help"], ["--version"]]
)
def test_help_imports_no_client_code(argv: list[str]) -> None:
    """--help and --version load neither aiohttp nor the client (measured with -X importtime)."""
    done = cli(*argv, PYTHONPROFILEIMPORTTIME="1")
    assert done.returncode == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "doubao_vision.cli" in imported  # the measurement works
    for module in imported:
        assert not module.startswith("aiohttp"), module
        assert module not in ("doubao_vision._client", "doubao_vision._transport"), module


def _imports(path: Path) -> set[str]:
    """The doubao_vision.cli modules ``path`` imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in type_only or not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        found.add(node.module or "__init__")
    return found


def test_the_cli_package_has_no_import_cycle() -> None:
    """No module of doubao_vision.cli imports, directly or not, one that imports it back."""
    modules = {path.stem: path for path in CLI_PACKAGE.glob("*.py")}
    assert {"__init__", "_common", "_parser", "_ask", "_batch", "_emulator"} <= set(modules)
    graph = {name: _imports(path) & set(modules) for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or reaches(nxt, goal, seen | {nxt}) for nxt in graph[start] - seen)

    assert [name for name in graph if reaches(name, name, set())] == []
    old = Path(doubao_vision.__file__).parent
    assert [
        name for name in ("_cli.py", "_cli_batch.py", "_progress.py") if (old / name).exists()
    ] == []


def test_a_closed_pipe_ends_quietly() -> None:
    """`doubao-vision models | head -0`: the reader is gone, no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [*CLI, "--emulator", "models"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # before anything was written: every write meets a closed pipe
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert stderr == ""


def test_demo_piped_into_head_is_quiet() -> None:
    """`doubao-vision demo | head -n 1` prints one line and no traceback."""
    done = subprocess.run(
        ["/bin/sh", "-c", f"{shlex.join(CLI)} demo | head -n 1"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert done.stdout.startswith("doubao-vision demo:")
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr


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


def test_emulator_command_takes_the_emulators_own_options() -> None:
    """`doubao-vision emulator --api-key KEY` works as `python -m doubao_vision.emulator` does."""
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        assert line.startswith("doubao-vision emulator listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        right = cli("--base-url", base_url, "models", DOUBAO_VISION_API_KEY=API_KEY)
        assert right.returncode == 0, right.stderr
        wrong = cli("--base-url", base_url, "models", DOUBAO_VISION_API_KEY="another-key")
        assert wrong.returncode == 1
        assert "AuthenticationError" in wrong.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


def _options(help_text: str) -> set[str]:
    return {
        word.rstrip(",")
        for line in help_text.splitlines()
        for word in line.split()
        if word.startswith("--")
    }


def test_emulator_help_lists_the_same_options_as_python_m() -> None:
    """`doubao-vision emulator --help` and `python -m doubao_vision.emulator --help` agree."""
    ours = cli("emulator", "--help")
    theirs = subprocess.run(
        [sys.executable, "-m", "doubao_vision.emulator", "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert ours.returncode == theirs.returncode == 0
    assert _options(ours.stdout) == _options(theirs.stdout)
    assert "--api-key" in _options(ours.stdout)


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


def test_console_script_runs_the_cli_package() -> None:
    """The console script's entry point is doubao_vision.cli:main."""
    script = Path(sys.executable).with_name("doubao-vision")
    if not script.exists():
        pytest.skip("the package is not installed with its console script")
    assert "from doubao_vision.cli import main" in script.read_text()
    assert os.access(script, os.X_OK)
