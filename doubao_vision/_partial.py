"""Structured output while streaming: the object so far, then the whole object.

The partial-JSON parsing is jiter's (``partial_mode="trailing-strings"``, the
parser the openai and anthropic SDKs use for the same job). jiter is an
optional dependency, imported on first use: ``pip install 'doubao-vision[structured]'``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, TypeVar, overload

from ._extract import ResponseFormat, parsed_from
from ._models import ChatCompletionChunk
from ._streaming import AsyncStream

__all__ = ["StructuredStream", "final_parsed", "partial_objects"]

T = TypeVar("T")

_THINK_OPEN = "<think>"
_THINK_CLOSE = re.compile(r"</think>")


def _jiter() -> Any:
    try:
        import jiter
    except ImportError:
        raise ImportError(
            "partial_objects() parses partial JSON with jiter, which is not installed: "
            "pip install 'doubao-vision[structured]'"
        ) from None
    return jiter


async def partial_objects(stream: AsyncStream[Any]) -> AsyncIterator[dict[str, Any]]:
    """Yield the JSON object parsed so far, each time it grows.

    Use it on a stream asked for a ``response_format``: each value is a fresh
    dict holding every key that has started (a string that is still arriving
    holds the part so far, a number the digits so far). A leading
    ``<think>...</think>`` block, a Markdown fence and prose before the object are
    skipped; a value that would shrink what was yielded before (a number cut at
    its ``.``) is held back until the next piece. Nothing is validated here: call
    :func:`final_parsed` (or ``parsed_from``) for the typed object.

    Raises:
        ImportError: jiter is missing (install the ``structured`` extra).
        the stream's errors, as ``async for`` over it raises them.
    """
    jiter = _jiter()
    text = ""
    last: dict[str, Any] | None = None
    async for delta in stream.text_deltas():
        text += delta
        body = _object_text(text)
        if body is None:
            continue
        try:
            value = jiter.from_json(body.encode(), partial_mode="trailing-strings")
        except ValueError:
            continue  # malformed so far; the final read reports it
        if isinstance(value, dict) and value != last and (last is None or _grows(value, last)):
            last = value
            yield value


def _object_text(text: str) -> str | None:
    """The text from the object's ``{`` on, or None while there is none yet."""
    head = text.lstrip()
    if head.startswith(_THINK_OPEN) or _THINK_OPEN.startswith(head):
        close = _THINK_CLOSE.search(head)
        if close is None:
            return None  # still reasoning (or "<thi" so far)
        head = head[close.end() :]
    start = head.find("{")
    return None if start == -1 else head[start:]


def _grows(new: Any, old: Any) -> bool:
    """Whether ``new`` keeps everything ``old`` had (so what a user saw never shrinks)."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(
            key in new and _grows(new[key], value) for key, value in old.items()
        )
    if isinstance(old, list):
        return (
            isinstance(new, list)
            and len(new) >= len(old)
            and all(_grows(n, o) for n, o in zip(new, old, strict=False))
        )
    if isinstance(old, str):
        return isinstance(new, str) and new.startswith(old)
    return True


@overload
async def final_parsed(stream: AsyncStream[Any], response_format: type[T]) -> T: ...
@overload
async def final_parsed(stream: AsyncStream[Any], response_format: Mapping[str, Any]) -> Any: ...
async def final_parsed(stream: AsyncStream[Any], response_format: ResponseFormat) -> Any:
    """Read the rest of ``stream`` and return its answer as ``response_format``.

    No repair round here (a stream cannot be asked again); use ``parse`` for that.

    Raises:
        OutputValidationError, LengthFinishReasonError,
        ContentFilterFinishReasonError: as for ``parsed_from``.
    """
    completion = await stream.final_completion()
    return parsed_from(completion, response_format)


class StructuredStream(AsyncStream[ChatCompletionChunk], Generic[T]):
    """A stream asked for a ``response_format``: ``client.stream(..., response_format=Cls)``.

    Everything an :class:`AsyncStream` does, plus :meth:`partial_objects` (the
    object so far, as a dict, while it streams) and :meth:`final_parsed` (the
    typed object at the end).
    """

    _response_format: ResponseFormat

    def partial_objects(self) -> AsyncIterator[dict[str, Any]]:
        """See :func:`partial_objects`; needs jiter (the ``structured`` extra)."""
        return partial_objects(self)

    async def final_parsed(self) -> T:
        """Read the rest and return the answer as the requested class (no repair round)."""
        result: T = await final_parsed(self, self._response_format)
        return result
