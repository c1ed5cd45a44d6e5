"""python -m doubao_vision.emulator: serving, options, signals."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from doubao_vision.emulator.__main__ import add_emulator_arguments, main

from ._emulator_support import (
    AUTH,
    KEY,
    ROOT,
    no_server_errors_fixture,  # noqa: F401 -- fixtures
)

# -- command line ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_cli_serves_and_stops_on_signal(sig: signal.Signals) -> None:
    """python -m doubao_vision.emulator listens, answers /v1/models and exits 0 on a signal."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "error", "-m", "doubao_vision.emulator",
        "--port", str(port), "--api-key", KEY,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert (
            line.decode().strip()
            == f"doubao-vision emulator listening on http://127.0.0.1:{port}/v1"
        )
        url = f"http://127.0.0.1:{port}/v1/models"
        async with aiohttp.ClientSession(headers=AUTH) as s, s.get(url) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "list"
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert await proc.stderr.read() == b""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_options_are_reusable_by_another_parser() -> None:
    """add_emulator_arguments gives any parser the same options, with their defaults."""
    parser = add_emulator_arguments(argparse.ArgumentParser(prog="doubao-vision emulator"))
    args = parser.parse_args([])
    assert (args.host, args.port, args.api_key, args.models) == ("127.0.0.1", 8000, None, [])
    assert (args.delay, args.chunk_delay, args.chunks) == (0.0, 0.0, None)
    assert (args.fault_rate, args.error_status, args.seed) == (0.0, 500, None)
    args = parser.parse_args(
        ["--fault-rate", "0.25", "--error-status", "429", "--delay", "0.5", "--model", "a",
         "--model", "b", "--seed", "3", "--chunks", "4", "--chunk-delay", "0.01"]
    )  # fmt: skip
    assert (args.fault_rate, args.error_status, args.delay, args.models) == (
        0.25,
        429,
        0.5,
        ["a", "b"],
    )
    assert (args.seed, args.chunks, args.chunk_delay) == (3, 4, 0.01)


@pytest.mark.parametrize(
    "argv", [["--fault-rate", "2"], ["--error-status", "200"], ["--delay", "-1"], ["--port", "x"]]
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A bad option value is a usage error (exit 2) naming the option."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_help_documents_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    """--help lists the fault and delay options."""
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for option in ("--api-key", "--fault-rate", "--error-status", "--delay", "--model", "--seed"):
        assert option in out


async def test_cli_serves_faults_and_extra_models() -> None:
    """--fault-rate 1 --error-status 503 fails every chat; --model adds to /v1/models."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "error", "-m", "doubao_vision.emulator", "--port", str(port),
        "--fault-rate", "1", "--error-status", "503", "--model", "house-model",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 30)
        base = f"http://127.0.0.1:{port}/v1"
        body = {"model": "house-model", "messages": [{"role": "user", "content": "x"}]}
        async with aiohttp.ClientSession(headers=AUTH) as s:
            async with s.post(f"{base}/chat/completions", json=body) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["type"] == "ServiceUnavailable"
            async with s.get(f"{base}/models") as resp:
                assert "house-model" in [m["id"] for m in (await resp.json())["data"]]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_argument_parser_does_not_load_aiohttp() -> None:
    """The options can be imported (for another CLI's --help) without loading aiohttp."""
    code = (
        "import sys, argparse\n"
        "from doubao_vision.emulator.__main__ import add_emulator_arguments\n"
        "add_emulator_arguments(argparse.ArgumentParser()).format_help()\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
