"""``doubao-vision emulator``: ``python -m doubao_vision.emulator`` under the CLI's name.

The options go to the emulator's own command line untouched, so both take the
same ones (``--host``, ``--port``, ``--api-key``, faults, delays) and ``emulator
--help`` lists them. Kept from before: with no ``--api-key``, the key accepted is
the one in ``--api-key-file`` or ``$DOUBAO_VISION_API_KEY``, if any.
"""

from __future__ import annotations

import argparse

from ._common import UsageError, read_key

__all__ = ["run_emulator"]


def _has_api_key(argv: list[str]) -> bool:
    return any(arg == "--api-key" or arg.startswith("--api-key=") for arg in argv)


def run_emulator(args: argparse.Namespace, argv: list[str]) -> int:
    """Serve until SIGINT or SIGTERM; returns the emulator's exit code."""
    from doubao_vision.emulator.__main__ import main

    if args.emulator or args.base_url:
        raise UsageError("emulator serves; --emulator and --base-url are for the other commands")
    if _has_api_key(argv):
        if getattr(args, "api_key_file", None):
            raise UsageError("pass the emulator's key with --api-key or --api-key-file, not both")
    else:
        key = read_key(args)
        if key is not None:  # a list handed over in-process: the key is never in argv
            argv = ["--api-key", key, *argv]
    return main(argv)
