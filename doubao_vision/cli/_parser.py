"""The argument parser: each command offers only the options it uses.

argparse errors are redacted (an unknown argument may be a key typed by
mistake), and any option that looks like a key is refused before parsing.
``emulator`` hands its options to ``python -m doubao_vision.emulator``, so the
two take the same ones by construction.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from doubao_vision import DEFAULT_MODEL, __version__

from ._common import EXIT_USAGE, KEY_ENV

__all__ = ["build_parser", "command_index", "key_on_command_line"]

_KEY_FLAGS = ("--api-key", "--key", "--token")
# Top-level options that take a value in the next word (for finding the command).
_VALUE_OPTIONS = frozenset({"--base-url", "--api-key-file"})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Never echo unknown arguments: one of them may be a key typed by mistake.
        head, sep, rest = message.partition("unrecognized arguments:")
        if sep:
            words = rest.split()
            shown = [w.split("=", 1)[0] if w.startswith("-") else "..." for w in words]
            message = f"{head}unrecognized arguments: {' '.join(shown)}"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def command_index(argv: Sequence[str]) -> int | None:
    """Where the command word is in ``argv`` (None if there is none)."""
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return i
    return None


def key_on_command_line(argv: Sequence[str]) -> bool:
    """Whether an option meant to carry a key is in ``argv``; after ``emulator``,
    ``--api-key`` is the emulator's own test key and allowed, as in
    ``python -m doubao_vision.emulator``."""
    at = command_index(argv)
    if at is not None and argv[at] == "emulator":
        argv = argv[:at]
    prefixes = tuple(f"{flag}=" for flag in _KEY_FLAGS)
    return any(arg in _KEY_FLAGS or arg.startswith(prefixes) for arg in argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _add_connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before or after the command: the subparser copies default to
    # SUPPRESS so that they do not overwrite what was given before it.
    suppress = argparse.SUPPRESS
    parser.add_argument(
        "--emulator",
        action="store_true",
        default=False if top else suppress,
        help="run against an emulator started in this process (no key, no network)",
    )
    parser.add_argument(
        "--base-url",
        default=None if top else suppress,
        metavar="URL",
        help="the gateway (default: $DOUBAO_VISION_BASE_URL, else 302.AI)",
    )
    parser.add_argument(
        "--api-key-file",
        default=None if top else suppress,
        metavar="PATH",
        help=f"read the key from this file (default: ${KEY_ENV})",
    )


def _add_call_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=_positive_float, metavar="SECONDS", help="per attempt (default 600)"
    )
    parser.add_argument(
        "--max-retries", type=_count, metavar="N", help="retries after a failed attempt (2)"
    )


def _add_request_options(parser: argparse.ArgumentParser, *, prompt_required: bool) -> None:
    parser.add_argument("-p", "--prompt", required=prompt_required, help="the question to ask")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    parser.add_argument("--system", metavar="TEXT", help="a system prompt sent first")
    parser.add_argument(
        "--detail", choices=("low", "high", "auto"), default=None, help="image detail"
    )
    parser.add_argument(
        "--max-tokens", type=_positive_int, metavar="N", help="cap on the answer's tokens"
    )
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling, 0 to 2")
    parser.add_argument(
        "--json", action="store_true", help="ask for a JSON object (response_format json_object)"
    )
    parser.add_argument(
        "--schema",
        metavar="MODULE:CLASS",
        help="read each answer into this attrs class or dataclass (written as 'parsed')",
    )
    parser.add_argument(
        "--resize",
        action="store_true",
        help="downscale images to the model's pixel budget before upload (needs Pillow)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="doubao-vision",
        description="Ask Doubao vision models about images, one or thousands at a time.",
        epilog=f"The API key is read from ${KEY_ENV} or --api-key-file, never from argv.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"doubao-vision {__version__}")
    _add_connection_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, *, connects: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
        if connects:
            _add_connection_options(sub, top=False)
            _add_call_options(sub)
        return sub

    ask = command("ask", "ask about one or more images and print the answer")
    ask.add_argument("images", nargs="*", metavar="IMAGE", help="image paths or URLs")
    _add_request_options(ask, prompt_required=True)
    ask.add_argument("--stream", action="store_true", help="print the answer as it arrives")

    batch = command("batch", "ask about many images, resumably; one JSON line per answer")
    batch.add_argument("paths", nargs="*", metavar="PATH_OR_GLOB", help="files, dirs or globs")
    _add_request_options(batch, prompt_required=False)
    batch.add_argument(
        "--input",
        metavar="FILE",
        help="more images, one per row, each with its own prompt: JSON Lines "
        '({"image": ..., "prompt": ...}) or CSV with image and prompt columns',
    )
    batch.add_argument(
        "-o", "--output", required=True, metavar="RESULTS.jsonl", help="appended; resumable"
    )
    batch.add_argument(
        "--concurrency", type=_positive_int, default=16, metavar="N", help="in flight (16)"
    )
    batch.add_argument("--rpm", type=_positive_float, metavar="N", help="requests per minute")
    batch.add_argument("--tpm", type=_positive_float, metavar="N", help="tokens per minute")
    batch.add_argument(
        "--fail-fast", action="store_true", help="stop at the first failure of any kind"
    )
    batch.add_argument(
        "--compact",
        action="store_true",
        help="rewrite RESULTS.jsonl keeping the latest row per image and question "
        "(after the run; alone if no images are given)",
    )
    batch.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "off"),
        default="auto",
        help="auto: rich if installed, else plain; none unless stderr is a terminal",
    )

    command("models", "list the model ids the gateway offers")

    emulator = commands.add_parser(
        "emulator",
        help="serve the local emulator until interrupted "
        "(the options of python -m doubao_vision.emulator; see emulator --help)",
        add_help=False,  # --help goes to the emulator's own parser
        allow_abbrev=False,
    )
    emulator.add_argument("--api-key-file", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    demo = "ask about the bundled sample images, against the embedded emulator"
    command("demo", demo, connects=False)
    return parser
