"""``python -m doubao_vision.emulator --port 8000``: serve the emulator until interrupted.

The options are built by :func:`add_emulator_arguments` and run by
:func:`run_from_args`, so another command line (``doubao-vision emulator``) can offer
exactly the same ones.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

__all__ = ["add_emulator_arguments", "main", "run_from_args"]


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not a share between 0 and 1")
    return rate


def _seconds(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return seconds


def _status(value: str) -> int:
    status = int(value)
    if not 400 <= status <= 599:
        raise argparse.ArgumentTypeError(f"{value} is not an error status (400-599)")
    return status


def add_emulator_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator's options to ``parser`` (and return it).

    Options: ``--host``, ``--port``, ``--api-key``, ``--model`` (repeatable),
    ``--delay``, ``--chunk-delay``, ``--chunks``, ``--fault-rate``,
    ``--error-status`` and ``--seed``.
    """
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one")
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    parser.add_argument(
        "--model", action="append", default=[], metavar="ID", dest="models",
        help="also accept this model id (repeatable); unknown ids get 404 as on Ark",
    )  # fmt: skip
    parser.add_argument(
        "--delay", type=_seconds, default=0.0, metavar="SECONDS",
        help="wait this long before every chat answer (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--chunk-delay", type=_seconds, default=0.0, metavar="SECONDS",
        help="wait this long between stream chunks (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--chunks", type=int, default=None, metavar="N",
        help="split every streamed answer into N content chunks (default: one per word)",
    )  # fmt: skip
    parser.add_argument(
        "--fault-rate", type=_rate, default=0.0, metavar="SHARE",
        help="fail this share (0-1) of chat requests with --error-status (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--error-status", type=_status, default=500, metavar="STATUS",
        help="the status of those failures: 500, 503, 429 (with Retry-After: 1), ... "
        "(default 500)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=None, help="seed the fault dice for a reproducible run"
    )
    return parser


def run_from_args(args: argparse.Namespace, *, prog: str = "doubao-vision emulator") -> int:
    """Serve as ``args`` (from :func:`add_emulator_arguments`) say until interrupted.

    Returns the exit status: 0, or 1 when the address cannot be bound.
    """
    from ._server import serve  # imported here so that --help stays light

    if args.chunks is not None and args.chunks < 1:
        print(f"{prog}: --chunks must be at least 1", file=sys.stderr)
        return 2
    options = {
        "models": tuple(args.models),
        "latency": args.delay,
        "chunk_delay": args.chunk_delay,
        "chunks": args.chunks,
        "fault_rate": args.fault_rate,
        "error_status": args.error_status,
        "seed": args.seed,
    }
    try:
        asyncio.run(serve(args.host, args.port, args.api_key, **options))
    except KeyboardInterrupt:  # only where signal handlers cannot be installed
        pass
    except OSError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m doubao_vision.emulator",
        description="A local Doubao chat API (OpenAI-compatible) for tests and demos.",
        epilog="Faults can also be scripted per request with the X-Emulator-Fault header "
        "(see doubao_vision.emulator.Fault.to_header).",
    )
    args = add_emulator_arguments(parser).parse_args(argv)
    return run_from_args(args, prog="doubao-vision emulator")


if __name__ == "__main__":
    sys.exit(main())
