"""JSON Schema from attrs classes and dataclasses, for structured output.

No well-kept library turns attrs classes into JSON Schema (pydantic does it for
its own models only), so this is ours, kept to what the answer converter in
``_structured.py`` can structure and what Ark's ``json_schema`` mode accepts
(its "JSON Schema 语法支持说明": ``type``, ``$ref``/``$defs`` with local refs,
``enum``, ``anyOf``, ``prefixItems``/``items``, ``properties``/``required``/
``additionalProperties``; annotations such as ``description`` and ``format``
are ignored by its validator but read by the model).

The mapping, one Python type at a time:

- ``str``/``int``/``float``/``bool``/``None``: the JSON type of that name;
  ``datetime``/``date``/``time``: a ``string`` with ``format``.
- ``list``/``set``/``Sequence``/``tuple[X, ...]``: ``array`` of ``items``; a fixed
  ``tuple[A, B]``: ``prefixItems`` of exactly that length.
- ``dict[str, X]``/``Mapping``: ``object`` with ``additionalProperties``.
- ``X | None`` and other unions: ``anyOf``; ``Literal`` and ``Enum``: ``enum``.
- attrs classes and dataclasses: ``{"$ref": "#/$defs/Name"}``, defined once in
  ``$defs`` (the class asked for is the root); fields without a default are
  ``required``, descriptions come from ``metadata={"description": ...}`` and
  class docstrings.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import re
import types
import typing
from collections.abc import Mapping, MutableMapping, MutableSequence, MutableSet, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal, Union

import attrs

__all__ = ["json_schema"]

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
}
_ARRAYS = (list, set, frozenset, Sequence, MutableSequence, AbstractSet, MutableSet)
_OBJECTS = (dict, Mapping, MutableMapping)
_JSON_TYPES: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def json_schema(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) for an attrs class or dataclass.

    Nested classes go into ``$defs`` and are referenced with ``$ref``; the class
    itself is the root object (a class that contains itself refers to ``#``).

    Raises:
        TypeError: ``cls`` is not an attrs class or dataclass, or a field's type
            has no JSON form here (``bytes``, an unresolved forward reference).
    """
    if not _is_class(cls):
        raise TypeError(f"json_schema() takes an attrs class or a dataclass, got {cls!r}")
    builder = _Builder(cls)
    root = builder.object_schema(cls)
    if builder.defs:
        root["$defs"] = dict(sorted(builder.defs.items()))
    return root


def _is_class(tp: Any) -> bool:
    return isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))


class _Builder:
    """Walks the types once, naming each nested class in ``$defs`` exactly once."""

    def __init__(self, root: type[Any]) -> None:
        self.root = root
        self.defs: dict[str, dict[str, Any]] = {}
        self.names: dict[type[Any], str] = {}

    def ref(self, cls: type[Any]) -> dict[str, Any]:
        if cls is self.root:
            return {"$ref": "#"}
        name = self.names.get(cls)
        if name is None:
            name = self._free_name(cls)
            self.names[cls] = name
            self.defs[name] = {}  # placeholder first: a class may refer to itself
            self.defs[name] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{name}"}

    def _free_name(self, cls: type[Any]) -> str:
        taken = set(self.names.values())
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", cls.__qualname__.replace(".<locals>", ""))
        name, n = cls.__name__, 2
        if name in taken:
            name = base
        while name in taken:
            name, n = f"{base}{n}", n + 1
        return name

    def object_schema(self, cls: type[Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        doc = _docstring(cls)
        if doc:
            schema["description"] = doc
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, tp, has_default, default, description in _fields(cls):
            prop = self.type_schema(tp, where=f"{cls.__qualname__}.{name}")
            if description:
                prop = {**prop, "description": description}
            if has_default and _is_json_value(default):
                prop = {**prop, "default": _json_value(default)}
            properties[name] = prop
            if not has_default:
                required.append(name)
        schema["properties"] = properties
        schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def type_schema(self, tp: Any, *, where: str) -> dict[str, Any]:
        if tp in _PRIMITIVES:
            return dict(_PRIMITIVES[tp])
        if tp is Any or tp is object:
            return {}
        if isinstance(tp, (str, typing.ForwardRef)):
            raise TypeError(f"{where}: cannot resolve the annotation {tp!r}")
        if _is_class(tp):
            return self.ref(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_schema([member.value for member in tp])
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Literal:
            return _enum_schema(list(args))
        if origin is Union or origin is types.UnionType:
            return {"anyOf": [self.type_schema(arg, where=where) for arg in args]}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.type_schema(args[0], where=where)}
            items = [self.type_schema(arg, where=where) for arg in args]
            return {
                "type": "array",
                "prefixItems": items,
                "items": False,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if origin in _ARRAYS or tp in _ARRAYS or tp is tuple:
            item = self.type_schema(args[0], where=where) if args else {}
            schema: dict[str, Any] = {"type": "array", "items": item}
            if origin in (set, frozenset, AbstractSet, MutableSet):
                schema["uniqueItems"] = True
            return schema
        if origin in _OBJECTS or tp in _OBJECTS:
            if args and args[0] is not str:
                raise TypeError(f"{where}: JSON object keys are strings, not {args[0]!r}")
            values = self.type_schema(args[1], where=where) if args else {}
            return {"type": "object", "additionalProperties": values}
        raise TypeError(f"{where}: no JSON Schema for {tp!r}")


def _fields(cls: type[Any]) -> list[tuple[str, Any, bool, Any, str | None]]:
    """``(name, type, has_default, default, description)`` for each field cattrs reads."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        hints = {}  # then each field's own ``type`` (attrs.make_class sets it)
    out: list[tuple[str, Any, bool, Any, str | None]] = []
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if not field.init:
                continue  # cattrs neither reads nor needs it
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = attrs.NOTHING if default.takes_self else default.factory()
            out.append(
                (
                    field.name,
                    hints.get(field.name, field.type),
                    field.default is not attrs.NOTHING,
                    default,
                    field.metadata.get("description"),
                )
            )
        return out
    for dc_field in dataclasses.fields(cls):
        if not dc_field.init:
            continue
        if dc_field.default is not dataclasses.MISSING:
            has_default, default = True, dc_field.default
        elif dc_field.default_factory is not dataclasses.MISSING:
            has_default, default = True, dc_field.default_factory()
        else:
            has_default, default = False, None
        out.append(
            (
                dc_field.name,
                hints.get(dc_field.name, dc_field.type),
                has_default,
                default,
                dc_field.metadata.get("description"),
            )
        )
    return out


def _docstring(cls: type[Any]) -> str | None:
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return None
    # dataclasses write "Name(field: type, ...)" when a class has no docstring.
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None
    return inspect.cleandoc(doc)


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    values = [v.value if isinstance(v, enum.Enum) else v for v in values]
    kinds = {_JSON_TYPES.get(type(v)) for v in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool, enum.Enum)):
        return not isinstance(value, enum.Enum) or _is_json_value(value.value)
    if isinstance(value, (list, tuple)):
        return all(_is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_value(v) for k, v in value.items())
    return False


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value
