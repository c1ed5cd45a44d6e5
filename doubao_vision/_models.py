"""Response-side attrs classes: completions, stream chunks, usage.

Every class keeps the fields the server sent that we do not model in
``extra`` (servers add fields every month; they must never break parsing and
must stay reachable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import orjson

from ._http_info import ResponseInfo
from ._messages import NO_EXTRA, AssistantMessage, Extra

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionTokensDetails",
    "FunctionCallDelta",
    "PromptTokensDetails",
    "ToolCallDelta",
    "Usage",
]


def _extra() -> Any:
    return attrs.field(default=NO_EXTRA, repr=False, eq=False)


# Our own bookkeeping on response objects, never part of the wire shape.
_LOCAL = frozenset({"extra", "request_id", "client_request_id", "http"})
# Filled in by _serde when it loads (it imports this module, so not the reverse).
_STRUCTURERS: dict[type[Any], Callable[[Any], Any]] = {}


def to_wire(value: Any) -> Any:
    """The JSON shape of a response object: its fields (``None`` omitted) plus the
    unknown ones it kept in ``extra``; lists and nested objects likewise."""
    if attrs.has(type(value)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(value)):
            if field.name in _LOCAL:
                continue
            item = getattr(value, field.name)
            if item is not None:
                out[field.name] = to_wire(item)
        extra = getattr(value, "extra", None)
        if extra:
            out.update(extra)
        return out
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    return value


class _Wire:
    """``to_dict``/``to_json``/``from_dict`` for the top-level response classes."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The wire shape (as the server sent it, unknown fields included)."""
        result: dict[str, Any] = to_wire(self)
        return result

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return orjson.dumps(to_wire(self)).decode()

    @classmethod
    def from_dict(cls: type[_W], data: Mapping[str, Any]) -> _W:
        """Structure the wire shape (e.g. from :meth:`to_dict`), checked like an answer.

        Raises:
            ResponseValidationError: ``data`` does not fit.
        """
        result: _W = _STRUCTURERS[cls](dict(data))
        return result


_W = TypeVar("_W", bound=_Wire)


@attrs.frozen
class PromptTokensDetails:
    cached_tokens: int = 0
    extra: Extra = _extra()


@attrs.frozen
class CompletionTokensDetails:
    reasoning_tokens: int = 0
    extra: Extra = _extra()


@attrs.frozen
class Usage(_Wire):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    extra: Extra = _extra()

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return details.cached_tokens if details else 0

    @property
    def reasoning_tokens(self) -> int:
        details = self.completion_tokens_details
        return details.reasoning_tokens if details else 0


@attrs.frozen
class Choice:
    index: int
    message: AssistantMessage
    finish_reason: str | None = None
    logprobs: Any = None
    moderation_hit_type: str | None = None
    extra: Extra = _extra()


@attrs.frozen
class ChatCompletion(_Wire):
    """A whole answer.

    ``request_id`` is the server's id for this call (from ``x-request-id`` or
    ``request-id``); ``client_request_id`` is the ``X-Client-Request-Id`` we sent;
    ``http`` describes the exchange (:class:`ResponseInfo`).
    """

    id: str
    choices: list[Choice]
    model: str = ""
    created: int = 0
    object: str = "chat.completion"
    service_tier: str | None = None
    usage: Usage | None = None
    request_id: str | None = None
    client_request_id: str | None = None
    #: The HTTP exchange behind this answer (status, headers, timings, attempts);
    #: ``None`` for a completion you built yourself.
    http: ResponseInfo | None = attrs.field(default=None, eq=False, repr=False)
    extra: Extra = _extra()

    @property
    def text(self) -> str:
        """The first choice's content, or "" when there is none (a tool call)."""
        if not self.choices:
            return ""
        return self.choices[0].message.content or ""

    @property
    def reasoning(self) -> str:
        """The first choice's reasoning_content, or ""."""
        if not self.choices:
            return ""
        return self.choices[0].message.reasoning_content or ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None


_C = TypeVar("_C")


def _defaults_on_class(cls: type[_C]) -> type[_C]:
    """Put each plain field default back on the class (attrs removes them), so an
    instance whose ``__dict__`` lacks a field reads its default from the class.

    The stream's fast path (_fastparse, owned mode) keeps the JSON object orjson
    made as the chunk's ``__dict__`` instead of a copy merged with every default:
    a delta that sent only ``content`` holds one key, not five. Attribute access,
    ``==``, ``hash``, ``repr``, ``attrs.evolve``, pickling and ``to_dict`` all go
    through ``getattr``, so such an instance is the same as one made by
    ``__init__`` (tests/test_fastparse.py checks each).
    """
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        if field.default is not attrs.NOTHING and not isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            setattr(cls, field.name, field.default)
    return cls


# The stream's per-chunk classes keep an instance __dict__ (slots=False): the fast
# structurer (_fastparse) sets it whole in one step instead of slot by slot, most
# of what makes typing a chunk cheap. They are frozen all the same.
@_defaults_on_class
@attrs.frozen(slots=False)
class FunctionCallDelta:
    name: str | None = None
    arguments: str | None = None
    extra: Extra = _extra()


@_defaults_on_class
@attrs.frozen(slots=False)
class ToolCallDelta:
    index: int = 0
    id: str | None = None
    type: str | None = None
    function: FunctionCallDelta | None = None
    extra: Extra = _extra()


@_defaults_on_class
@attrs.frozen(slots=False)
class ChoiceDelta:
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    extra: Extra = _extra()


@_defaults_on_class
@attrs.frozen(slots=False)
class ChunkChoice:
    index: int = 0
    delta: ChoiceDelta = attrs.field(factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: Any = None
    moderation_hit_type: str | None = None
    extra: Extra = _extra()


@_defaults_on_class
@attrs.frozen(slots=False)
class ChatCompletionChunk(_Wire):
    """One streamed piece; the include_usage chunk has ``choices == []`` and ``usage``."""

    id: str = ""
    choices: list[ChunkChoice] = attrs.field(factory=list)
    model: str = ""
    created: int = 0
    object: str = "chat.completion.chunk"
    service_tier: str | None = None
    usage: Usage | None = None
    extra: Extra = _extra()
