"""The ``doubao-vision`` command line: ask, batch, models, emulator, demo.

The API key comes from ``DOUBAO_VISION_API_KEY`` or ``--api-key-file``, never from
argv (argv lands in shell history and ``ps``), and is never printed: argparse
errors are redacted so even a key typed by mistake is not echoed back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, NoReturn

from ._client import AsyncClient
from ._config import API_KEY_ENV, DEFAULT_MODEL
from ._exceptions import DoubaoVisionError
from ._images import to_image
from ._messages import ImagePart, ImageURL, TextPart, UserMessage
from ._samples import sample_images

__all__ = ["UsageError", "connect", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_KEY_FLAGS = ("--api-key", "--key", "--token")


class UsageError(Exception):
    """Bad options or configuration: reported in one line, exit code 2."""


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
        help=f"read the key from this file (default: ${API_KEY_ENV})",
    )


def _add_request_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--prompt", required=True, help="the question to ask")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    parser.add_argument("--detail", choices=("low", "high"), default=None, help="image detail")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="doubao-vision",
        description="Ask Doubao vision models about images, one or thousands at a time.",
        epilog=f"The API key is read from ${API_KEY_ENV} or --api-key-file, never from argv.",
        allow_abbrev=False,
    )
    _add_connection_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
        _add_connection_options(sub, top=False)
        return sub

    ask = command("ask", "ask about one or more images and print the answer")
    ask.add_argument("images", nargs="*", metavar="IMAGE", help="image paths or URLs")
    _add_request_options(ask)
    ask.add_argument("--stream", action="store_true", help="print the answer as it arrives")

    batch = command("batch", "ask the same question about many images; resumable")
    batch.add_argument("paths", nargs="+", metavar="PATH_OR_GLOB", help="files, dirs or globs")
    _add_request_options(batch)
    batch.add_argument(
        "-o", "--output", required=True, metavar="RESULTS.jsonl", help="appended; resumable"
    )
    batch.add_argument(
        "--concurrency", type=_positive_int, default=16, metavar="N", help="in flight (16)"
    )
    batch.add_argument("--rpm", type=_positive_float, metavar="N", help="requests per minute")
    batch.add_argument("--tpm", type=_positive_float, metavar="N", help="tokens per minute")
    batch.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "off"),
        default="auto",
        help="auto: rich if installed, else plain; none unless stderr is a terminal",
    )

    command("models", "list the model ids the gateway offers")

    emulator = command("emulator", "serve the local emulator until interrupted")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8000)

    command("demo", "ask about the bundled sample images, against the embedded emulator")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def read_key(args: argparse.Namespace) -> str | None:
    """The key from ``--api-key-file`` or the environment (None if neither)."""
    if args.api_key_file:
        try:
            with open(args.api_key_file, encoding="utf-8") as f:
                key = f.read().strip()
        except OSError as exc:
            raise UsageError(
                f"cannot read --api-key-file {args.api_key_file!r}: {exc.strerror}"
            ) from None
        if not key:
            raise UsageError(f"--api-key-file {args.api_key_file!r} is empty")
        return key
    return os.environ.get(API_KEY_ENV) or None


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace, **options: Any) -> AsyncIterator[AsyncClient]:
    """A client for the chosen gateway, or for an in-process emulator with ``--emulator``."""
    if args.emulator:
        from .emulator import Emulator

        local_key = secrets.token_urlsafe(24)
        async with (
            Emulator(api_key=local_key, record_bodies=False) as base_url,
            AsyncClient(local_key, base_url=base_url, **options) as client,
        ):
            yield client
        return
    key = read_key(args)
    if key is None:
        raise UsageError(f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH")
    async with AsyncClient(key, base_url=args.base_url, **options) as client:
        yield client


def _fail(error: DoubaoVisionError) -> int:
    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return EXIT_FAILED


async def _ask(args: argparse.Namespace) -> int:
    try:
        parts: list[Any] = [TextPart(args.prompt)]
        parts += [ImagePart(ImageURL(to_image(path), args.detail)) for path in args.images]
        messages = [UserMessage(parts)]
        async with connect(args) as client:
            if not args.stream:
                print((await client.chat(args.model, messages)).text)
                return 0
            async with client.stream(args.model, messages) as stream:
                async for piece in stream.text_deltas():
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            sys.stdout.write("\n")
    except DoubaoVisionError as error:
        return _fail(error)
    return 0


async def _models(args: argparse.Namespace) -> int:
    try:
        async with connect(args) as client:
            for model in await client.models():
                print(model)
    except DoubaoVisionError as error:
        return _fail(error)
    return 0


async def _emulator(args: argparse.Namespace) -> int:
    from .emulator import serve

    try:
        await serve(args.host, args.port, read_key(args))
    except OSError as exc:  # the port is taken, say
        print(f"doubao-vision emulator: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


async def _demo(args: argparse.Namespace) -> int:
    from .emulator import Emulator

    images = sample_images()
    prompt = "What is in this image?"
    key = secrets.token_urlsafe(24)
    async with (
        Emulator(api_key=key) as base_url,
        AsyncClient(key, base_url=base_url) as client,
    ):
        print(f"doubao-vision demo: {len(images)} images at once against the embedded emulator")
        print(f"at {base_url} (no network, no real key; answers describe what arrived)\n")

        async def one(name: str, data: bytes) -> tuple[str, Any, float]:
            began = time.perf_counter()
            message = UserMessage([TextPart(prompt), ImagePart(ImageURL(to_image(data)))])
            completion = await client.chat(DEFAULT_MODEL, [message])
            return name, completion, time.perf_counter() - began

        began = time.perf_counter()
        answers = await asyncio.gather(*(one(name, data) for name, data in images.items()))
        wall = time.perf_counter() - began
        for name, completion, seconds in answers:
            usage = completion.usage
            tokens = f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
            print(f"== {name}  ({seconds * 1000:.0f} ms, {tokens})")
            print(textwrap.indent(completion.text, "   "))
        print("\nStreamed, token by token:")
        name, data = next(iter(images.items()))
        message = UserMessage([TextPart(f"And {name}?"), ImagePart(ImageURL(to_image(data)))])
        async with client.stream(DEFAULT_MODEL, [message]) as stream:
            async for piece in stream.text_deltas():
                sys.stdout.write(piece)
                sys.stdout.flush()
        totals = client.usage
        print(
            f"\n\n{totals.requests} requests, {len(images)} of them concurrent in {wall:.3f} s; "
            f"tokens: {totals.prompt_tokens} prompt + {totals.completion_tokens} completion "
            f"= {totals.total_tokens}"
        )
    print(f"Next: export {API_KEY_ENV}=... and run: doubao-vision ask photo.jpg -p 'What is this?'")
    return 0


async def _batch(args: argparse.Namespace) -> int:
    from ._cli_batch import run_batch

    return await run_batch(args)


_COMMANDS = {
    "ask": _ask,
    "batch": _batch,
    "models": _models,
    "emulator": _emulator,
    "demo": _demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if any(arg in _KEY_FLAGS or arg.startswith(tuple(f + "=" for f in _KEY_FLAGS)) for arg in argv):
        parser.print_usage(sys.stderr)
        print(
            f"doubao-vision: error: keys are never taken from the command line (shell history, "
            f"ps); set {API_KEY_ENV} or use --api-key-file PATH",
            file=sys.stderr,
        )
        return EXIT_USAGE
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_COMMANDS[args.command](args))
    except UsageError as exc:
        print(f"doubao-vision: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("doubao-vision: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
