"""``doubao-vision batch``: one question about many images, resumable after a crash.

The results file is JSON Lines, one line per finished image, appended with a
single ``write`` and ``fsync``-ed as soon as the image is done, so ``kill -9``
loses only what was in flight. On start, a torn last line (no newline: the
process died mid-write) is cut off; then the latest line for each image wins:
images answered ok are skipped, failed ones are asked again.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from ._batch import BatchResult
from ._cli import EXIT_FAILED, UsageError, connect
from ._exceptions import APIStatusError, DoubaoVisionError, ImageNotFoundError
from ._images import Image
from ._messages import ImagePart, ImageURL, TextPart, UserMessage
from ._progress import make_progress
from ._request import ChatRequest

__all__ = ["ResultsFile", "expand_paths", "load_previous", "run_batch"]

# Taken from a directory argument; files named one by one may be anything.
IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".ico",
        ".heic",
        ".heif",
    }
)


def expand_paths(patterns: list[str]) -> list[str]:
    """Files in argument order, each once: globs expanded (sorted), directories
    listed (image suffixes only, sorted), anything else kept as given, missing
    or not, so that it is reported as a failed item."""
    seen: dict[str, None] = {}
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern, recursive=True))
            paths = [p for p in found if not os.path.isdir(p)] or [pattern]
        elif os.path.isdir(pattern):
            paths = sorted(
                entry.path
                for entry in os.scandir(pattern)
                if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
            )
        else:
            paths = [pattern]
        for path in paths:
            seen.setdefault(os.path.normpath(path), None)
    return list(seen)


def load_previous(path: str) -> tuple[dict[str, bool], bool]:
    """``{image: ok}`` from the latest line per image, and whether a torn last
    line was cut off. Lines that are not valid JSON records are ignored."""
    latest: dict[str, bool] = {}
    good_end = 0
    torn = False
    try:
        with open(path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    torn = True
                    break
                good_end += len(line)
                try:
                    record = orjson.loads(line)
                    latest[str(record["image"])] = record.get("ok") is True
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
    except FileNotFoundError:
        return latest, False
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror}") from None
    if torn:
        os.truncate(path, good_end)
    return latest, torn


class ResultsFile:
    """Appends one JSON line per record with one ``write`` and an ``fsync``."""

    def __init__(self, path: str) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot open {path!r} for writing: {exc.strerror}") from None

    def write(self, record: dict[str, Any]) -> None:
        data = memoryview(orjson.dumps(record) + b"\n")
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def ok_record(image: str, result: BatchResult) -> dict[str, Any]:
    completion = result.unwrap()
    usage = completion.usage
    return {
        "image": image,
        "answer": completion.text,
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total_tokens if usage else 0,
        },
        "model": completion.model,
        "request_id": completion.request_id,
        "ok": True,
    }


def error_record(image: str, error: DoubaoVisionError) -> dict[str, Any]:
    status = error.status_code if isinstance(error, APIStatusError) else None
    record: dict[str, Any] = {
        "image": image,
        "ok": False,
        "error": {"type": type(error).__name__, "message": str(error), "status_code": status},
    }
    if isinstance(error, APIStatusError) and error.request_id:
        record["request_id"] = error.request_id
    return record


class _Run:
    """Counts and writes the results of one run."""

    def __init__(self, out: ResultsFile, total: int, progress_mode: str) -> None:
        self.out = out
        self.ok = 0
        self.failed: Counter[str] = Counter()
        self.progress = make_progress(progress_mode, total, sys.stderr)

    def record(self, image: str, result: BatchResult | DoubaoVisionError) -> None:
        if isinstance(result, DoubaoVisionError):
            error: DoubaoVisionError | None = result
        else:
            error = result.error
        if error is None:
            assert isinstance(result, BatchResult)
            self.out.write(ok_record(image, result))
            self.ok += 1
        else:
            self.out.write(error_record(image, error))
            self.failed[type(error).__name__] += 1
        self.progress.advance(error is None)


async def run_batch(args: argparse.Namespace) -> int:
    """Ask ``args.prompt`` about every image; returns the exit code."""
    images = expand_paths(args.paths)
    previous, repaired = load_previous(args.output)
    todo = [image for image in images if not previous.get(image)]
    out = ResultsFile(args.output)
    began = time.perf_counter()
    run = _Run(out, len(todo), args.progress)
    sent: dict[int, str] = {}  # batch index -> image, while in flight

    def requests() -> Iterator[ChatRequest]:
        index = itertools.count()
        for image in todo:
            try:
                if glob.has_magic(image) and not os.path.exists(image):
                    raise ImageNotFoundError(f"no file matches {image!r}", source=image)
                picture = Image.from_path(image)
            except DoubaoVisionError as error:
                run.record(image, error)  # bad paths and images fail here, alone
                continue
            part = ImagePart(ImageURL(picture, args.detail))
            message = UserMessage([TextPart(args.prompt), part])
            sent[next(index)] = image
            yield ChatRequest(model=args.model, messages=[message])

    try:
        options = {"rpm": args.rpm, "tpm": args.tpm, "max_connections": args.concurrency}
        async with connect(args, **options) as client:
            async for result in client.batch(requests(), concurrency=args.concurrency):
                run.record(sent.pop(result.index), result)
            usage = client.usage
    finally:
        run.progress.close()
        out.close()
    wall = time.perf_counter() - began
    failed = sum(run.failed.values())
    by_class = ", ".join(f"{name} {n}" for name, n in sorted(run.failed.items()))
    skipped = len(images) - len(todo)
    print(
        f"doubao-vision batch: {run.ok} ok, {failed} failed"
        + (f" ({by_class})" if by_class else "")
        + f", {skipped} skipped (already answered)"
    )
    print(
        f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion "
        f"= {usage.total_tokens}; wall time {wall:.2f} s; results in {args.output}"
        + ("; cut off a torn last line left by an interrupted run" if repaired else "")
    )
    return EXIT_FAILED if failed else 0
