"""What every command shares: exit codes, the key, the client, the request, errors.

The key comes from ``DOUBAO_VISION_API_KEY`` or ``--api-key-file``, never from
argv (argv lands in shell history and ``ps``), and is never printed. The client
is imported here lazily, inside :func:`connect`: ``--help`` and usage errors
never load aiohttp.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from doubao_vision import (
    AuthenticationError,
    ChatRequest,
    DoubaoVisionError,
    Image,
    InvalidRequestError,
    Message,
    NotFoundError,
    TextPart,
    system,
    user,
)

if TYPE_CHECKING:
    from doubao_vision import AsyncClient

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "KEY_ENV",
    "UsageError",
    "answer_params",
    "build_messages",
    "chat_params",
    "check_request",
    "client_options",
    "connect",
    "image_from_arg",
    "read_key",
    "report",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell shows for Ctrl-C
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell shows for a tool cut off by `| head`
# The variable AsyncClient reads too; the CLI reads it itself so that a missing
# key is a usage error before anything is sent (tests check the two agree).
KEY_ENV = "DOUBAO_VISION_API_KEY"
KEY_HINT = f"set {KEY_ENV} or pass --api-key-file PATH"

# The SDK's hints name its own arguments (api_key=, base_url=); on the command
# line the way to fix the same problem is an option or a variable.
_CLI_HINTS: dict[type[DoubaoVisionError], str] = {
    AuthenticationError: f"check the key: {KEY_HINT} (--emulator needs none)",
    NotFoundError: "check --model and --base-url",
}


class UsageError(Exception):
    """Bad options or configuration: reported in one line, exit code 2."""


def read_key(args: argparse.Namespace) -> str | None:
    """The key from ``--api-key-file`` or the environment (None if neither)."""
    path = getattr(args, "api_key_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                key = f.read().strip()
        except OSError as exc:
            raise UsageError(f"cannot read --api-key-file {path!r}: {exc.strerror}") from None
        if not key:
            raise UsageError(f"--api-key-file {path!r} is empty")
        return key
    return os.environ.get(KEY_ENV) or None


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """``AsyncClient`` keywords from ``--timeout`` and ``--max-retries``."""
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    if getattr(args, "resize", False):
        options["resize_images"] = True
    return options


def schema_class(args: argparse.Namespace) -> type[Any] | None:
    """The class ``--schema module:Class`` names (imported from the current directory too)."""
    spec = getattr(args, "schema", None)
    if not spec:
        return None
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise UsageError(f"--schema takes MODULE:CLASS, such as receipts:Receipt, not {spec!r}")
    import importlib

    if "" not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: modules beside the user
    try:
        found: Any = importlib.import_module(module_name)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--schema {spec}: cannot import it ({exc})") from None
    if not isinstance(found, type):
        raise UsageError(f"--schema {spec} is not a class")
    return found


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace, **options: Any) -> AsyncIterator[AsyncClient]:
    """A client for the chosen gateway, or for an in-process emulator with ``--emulator``."""
    from doubao_vision import AsyncClient

    if args.emulator:
        from doubao_vision.emulator import Emulator

        local_key = secrets.token_urlsafe(24)
        async with (
            Emulator(api_key=local_key, record_bodies=False) as base_url,
            AsyncClient(local_key, base_url=base_url, **options) as client,
        ):
            yield client
        return
    key = read_key(args)
    if key is None:
        raise UsageError(f"no API key: {KEY_HINT} (or use --emulator to try it out)")
    async with AsyncClient(key, base_url=args.base_url, **options) as client:
        yield client


def chat_params(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the options ask for (only those given)."""
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.json:
        params["response_format"] = {"type": "json_object"}
    return params


def answer_params(args: argparse.Namespace) -> dict[str, Any]:
    """Everything besides prompt, image and model that changes the answer: part of
    a batch row's resume key, and written into the row."""
    params = chat_params(args)
    if args.system is not None:
        params["system"] = args.system
    if args.detail is not None:
        params["detail"] = args.detail
    if "response_format" in params:
        params["response_format"] = params["response_format"]["type"]
    if getattr(args, "schema", None):
        params["schema"] = args.schema  # another class is another question
    return params


def build_messages(
    prompt: str, images: Sequence[Image], *, system_prompt: str | None, detail: Any
) -> list[Message]:
    """The system turn (if any) and one user turn: the prompt, then the images.

    The prompt goes in as a ``TextPart`` so that a prompt such as ``"x.png?"``
    is never taken for an image, and every image is an ``Image`` already, so
    that nothing given as an image is ever sent as text.
    """
    messages: list[Message] = [system(system_prompt)] if system_prompt else []
    messages.append(user(TextPart(prompt), *images, detail=detail))
    return messages


def image_from_arg(arg: str) -> Image:
    """An image named on the command line: a URL if it has a scheme, else a file.

    Raises:
        ImageError: a missing or unreadable file, a bad image, or an unsupported
            URL scheme.
    """
    head = arg[:16].lower()
    if "://" in head or head.startswith("data:"):
        return Image.from_url(arg)
    return Image.from_path(arg)


def check_request(args: argparse.Namespace, prompt: str = "?") -> None:
    """Validate the options that become request fields before any file is read
    or anything is sent: a bad value is a usage error (exit 2), like argparse's."""
    messages = build_messages(prompt, [], system_prompt=args.system, detail=args.detail)
    try:
        ChatRequest(model=args.model, messages=messages, **chat_params(args))
    except InvalidRequestError as exc:
        raise UsageError(str(exc)) from None


def report(error: DoubaoVisionError) -> int:
    """Print a typed error on one line, with the command line's own hint; exit code 1."""
    text = str(error)
    hint = next((h for kind, h in _CLI_HINTS.items() if isinstance(error, kind)), None)
    if hint is not None:
        head, sep, _ = text.rpartition(" -- ")  # drop the SDK's hint, naming its arguments
        text = f"{head if sep else text} -- {hint}"
    print(f"error: {type(error).__name__}: {text}", file=sys.stderr)
    return EXIT_FAILED
