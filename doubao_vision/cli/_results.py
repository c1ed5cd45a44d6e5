"""The results file of ``doubao-vision batch``: JSON Lines, appended, crash-safe.

One line per finished item, written with a single ``write`` and ``fsync``-ed at
once, so ``kill -9`` loses only what was in flight. On start, a torn last line
(no newline: the process died mid-write) is cut off; then an item whose key
(see ``_inputs``) has an answer is skipped, and one that only failed is asked
again. A key's answer supersedes its failures, a later answer an earlier one;
``--compact`` rewrites the file keeping only the line that stands per key.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from doubao_vision import APIStatusError, ChatCompletion, DoubaoVisionError

from ._common import UsageError
from ._inputs import Item, Key, row_key

__all__ = ["Previous", "ResultsFile", "compact", "error_row", "load_previous", "ok_row"]


def _key_of(record: Any) -> Key | None:
    """A row's key, or None for a row that is not one of ours (or from before keys)."""
    if not isinstance(record, dict):
        return None
    path, prompt, model = record.get("path"), record.get("prompt"), record.get("model")
    params = record.get("params", {})
    if not (isinstance(path, str) and isinstance(prompt, str) and isinstance(model, str)):
        return None
    if not isinstance(params, dict):
        return None
    return row_key(path, prompt, model, params)


@attrs.define
class Previous:
    """What an earlier run left in the results file."""

    answered: set[Key] = attrs.Factory(set)
    rows: Counter[Key] = attrs.Factory(Counter)  # lines per key
    unkeyed: int = 0  # rows without prompt and model (older versions): never reused
    torn: bool = False

    @property
    def superseded(self) -> int:
        return sum(n - 1 for n in self.rows.values())


def load_previous(path: str) -> Previous:
    """The latest outcome per key, and a torn last line cut off. Lines that are not
    JSON records of ours are ignored (and kept)."""
    previous = Previous()
    good_end = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    previous.torn = True
                    break
                good_end += len(line)
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                key = _key_of(record)
                if key is None:
                    previous.unkeyed += isinstance(record, dict) and "image" in record
                    continue
                previous.rows[key] += 1
                if record.get("ok") is True:
                    previous.answered.add(key)  # and a later failure does not undo it
    except FileNotFoundError:
        return previous
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror}") from None
    if previous.torn:
        os.truncate(path, good_end)
    return previous


class ResultsFile:
    """Appends one JSON line per record with one ``write`` and an ``fsync``."""

    def __init__(self, path: str) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot open {path!r} for writing: {exc.strerror}") from None

    def write(self, record: Mapping[str, Any]) -> None:
        data = memoryview(orjson.dumps(record) + b"\n")
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _asked(item: Item, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    # Everything the key is made of, so that it can be recomputed from the row.
    return {
        "image": item.image,
        "path": item.path,
        "prompt": item.prompt,
        "model": model,
        "params": dict(params),
    }


def ok_row(
    item: Item, model: str, params: Mapping[str, Any], completion: ChatCompletion
) -> dict[str, Any]:
    usage = completion.usage
    row = _asked(item, model, params)
    row["answer"] = completion.text
    row["finish_reason"] = completion.finish_reason
    row["usage"] = {
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "total_tokens": usage.total_tokens if usage else 0,
    }
    if completion.model and completion.model != model:
        row["served_model"] = completion.model  # a retired id answered by its successor
    row["request_id"] = completion.request_id
    row["ok"] = True
    return row


def error_row(
    item: Item, model: str, params: Mapping[str, Any], error: DoubaoVisionError
) -> dict[str, Any]:
    status = error.status_code if isinstance(error, APIStatusError) else None
    row = _asked(item, model, params)
    row["ok"] = False
    row["error"] = {"type": type(error).__name__, "message": str(error), "status_code": status}
    if isinstance(error, APIStatusError) and error.request_id:
        row["request_id"] = error.request_id
    return row


def compact(path: str) -> tuple[int, int]:
    """Rewrite ``path`` keeping one line per key, the one that stands (the latest
    answer, else the latest failure; lines without a key: per ``image``), in file
    order; returns ``(lines before, lines after)``.

    Written to a temporary file beside it, ``fsync``-ed, then renamed over it: a
    crash leaves the old file or the new one, never half of each.
    """
    records: list[tuple[tuple[str, ...], bool, bytes]] = []
    before = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                before += 1
                if not line.endswith(b"\n"):
                    break  # a torn last line: dropped, as a resume would
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                key = _key_of(record)
                image = record.get("image") if isinstance(record, dict) else None
                ok = isinstance(record, dict) and record.get("ok") is True
                records.append((key or ("image", str(image)), ok, line))
    except FileNotFoundError:
        raise UsageError(f"nothing to compact: {path!r} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror}") from None
    stands: dict[tuple[str, ...], tuple[bool, int]] = {}
    for n, (group, ok, _) in enumerate(records):
        if ok or not stands.get(group, (False, 0))[0]:
            stands[group] = (ok, n)
    kept = [line for n, (group, _, line) in enumerate(records) if stands[group][1] == n]
    temporary = f"{path}.compact-{os.getpid()}"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            data = memoryview(b"".join(kept))
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UsageError(f"cannot rewrite {path!r}: {exc.strerror}") from None
    return before, len(kept)
