"""ChatRequest: every request field, checked before anything is sent."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

import attrs

from ._exceptions import InvalidRequestError
from ._facts import MAX_COMPLETION_TOKENS, RETIRED_MODELS, RETIREMENT_DATE
from ._fastmessages import unstructure_fast
from ._messages import Message
from ._serde import structure_messages, unstructure
from ._validate import in_range, invalid, one_of, optional_bool, typed_mapping

__all__ = ["CHAT_PARAMS", "ChatParams", "ChatRequest", "RequestParams", "check_params"]

_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
_THINKING = frozenset({"enabled", "disabled", "auto"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
_SERVICE_TIERS = frozenset({"auto", "default"})


class RequestParams(TypedDict, total=False):
    """The optional request fields except ``response_format`` (which ``parse`` and
    ``ask`` also take as a class)."""

    temperature: float | None
    top_p: float | None
    frequency_penalty: float | None
    presence_penalty: float | None
    max_tokens: int | None
    max_completion_tokens: int | None
    stop: str | Sequence[str] | None
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    parallel_tool_calls: bool | None
    thinking: Literal["enabled", "disabled", "auto"] | Mapping[str, Any] | None
    service_tier: Literal["auto", "default"] | None
    logprobs: bool | None
    top_logprobs: int | None
    seed: int | None
    user: str | None
    stream_options: Mapping[str, Any] | None
    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None


class ChatParams(RequestParams, total=False):
    """The optional request fields, shared by ``chat``, ``stream`` and ``ChatRequest``."""

    response_format: Mapping[str, Any] | None


def _thinking(value: Any) -> Mapping[str, Any] | None:
    return typed_mapping("thinking", _THINKING, value)


def _stop(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    items = list(value)
    if not all(isinstance(item, str) for item in items) or len(items) > 4:
        raise invalid("stop", "a str or a list of at most 4 str", value)
    return items


def _response_format(value: Any) -> Mapping[str, Any] | None:
    response_format = typed_mapping("response_format", _RESPONSE_FORMATS, value)
    if response_format is not None and response_format["type"] == "json_schema":
        schema = response_format.get("json_schema")
        if not isinstance(schema, Mapping) or not schema.get("name") or "schema" not in schema:
            raise invalid("response_format.json_schema", "a mapping with name and schema", schema)
    return response_format


def _tools(value: Any) -> list[Mapping[str, Any]] | None:
    if value is None:
        return None
    tools = list(value)
    for index, item in enumerate(tools):
        function = item.get("function") if isinstance(item, Mapping) else None
        if (
            item.get("type", "function") != "function"
            or not isinstance(function, Mapping)
            or not (isinstance(function.get("name"), str) and function["name"])
        ):
            raise invalid(
                f"tools[{index}]", '{"type": "function", "function": {"name": ...}}', item
            )
    return tools


def _tool_choice(_: object, __: attrs.Attribute[Any], value: Any) -> None:
    if value is None or value in _TOOL_CHOICES:
        return
    if isinstance(value, Mapping) and isinstance(value.get("function"), Mapping):
        return
    raise invalid("tool_choice", '"none", "auto", "required" or {"type": "function", ...}', value)


def _model(_: object, __: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise invalid(
            "model", "a non-empty model name such as 'doubao-1-5-vision-pro-250328'", value
        )


@attrs.frozen(kw_only=True)
class ChatRequest:
    """One chat call, validated: build it directly for batches, or let ``client.chat`` do it.

    Raises:
        InvalidRequestError: a field is out of range or malformed (the message
            names it), or ``max_tokens`` and ``max_completion_tokens`` are both set.
        ImageError: an image in ``messages`` cannot be sent.
    """

    model: str = attrs.field(validator=_model)
    messages: list[Message] = attrs.field(converter=structure_messages)
    temperature: float | None = attrs.field(default=None, validator=in_range(0, 2))
    top_p: float | None = attrs.field(default=None, validator=in_range(0, 1))
    # Ark lists both penalties as unsupported for vision requests; gateways in
    # front of other models take them, so they are sent when given.
    frequency_penalty: float | None = attrs.field(default=None, validator=in_range(-2, 2))
    presence_penalty: float | None = attrs.field(default=None, validator=in_range(-2, 2))
    max_tokens: int | None = attrs.field(default=None, validator=in_range(1, 1 << 31, integer=True))
    max_completion_tokens: int | None = attrs.field(
        default=None, validator=in_range(0, MAX_COMPLETION_TOKENS, integer=True)
    )
    stop: str | list[str] | None = attrs.field(default=None, converter=_stop)
    response_format: Mapping[str, Any] | None = attrs.field(
        default=None, converter=_response_format
    )
    tools: list[Mapping[str, Any]] | None = attrs.field(default=None, converter=_tools)
    tool_choice: str | Mapping[str, Any] | None = attrs.field(default=None, validator=_tool_choice)
    parallel_tool_calls: bool | None = attrs.field(default=None, validator=optional_bool)
    thinking: Mapping[str, Any] | None = attrs.field(default=None, converter=_thinking)
    service_tier: str | None = attrs.field(default=None, validator=one_of(_SERVICE_TIERS))
    logprobs: bool | None = attrs.field(default=None, validator=optional_bool)
    top_logprobs: int | None = attrs.field(default=None, validator=in_range(0, 20, integer=True))
    seed: int | None = attrs.field(
        default=None, validator=in_range(-(1 << 63), 1 << 63, integer=True)
    )
    user: str | None = None
    stream_options: Mapping[str, Any] | None = None
    extra_body: Mapping[str, Any] | None = None
    extra_headers: Mapping[str, str] | None = None

    def __attrs_post_init__(self) -> None:
        successor = RETIRED_MODELS.get(self.model)
        if successor is not None:
            warnings.warn(
                f"{self.model} was retired on {RETIREMENT_DATE}; the server answers with "
                f"{successor}: ask for it by name",
                DeprecationWarning,
                stacklevel=3,  # the code that built the request
            )
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise InvalidRequestError(
                "max_tokens and max_completion_tokens cannot be combined: max_tokens caps the "
                "answer, max_completion_tokens caps answer plus reasoning; pass one"
            )
        if self.top_logprobs is not None and not self.logprobs:
            raise InvalidRequestError("top_logprobs needs logprobs=True")

    def to_payload(self, *, stream: bool) -> dict[str, Any]:
        """The JSON body (``None`` fields omitted, ``extra_body`` merged last)."""
        # The common message shapes by hand, else the converter; tests/test_fastmessages.py
        # proves the two equal, key order included.
        messages = unstructure_fast(self.messages)
        if messages is None:
            messages = unstructure(self.messages)
        payload: dict[str, Any] = {"model": self.model, "messages": messages}
        for name in _OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                payload[name] = value
        if stream:
            payload["stream"] = True
            # Usage arrives in one last chunk only if asked for; we always want it.
            payload["stream_options"] = {"include_usage": True, **(self.stream_options or {})}
        else:
            payload.pop("stream_options", None)
        if self.extra_body:
            payload.update(self.extra_body)
        return payload


_OPTIONAL_FIELDS = tuple(
    field.name
    for field in attrs.fields(ChatRequest)
    if field.name not in {"model", "messages", "extra_body", "extra_headers"}
)


#: The keyword arguments ``chat``/``stream``/``ask`` take as request fields.
CHAT_PARAMS = frozenset(ChatParams.__annotations__)

# Keywords people bring from other SDKs, and where they belong here.
_ELSEWHERE = {
    "stream": "use client.stream(...) for a streamed answer",
    "messages": "pass messages as the second positional argument of chat()",
    "model": "pass model as the first positional argument of chat()",
    "n": "n is not supported for vision requests; send it in extra_body={'n': ...} if your "
    "gateway takes it",
    "timeout_s": "use timeout=...",
    "extra_query": "query parameters are not sent; put them in base_url",
}


def check_params(params: Mapping[str, Any]) -> None:
    """Refuse a keyword that is not a request field, naming it and where it belongs.

    Raises:
        InvalidRequestError: an unknown keyword (a typo gets a suggestion).
    """
    unknown = params.keys() - CHAT_PARAMS
    if not unknown:
        return
    import difflib

    name = sorted(unknown)[0]
    hint = _ELSEWHERE.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, CHAT_PARAMS, n=1)
        hint = (
            f"did you mean {close[0]}=?"
            if close
            else "fields the SDK does not model go in extra_body={...}"
        )
    raise InvalidRequestError(f"unknown keyword argument {name!r}: {hint}")
