"""What a batch asks: images from arguments and input files, each with its prompt and key.

An item's key is the image's resolved path plus everything that changes the
answer (prompt, model, the request options), so ``img/*`` and ``$PWD/img/*``
are one image, while a new prompt or model is a new question. The key is built
from fields every results row carries, so it can be recomputed from the file.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import orjson

from doubao_vision._facts import IMAGE_SUFFIXES

from ._common import UsageError

__all__ = ["Item", "Key", "expand_paths", "make_items", "read_input_file", "row_key"]

Key = tuple[str, str, str, str]


def row_key(path: str, prompt: str, model: str, params: Mapping[str, Any]) -> Key:
    """The resume key: resolved path, prompt, model and the options as canonical JSON."""
    canonical = orjson.dumps(dict(params), option=orjson.OPT_SORT_KEYS).decode()
    return (path, prompt, model, canonical)


@attrs.frozen
class Item:
    """One image to ask about: as given (for the row), resolved, and its question."""

    image: str
    path: str
    prompt: str
    key: Key


def expand_paths(patterns: list[str]) -> list[str]:
    """Files in argument order: globs expanded (sorted), directories listed
    (image suffixes only, sorted), anything else kept as given, missing or not,
    so that it is reported as a failed item."""
    found: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            found += [p for p in matches if not os.path.isdir(p)] or [pattern]
        elif os.path.isdir(pattern):
            found += sorted(
                entry.path
                for entry in os.scandir(pattern)
                if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
            )
        else:
            found.append(pattern)
    return [os.path.normpath(path) for path in found]


def _rows_of_jsonl(path: str, lines: list[str]) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not JSON ({exc})") from None


def read_input_file(path: str) -> list[tuple[str, str | None]]:
    """``(image, prompt or None)`` per row of a JSON Lines or CSV file.

    JSON Lines rows are objects with ``image`` and an optional ``prompt``; a CSV
    file has a header naming an ``image`` column and optionally ``prompt``. The
    format is told by the suffix (``.jsonl``, ``.ndjson``, ``.csv``), else by
    whether the first character is ``{``.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read --input {path!r}: {exc.strerror}") from None
    suffix = os.path.splitext(path)[1].lower()
    is_csv = suffix == ".csv" or (
        suffix not in (".jsonl", ".ndjson", ".json") and not text.lstrip().startswith("{")
    )
    if is_csv:
        reader = csv.DictReader(text.splitlines())
        if "image" not in (reader.fieldnames or []):
            raise UsageError(f"{path}: the CSV header needs an 'image' column")
        rows: Iterator[tuple[int, Any]] = enumerate(reader, 2)
    else:
        rows = _rows_of_jsonl(path, text.splitlines())
    items: list[tuple[str, str | None]] = []
    for number, row in rows:
        image = row.get("image") if isinstance(row, dict) else None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if not isinstance(image, str) or not image:
            raise UsageError(f"{path}:{number}: each row needs an 'image' (a path)")
        if prompt is not None and not isinstance(prompt, str):
            raise UsageError(f"{path}:{number}: 'prompt' must be text")
        items.append((os.path.normpath(image), prompt or None))
    return items


def make_items(
    paths: list[str],
    input_file: str | None,
    prompt: str | None,
    model: str,
    params: Mapping[str, Any],
) -> list[Item]:
    """Every item once (by key), in argument order, then the input file's order."""
    given: list[tuple[str, str | None]] = [(path, None) for path in expand_paths(paths)]
    if input_file is not None:
        given += read_input_file(input_file)
    items: dict[Key, Item] = {}
    for image, own_prompt in given:
        asked = own_prompt or prompt
        if asked is None:
            raise UsageError(f"no prompt for {image!r}: pass -p PROMPT (or give its row one)")
        path = os.path.realpath(image)
        key = row_key(path, asked, model, params)
        items.setdefault(key, Item(image, path, asked, key))
    return list(items.values())
