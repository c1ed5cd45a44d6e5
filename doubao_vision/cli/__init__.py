"""The ``doubao-vision`` command line: ask, batch, models, emulator, demo.

``main`` parses, then imports only the module of the command it runs: ``--help``,
``--version`` and usage errors never load aiohttp or the client. Every command
goes through the public API of :mod:`doubao_vision`.

Exit codes: 0 done, 1 a call or an image failed, 2 bad options or setup,
130 interrupted (Ctrl-C), 141 stdout closed early (``| head``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from ._common import (
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    KEY_ENV,
    UsageError,
)
from ._parser import build_parser, key_on_command_line

__all__ = ["main"]


def _run_async(work: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run(work)``, with Ctrl-C cancelling ``work`` (which cleans up and
    says what was saved) instead of raising KeyboardInterrupt wherever the loop
    happens to be: Python 3.10's ``asyncio.run`` does the latter, and the
    interrupted callback prints a traceback. 3.11's Runner does what we do here."""
    import asyncio
    import signal

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        interrupted = False

        def on_sigint() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
            return await work
        try:
            return await work
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    return asyncio.run(guarded())


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    command = args.command
    if command == "emulator":
        from ._emulator import run_emulator

        return run_emulator(args, extra)
    if command == "demo":
        from ._demo import run_demo

        if args.emulator or args.base_url or args.api_key_file:
            raise UsageError("demo runs its own emulator: it takes no connection options")
        return _run_async(run_demo())
    if command == "batch":
        from ._batch import run_batch

        return _run_async(run_batch(args))
    from ._ask import run_ask, run_models

    return _run_async(run_ask(args) if command == "ask" else run_models(args))


def _quiet_stdout() -> None:
    """After a closed pipe: send what is still buffered to /dev/null, so that the
    interpreter's last flush does not print a BrokenPipeError of its own."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if key_on_command_line(argv):
        parser.print_usage(sys.stderr)
        print(
            f"doubao-vision: error: keys are never taken from the command line (shell history, "
            f"ps); set {KEY_ENV} or use --api-key-file PATH",
            file=sys.stderr,
        )
        return EXIT_USAGE
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "emulator":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code = _run(args, extra)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except UsageError as exc:
        print(f"doubao-vision: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("doubao-vision: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE_CLOSED
    return code
