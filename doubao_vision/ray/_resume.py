"""Resume keys: which rows an earlier run already answered.

A row's key is a hash of the image's identity and of what was asked, as the
CLI batch keys its results: the resolved path (for a path), the URL (for a
URL), or the content's SHA-256 (for bytes and arrays), plus the prompt, the
model and every parameter that can change the answer. A rerun with another
prompt or model therefore asks again; one with another timeout does not.

Earlier results are read with pyarrow's dataset reader (local paths and the
URIs pyarrow knows, such as ``s3://``), only the two columns needed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import orjson

from doubao_vision import Image

__all__ = ["KEY_COLUMN", "answered_keys", "image_identity", "question_digest", "row_key"]

KEY_COLUMN = "resume_key"
# Request fields that never change what the model answers.
_NOT_ASKED = frozenset({"extra_headers", "user", "stream_options", "service_tier"})


def question_digest(prompt: str, model: str, params: Mapping[str, Any]) -> bytes:
    """What was asked, canonically: the prompt, the model and the answer-changing params."""
    asked = {name: value for name, value in params.items() if name not in _NOT_ASKED}
    document = {"prompt": prompt, "model": model, "params": asked}
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS, default=repr)
    return hashlib.sha256(canonical).digest()


def image_identity(value: Any) -> str:
    """The image's identity: ``path:<realpath>``, ``url:<url>`` or ``sha256:<hex>``."""
    if isinstance(value, Image):
        return f"url:{value.url}" if value.url is not None else _content(value.data or b"")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _content(value)
    if isinstance(value, str):
        text = value.strip()
        lowered = text[:8].lower()
        if lowered.startswith(("http://", "https://")):
            return f"url:{text}"
        if lowered.startswith("data:"):
            return _content(text.encode())
        return f"path:{os.path.realpath(text)}"
    if isinstance(value, os.PathLike):
        return f"path:{os.path.realpath(value)}"
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "tobytes"):  # a numpy array (ray.data.read_images)
        digest = hashlib.sha256(f"{value.dtype}{tuple(shape)}".encode())
        digest.update(value.tobytes())
        return f"sha256:{digest.hexdigest()}"
    return f"repr:{value!r}"  # an unusable value; its row fails with a clear error anyway


def _content(data: bytes | bytearray | memoryview) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def row_key(identity: str, question: bytes) -> str:
    """32 hex digits naming one (image, question) pair."""
    return hashlib.sha256(question + identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def answered_keys(path: str | os.PathLike[str]) -> frozenset[str]:
    """Keys of the rows answered without error in earlier results (parquet files).

    A path that does not exist yet, or holds no files, gives an empty set.

    Raises:
        ValueError: the files are not results of ``map_images`` (no ``resume_key``).
    """
    # pyarrow ships no type hints.
    import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.dataset as pads  # type: ignore[import-untyped,unused-ignore]

    try:
        dataset = pads.dataset(os.fspath(path), format="parquet")
    except FileNotFoundError:
        return frozenset()
    names = set(dataset.schema.names)
    if not names:
        return frozenset()
    if not {KEY_COLUMN, "error_type"} <= names:
        raise ValueError(
            f"{os.fspath(path)!r} does not hold map_images results (no {KEY_COLUMN!r} and "
            "'error_type' columns); pass resume_from= the directory you wrote them to"
        )
    table = dataset.to_table(columns=[KEY_COLUMN], filter=pc.field("error_type").is_null())
    return frozenset(table.column(KEY_COLUMN).to_pylist())
