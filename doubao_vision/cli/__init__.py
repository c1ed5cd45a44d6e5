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
from collections.abc import Sequence

from ._common import (
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    KEY_ENV,
    UsageError,
)
from ._parser import build_parser, key_on_command_line

__all__ = ["main"]


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    import asyncio

    command = args.command
    if command == "emulator":
        from ._emulator import run_emulator

        return run_emulator(args, extra)
    if command == "demo":
        from ._demo import run_demo

        if args.emulator or args.base_url or args.api_key_file:
            raise UsageError("demo runs its own emulator: it takes no connection options")
        return asyncio.run(run_demo())
    if command == "batch":
        from ._batch import run_batch

        return asyncio.run(run_batch(args))
    from ._ask import run_ask, run_models

    return asyncio.run(run_ask(args) if command == "ask" else run_models(args))


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
