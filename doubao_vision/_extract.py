"""Reading a structured answer: the JSON dug out of the text, then typed.

Finish reasons come first (``length`` and ``content_filter`` are their own
errors); then the JSON is taken from whatever the model wrapped around it (a
leading ``<think>...</think>``, as vision-pro writes it, a Markdown fence,
prose); then it is structured with a converter of our own:
``cattrs.preconf.json`` with detailed validation and strict JSON shapes
(``"3"`` is not an int here, ``2.5`` is not silently truncated to ``2``, and a
dict where a list belongs is an error at that path, not a walk over its keys).
Errors carry ``(path, message)`` pairs from ``cattrs.transform_error``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import re
import typing
from collections.abc import Callable, Mapping, MutableSequence, MutableSet, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal, TypeVar, overload

import attrs
import cattrs
import orjson
from cattrs.cols import list_structure_factory
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.json import make_converter as make_json_converter
from cattrs.v import format_exception

from ._exceptions import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    OutputValidationError,
)
from ._models import ChatCompletion

__all__ = [
    "ResponseFormat",
    "Unfit",
    "check_finish",
    "extract_json",
    "invalid_output",
    "make_converter",
    "parsed_from",
    "read_answer",
    "strip_think",
    "structure",
    "to_json_data",
]

T = TypeVar("T")
#: What ``response_format=`` takes: a class to structure into, or a mapping sent as is.
ResponseFormat = type[Any] | Mapping[str, Any]

_THINK = re.compile(r"\A\s*<think>.*?</think>", re.DOTALL)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)

# -- the converter ------------------------------------------------------


class _WrongType(TypeError):
    """A JSON value of the wrong kind; its text is the error message users see."""


def _strict(kind: type, name: str, accept: tuple[type, ...]) -> Callable[[Any, Any], Any]:
    def structure_primitive(value: Any, _: Any) -> Any:
        # bool is an int in Python, never in JSON.
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accept):
            raise _WrongType(f"expected {name}, got {_json_kind(value)}")
        return kind(value)

    return structure_primitive


def _iso(kind: Any) -> Callable[[Any, Any], Any]:
    def structure_iso(value: Any, _: Any) -> Any:
        if not isinstance(value, str):
            raise _WrongType(f"expected an ISO 8601 string, got {_json_kind(value)}")
        if value.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take "Z"
            value = value[:-1] + "+00:00"
        return kind.fromisoformat(value)

    return structure_iso


_SEQUENCES: dict[Any, type] = {
    list: list,
    Sequence: list,
    MutableSequence: list,
    tuple: tuple,
    set: set,
    MutableSet: set,
    AbstractSet: frozenset,
    frozenset: frozenset,
}


def _is_class(tp: Any) -> bool:
    return isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))


def _is_array(tp: Any) -> bool:
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if origin is tuple:
        return not args or (len(args) == 2 and args[1] is Ellipsis)  # fixed tuples: cattrs'
    return origin in _SEQUENCES


def make_converter() -> cattrs.Converter:
    """The converter for users' classes (never the SDK's own wire converter).

    ``cattrs.preconf.json`` (ISO 8601 dates, enums by value, unions of
    primitives) with detailed validation, unknown keys ignored (a model may add
    one; the class decides what is kept) and strict JSON shapes: primitives are
    not coerced, a class wants an object and a list wants an array (cattrs
    would iterate a dict's keys or index into a number, and name a wrong path).
    """
    conv = make_json_converter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict(str, "string", (str,)))
    conv.register_structure_hook(int, _strict(int, "integer", (int,)))
    conv.register_structure_hook(float, _strict(float, "number", (int, float)))
    conv.register_structure_hook(bool, _strict(bool, "boolean", (bool,)))
    conv.register_structure_hook(datetime.datetime, _iso(datetime.datetime))
    conv.register_structure_hook(datetime.date, _iso(datetime.date))
    conv.register_structure_hook(datetime.time, _iso(datetime.time))
    conv.register_unstructure_hook(datetime.time, lambda value: value.isoformat())

    def object_hook(cls: Any) -> Callable[[Any, Any], Any]:
        base = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=False, _cattrs_detailed_validation=True
        )

        def structure_object(value: Any, tp: Any) -> Any:
            if not isinstance(value, dict):
                raise _WrongType(f"expected object, got {_json_kind(value)}")
            return base(value, tp)

        return structure_object

    def array_hook(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        item_list = list[args[0]] if args else list[Any]  # type: ignore[valid-type]
        base = list_structure_factory(item_list, conv)
        kind = _SEQUENCES[typing.get_origin(tp) or tp]

        def structure_array(value: Any, _: Any) -> Any:
            if not isinstance(value, list):
                raise _WrongType(f"expected array, got {_json_kind(value)}")
            items = base(value, item_list)
            return items if kind is list else kind(items)

        return structure_array

    conv.register_structure_hook_factory(_is_class, object_hook)
    conv.register_structure_hook_factory(_is_array, array_hook)
    return conv


_converter = make_converter()


def to_json_data(value: Any) -> Any:
    """A parsed object (an instance of a ``response_format`` class) as JSON-ready
    data: dicts, lists, strings and numbers, dates as ISO text, enums as values.
    The inverse of how answers are read, so ``parse`` can read it back."""
    return _converter.unstructure(value)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "array" if isinstance(value, list) else "object"


def _format(exc: BaseException, tp: Any) -> str:
    if isinstance(exc, _WrongType):
        return str(exc)
    if tp is None and isinstance(exc, (ValueError, TypeError)):
        return f"invalid value ({exc})"  # the class's own validator said no
    if isinstance(tp, type) and issubclass(tp, enum.Enum) and isinstance(exc, ValueError):
        return f"expected one of {[member.value for member in tp]}"
    if typing.get_origin(tp) is Literal:
        return f"expected one of {list(typing.get_args(tp))}"
    return format_exception(exc, tp)


class Unfit(Exception):
    """The answer is not the object asked for: ``errors`` say where and why."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def structure(data: Any, cls: type[T]) -> T:
    """``data`` (parsed JSON) as a ``cls``; on failure :class:`OutputValidationError`
    with one ``(path, message)`` per problem, such as ``("$.items[0].qty", ...)``."""
    try:
        return _structure(data, cls)
    except Unfit as unfit:
        text = orjson.dumps(data).decode() if _dumpable(data) else repr(data)
        raise invalid_output(text, unfit.errors) from None


def _structure(data: Any, cls: type[T]) -> T:
    if not isinstance(data, dict):
        raise Unfit([("$", f"expected object, got {_json_kind(data)}")])
    try:
        return _converter.structure(data, cls)
    except Exception as exc:
        errors = []
        for line in cattrs.transform_error(exc, path="$", format_exception=_format):
            message, _, path = line.rpartition(" @ ")
            errors.append((path, message) if message else ("$", line))
        raise Unfit(errors) from exc


def _dumpable(data: Any) -> bool:
    try:
        orjson.dumps(data)
    except TypeError:
        return False
    return True


def invalid_output(text: str, errors: list[tuple[str, str]]) -> OutputValidationError:
    listing = "; ".join(f"{path}: {message}" for path, message in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return OutputValidationError(
        f"the answer does not fit the class: {listing}{more}", text=text, errors=errors
    )


# -- reading the answer -------------------------------------------------


def strip_think(text: str) -> str:
    """``text`` without a leading ``<think>...</think>`` block (vision-pro's reasoning)."""
    return _THINK.sub("", text, count=1)


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer, whatever it wrapped around it.

    Tries, in order: the whole text (after a leading ``<think>`` block), the
    first Markdown code fence, then the first ``{`` from which a whole JSON
    object decodes (prose before and after is dropped).

    Raises:
        ValueError: no JSON object in the text (the message says why).
    """
    text = strip_think(text).strip()
    if not text:
        raise ValueError("the answer is empty")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    for fence in _FENCE.finditer(text):
        try:
            return orjson.loads(fence.group(1).strip())
        except orjson.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    start = text.find("{")
    first_error: str | None = None
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"invalid JSON: {exc.msg} at char {exc.pos}"
            start = text.find("{", start + 1)
            continue
        return value
    raise ValueError(first_error or "no JSON object in the answer")


def check_finish(completion: ChatCompletion) -> str:
    """The answer text, unless the model was cut off or stopped by a filter.

    Raises:
        LengthFinishReasonError: ``finish_reason == "length"`` (raise ``max_tokens``).
        ContentFilterFinishReasonError: ``finish_reason == "content_filter"``, a
            moderation hit, or a ``refusal`` in the message.
    """
    text = completion.text
    choice = completion.choices[0] if completion.choices else None
    reason = completion.finish_reason
    if reason == "length":
        raise LengthFinishReasonError(
            "the answer was cut at max_tokens before the JSON was complete; "
            "raise max_tokens (or max_completion_tokens)",
            text=text,
        )
    refusal = choice.message.extra.get("refusal") if choice is not None else None
    hit = choice.moderation_hit_type if choice is not None else None
    if reason == "content_filter" or refusal or hit:
        why = f"refused: {refusal}" if refusal else f"stopped by a content filter ({hit or reason})"
        raise ContentFilterFinishReasonError(
            f"no structured answer: {why}", text=text or str(refusal or ""), finish_reason=reason
        )
    return text


@overload
def parsed_from(completion: ChatCompletion, response_format: type[T]) -> T: ...
@overload
def parsed_from(completion: ChatCompletion, response_format: Mapping[str, Any]) -> Any: ...
def parsed_from(completion: ChatCompletion, response_format: ResponseFormat) -> Any:
    """The object in ``completion``, as ``response_format`` (no repair: for batches
    and streams).

    Raises:
        LengthFinishReasonError, ContentFilterFinishReasonError: see :func:`check_finish`.
        OutputValidationError: no JSON in the answer, or it does not fit the class.
    """
    text = check_finish(completion)
    try:
        return read_answer(text, response_format)
    except Unfit as unfit:
        raise invalid_output(text, unfit.errors) from None


def read_answer(text: str, response_format: ResponseFormat) -> Any:
    try:
        data = extract_json(text)
    except ValueError as exc:
        raise Unfit([("$", str(exc))]) from None
    if isinstance(response_format, Mapping):
        return data  # the caller's own schema: hand back the JSON as it came
    return _structure(data, response_format)
