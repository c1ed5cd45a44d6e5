"""Structured output: ask for an attrs class (or dataclass), get an instance back.

- :func:`prepare_request` adds ``response_format`` to a request: ``json_schema``
  where the model takes it (``model_info(model).json_schema``), else
  ``json_object`` plus the schema in the system message (Ark's 1.5 vision models
  take ``json_object`` only, and ``json_object`` needs the word "json" in the input).
- :func:`parse` sends it, reads the answer (``_extract.py``) and answers a
  validation failure with up to ``max_repairs`` repair rounds: the model gets its
  own answer back with the exact error paths, and each round's tokens are
  counted apart (``client.usage.add_repair``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs
import orjson

from ._extract import ResponseFormat, Unfit, check_finish, invalid_output, read_answer, strip_think
from ._facts import model_info
from ._messages import AssistantMessage, Message, SystemMessage, UserMessage
from ._models import ChatCompletion
from ._request import ChatRequest
from ._schema import json_schema

if TYPE_CHECKING:
    from . import AsyncClient
    from ._config import Timeout

__all__ = [
    "ParsedCompletion",
    "parse",
    "prepare_request",
    "response_format_for",
    "with_response_format",
]

T = TypeVar("T")

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")

_SCHEMA_PROMPT = (
    "Reply with one json object and nothing else (no prose, no Markdown fence). "
    "It must validate against this JSON Schema:\n{schema}"
)
_REPAIR_PROMPT = (
    "Your answer does not fit the required JSON Schema:\n{problems}\n"
    "Reply again with the whole corrected json object and nothing else."
)


@attrs.frozen
class ParsedCompletion(Generic[T]):
    """A completion and the object read from it.

    Attributes:
        parsed: the instance of the requested class (a dict for a mapping
            ``response_format``).
        completion: the completion it was read from (the last repair round's, if any).
        repairs: how many repair rounds it took (0: the first answer fit).
    """

    parsed: T
    completion: ChatCompletion
    repairs: int = 0


# -- preparing the request ----------------------------------------------


def response_format_for(model: str, cls: type[Any]) -> tuple[dict[str, Any], str | None]:
    """``(response_format, system_text)`` for asking ``model`` for a ``cls``.

    ``json_schema`` (strict) where the model facts say the model takes it, with
    no extra text; else ``json_object`` and the schema as system text.
    """
    schema = json_schema(cls)
    if model_info(model).json_schema:
        name = _NAME_CHARS.sub("_", cls.__name__)[:64]
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }, None
    text = _SCHEMA_PROMPT.format(schema=orjson.dumps(schema).decode())
    return {"type": "json_object"}, text


def with_response_format(request: ChatRequest, response_format: ResponseFormat) -> ChatRequest:
    """``request`` asking for ``response_format``: a mapping is sent unchanged, a
    class becomes a schema (see :func:`response_format_for`)."""
    if isinstance(response_format, Mapping):
        return attrs.evolve(request, response_format=response_format)
    fmt, system_text = response_format_for(request.model, response_format)
    messages = list(request.messages)
    if system_text is not None:
        messages = _with_system_text(messages, system_text)
    return attrs.evolve(request, messages=messages, response_format=fmt)


def _with_system_text(messages: list[Message], text: str) -> list[Message]:
    # Added to the caller's system message rather than in front of it: some
    # models heed only the first system message (vision-pro's thinking prompt is one).
    first = messages[0] if messages else None
    if isinstance(first, SystemMessage) and isinstance(first.content, str):
        return [attrs.evolve(first, content=f"{first.content}\n\n{text}"), *messages[1:]]
    return [SystemMessage(text), *messages]


def prepare_request(
    model: str,
    messages: Sequence[Message | Mapping[str, Any]],
    *,
    response_format: ResponseFormat,
    **params: Any,
) -> ChatRequest:
    """The :class:`ChatRequest` that asks ``model`` for ``response_format``.

    ``params`` are :class:`ChatParams` fields other than ``response_format``
    (typed as ``Any``: a TypedDict cannot leave out the key this takes).

    Raises:
        InvalidRequestError: a field is bad, as for ``ChatRequest``.
        TypeError: the class has a field type with no JSON Schema.
    """
    request = ChatRequest(model=model, messages=messages, **params)
    return with_response_format(request, response_format)


# -- the whole round trip -----------------------------------------------


@overload
async def parse(
    client: AsyncClient,
    model: str,
    messages: Sequence[Message | Mapping[str, Any]],
    *,
    response_format: type[T],
    max_repairs: int = 1,
    timeout: Timeout | float | None = None,
    **params: Any,
) -> ParsedCompletion[T]: ...
@overload
async def parse(
    client: AsyncClient,
    model: str,
    messages: Sequence[Message | Mapping[str, Any]],
    *,
    response_format: Mapping[str, Any],
    max_repairs: int = 1,
    timeout: Timeout | float | None = None,
    **params: Any,
) -> ParsedCompletion[Any]: ...
async def parse(
    client: AsyncClient,
    model: str,
    messages: Sequence[Message | Mapping[str, Any]],
    *,
    response_format: ResponseFormat,
    max_repairs: int = 1,
    timeout: Timeout | float | None = None,
    **params: Any,
) -> ParsedCompletion[Any]:
    """Ask ``model`` for a ``response_format`` instance and read it from the answer.

    Args:
        client: the :class:`AsyncClient` to send with.
        model, messages, params: as for ``client.chat``.
        response_format: an attrs class or dataclass (or a ready
            ``response_format`` mapping, whose JSON comes back as a dict).
        max_repairs: how many times an answer that does not fit is sent back
            with its error paths for another try (0: never).
        timeout: per call, as for ``client.chat``.

    Raises:
        OutputValidationError: still no fit after ``max_repairs`` rounds; has the
            last ``.text`` and its ``.errors``.
        LengthFinishReasonError: the answer was cut at ``max_tokens``.
        ContentFilterFinishReasonError: a content filter stopped it, or a refusal.
        APIStatusError, APIConnectionError, InvalidRequestError: as for ``client.chat``.
    """
    if max_repairs < 0:
        raise ValueError("max_repairs must be >= 0")
    request = prepare_request(model, messages, response_format=response_format, **params)
    completion = await client.send(request, timeout=timeout)
    repairs = 0
    while True:
        text = check_finish(completion)
        try:
            parsed = read_answer(text, response_format)
        except Unfit as unfit:
            if repairs >= max_repairs:
                raise invalid_output(text, unfit.errors) from None
            request = _repair_request(request, text, unfit.errors)
            completion = await client.send(request, timeout=timeout)
            repairs += 1
            client.usage.add_repair(completion.usage)
            continue
        return ParsedCompletion(parsed, completion, repairs)


def _repair_request(request: ChatRequest, text: str, errors: list[tuple[str, str]]) -> ChatRequest:
    problems = "\n".join(f"- {path}: {message}" for path, message in errors)
    messages = [
        *request.messages,
        # The answer without its <think> block: reasoning is not sent back as input.
        AssistantMessage(content=strip_think(text).strip()),
        UserMessage(_REPAIR_PROMPT.format(problems=problems)),
    ]
    return attrs.evolve(request, messages=messages)
