"""The one cattrs converter: request classes out to JSON, response JSON into classes.

Built on ``cattrs.preconf.orjson`` (orjson is a core dependency). Two converters
share one recipe: a fast one for the hot path, and one with
``detailed_validation`` that is only used after the fast one failed, to name
the path of the bad field in the error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import make_converter as make_orjson_converter

from ._exceptions import InvalidRequestError, ResponseValidationError
from ._fastmessages import structure_fast
from ._fastparse import fast_structurers
from ._images import Image
from ._messages import (
    AssistantMessage,
    ContentPart,
    Extra,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
    VideoPart,
)
from ._models import _STRUCTURERS, ChatCompletion, ChatCompletionChunk, Usage

__all__ = [
    "converter",
    "fast_chunk_parser",
    "parse_chunk",
    "parse_completion",
    "structure_messages",
    "unstructure",
]

T = TypeVar("T")

_PARTS_BY_TYPE: dict[str, type[Any]] = {
    "text": TextPart,
    "image_url": ImagePart,
    "video_url": VideoPart,
}
_MESSAGES_BY_ROLE: dict[str, type[Any]] = {
    "system": SystemMessage,
    "user": UserMessage,
    "assistant": AssistantMessage,
    "tool": ToolMessage,
}
# Fields that hold our own bookkeeping, never read from or written to the wire.
_LOCAL_FIELDS = frozenset({"extra", "request_id", "client_request_id", "http"})
# The API does not take reasoning back as input; sending it only costs bytes.
_NOT_SENT = _LOCAL_FIELDS | {"reasoning_content"}


# The rules both structurers follow (the generated fast path in _fastparse takes
# them from here): which classes keep unknown keys, and which JSON types each
# scalar accepts, exactly (cattrs would call str(x) on anything; an int may
# stand for a float, unchanged).
ACCEPTED: dict[type[Any], tuple[type[Any], ...]] = {
    str: (str,),
    int: (int,),
    float: (float, int),
    bool: (bool,),
}


def is_response_class(cls: type[Any]) -> bool:
    """A response class: attrs, with an ``extra`` field for the keys it does not model."""
    return attrs.has(cls) and "extra" in attrs.fields_dict(cls)


def _structure_keeping_extra(conv: cattrs.Converter, cls: type[Any]) -> Callable[[Any, Any], Any]:
    """Structure ``cls``, keeping keys it does not model in ``obj.extra``."""
    overrides = {
        name: override(omit=True) for name in _LOCAL_FIELDS if name in attrs.fields_dict(cls)
    }
    base = make_dict_structure_fn(
        cls,
        conv,
        _cattrs_forbid_extra_keys=False,
        **overrides,  # type: ignore[arg-type]
    )
    known = frozenset(attrs.fields_dict(cls)) - _LOCAL_FIELDS

    def structure(data: Any, _: Any) -> Any:
        obj = base(data, cls)
        unknown = data.keys() - known
        if unknown:
            # Frozen classes: set the one field attrs' own __init__ would set.
            object.__setattr__(obj, "extra", Extra({k: data[k] for k in unknown}))
        return obj

    return structure


def _unstructure_omitting_none(conv: cattrs.Converter, cls: type[Any]) -> Callable[[Any], Any]:
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in _NOT_SENT:
            overrides[field.name] = override(omit=True)
        elif field.default is None:
            overrides[field.name] = override(omit_if_default=True)
    return make_dict_unstructure_fn(cls, conv, **overrides)


def _strict(kind: type[Any]) -> Callable[[Any, Any], Any]:
    """cattrs would call ``str(x)`` on anything; a dict where text is due is a bug."""
    accepted = ACCEPTED[kind]

    def check(value: Any, _: Any) -> Any:
        if type(value) in accepted:
            return value
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")

    return check


def _by_tag(
    conv: cattrs.Converter, key: str, table: Mapping[str, type[Any]]
) -> Callable[[Any, Any], Any]:
    classes = tuple(table.values())

    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, classes):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping with a {key!r} key, got {type(value).__name__}")
        tag = value.get(key)
        cls = table.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise InvalidRequestError(f"{key} must be one of {sorted(table)}, got {tag!r}")
        return conv.structure(value, cls)

    return structure


def _is_content_union(tp: Any) -> bool:
    """``str | list[SomePart]``: message content is text or a list of parts."""
    args = get_args(tp)
    return (
        get_origin(tp) in (Union, type(str | int))
        and len(args) == 2
        and str in args
        and any(get_origin(a) is list for a in args)
    )


def _holds_image(tp: Any) -> bool:
    return Image in get_args(tp)


def _structure_content(conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    def structure(value: Any, tp: Any) -> Any:
        if isinstance(value, str):
            return value
        list_type = next(a for a in get_args(tp) if get_origin(a) is list)
        if isinstance(value, (list, tuple)):
            return conv.structure(value, list_type)
        raise TypeError(f"content must be a str or a list of parts, got {type(value).__name__}")

    return structure


def make_converter(*, detailed_validation: bool) -> cattrs.Converter:
    """Our converter: strict scalars, tagged unions, extras kept, ``None`` omitted."""
    conv = make_orjson_converter(detailed_validation=detailed_validation, forbid_extra_keys=True)
    for kind in ACCEPTED:
        conv.register_structure_hook(kind, _strict(kind))
    conv.register_structure_hook_factory(
        is_response_class, functools.partial(_structure_keeping_extra, conv)
    )
    conv.register_unstructure_hook_factory(
        attrs.has, functools.partial(_unstructure_omitting_none, conv)
    )
    conv.register_structure_hook(ContentPart, _by_tag(conv, "type", _PARTS_BY_TYPE))
    conv.register_structure_hook(Message, _by_tag(conv, "role", _MESSAGES_BY_ROLE))
    conv.register_structure_hook_func(_is_content_union, _structure_content(conv))
    # ImageURL's own converter checks the URL (and a data URL's bytes).
    conv.register_structure_hook_func(_holds_image, lambda value, _: value)
    # A predicate, not register(Any): functools.singledispatch refuses Any on 3.10.
    conv.register_structure_hook_func(lambda tp: tp is Any, lambda value, _: value)
    # An Image goes into the JSON as itself; the body writer splices its base64
    # in, so a 10 MB image is never copied into one giant JSON string.
    conv.register_unstructure_hook(Image, lambda image: image)
    return conv


converter = make_converter(detailed_validation=False)
_detailed = make_converter(detailed_validation=True)


def _format_error(exc: BaseException, type_: type[Any] | None) -> str:
    if isinstance(exc, InvalidRequestError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _first_error_path(data: Any, cls: type[Any]) -> tuple[str, str]:
    try:
        _detailed.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="$", format_exception=_format_error)
        first = messages[0] if messages else "invalid value @ $"
        message, _, path = first.rpartition(" @ ")
        return message, path
    except Exception as exc:
        return str(exc), "$"
    return "invalid value", "$"


def structure_messages(messages: Any) -> list[Message]:
    """Accept attrs messages and OpenAI-style dicts alike.

    Raises:
        InvalidRequestError: naming the first bad field, e.g.
            ``messages[0].content[1].image_url.detail``.
    """
    if isinstance(messages, (str, bytes)) or not hasattr(messages, "__iter__"):
        raise InvalidRequestError("messages must be a list of messages")
    items = list(messages)
    if not items:
        raise InvalidRequestError("messages must not be empty")
    # The common OpenAI-style shapes, built by hand; anything else declines (None) and
    # takes the converter. tests/test_fastmessages.py proves the two equal.
    fast = structure_fast(items)
    if fast is not None:
        return fast
    try:
        return converter.structure(items, list[Message])
    except Exception:  # noqa: S110 -- any failure is re-run below to name its path
        pass
    message, path = _first_error_path(items, list[Message])
    path = "messages" + path[1:] if path.startswith("$") else path
    raise InvalidRequestError(f"{path}: {message}") from None


def unstructure(obj: Any) -> Any:
    return converter.unstructure(obj)


# Generated on first use, not at import (a CLI pays every import millisecond).
def _structurers(
    classes: tuple[type[Any], ...], *, owned: bool
) -> dict[type[Any], Callable[[Any], Any]]:
    return fast_structurers(
        converter,
        classes,
        local=_LOCAL_FIELDS,
        is_response_class=is_response_class,
        accepted=ACCEPTED,
        owned=owned,
    )


@functools.cache
def _fast() -> dict[type[Any], Callable[[Any], Any]]:
    return _structurers((ChatCompletionChunk, ChatCompletion), owned=False)


@functools.cache
def fast_chunk_parser() -> Callable[[Any], ChatCompletionChunk]:
    """:func:`parse_chunk` without its fallback, for the stream's per-chunk loop (one
    call less per chunk): it raises where :func:`parse_chunk` must decide.

    It keeps the dicts it is given as the chunk's objects (_fastparse's owned mode),
    changing them as it goes: give it only JSON parsed for it, and on an exception
    parse the bytes again for :func:`parse_chunk`.
    """
    owned = _structurers((ChatCompletionChunk,), owned=True)
    return owned.get(ChatCompletionChunk, parse_chunk)


def _parse(data: Any, cls: type[T], what: str) -> T:
    fast = _fast().get(cls)
    if fast is not None:
        try:
            return fast(data)  # type: ignore[no-any-return]
        except Exception:  # noqa: S110 -- the converter below decides, and explains
            pass
    try:
        return converter.structure(data, cls)
    except Exception:  # noqa: S110 -- any failure is re-run below to name its path
        pass
    if not isinstance(data, dict):
        raise ResponseValidationError(
            f"{what} is not a JSON object (got {type(data).__name__})", path="$", body=data
        )
    message, path = _first_error_path(data, cls)
    raise ResponseValidationError(f"{what} does not fit: {message} at {path}", path=path, body=data)


def parse_completion(data: Any) -> ChatCompletion:
    """Structure a parsed completion body; :class:`ResponseValidationError` on misfit."""
    return _parse(data, ChatCompletion, "the completion")


def parse_chunk(data: Any) -> ChatCompletionChunk:
    """Structure one parsed stream chunk; :class:`ResponseValidationError` on misfit."""
    return _parse(data, ChatCompletionChunk, "a stream chunk")


def parse_usage(data: Any) -> Usage:
    """Structure a usage block; :class:`ResponseValidationError` on misfit."""
    return _parse(data, Usage, "the usage")


_STRUCTURERS.update(
    {ChatCompletion: parse_completion, ChatCompletionChunk: parse_chunk, Usage: parse_usage}
)
