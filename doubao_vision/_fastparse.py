"""A generated fast path for structuring response JSON into our attrs classes.

Structuring one stream chunk through cattrs costs ~6 us (a hook call per field,
the Optional and list dispatch, a set difference per object for ``extra``): more
than reading, framing and JSON-parsing the chunk together (benchmarks/ shows it;
benchmarks/chunk_costs.py breaks it down). For the shape servers actually send
(dicts, lists, exact scalar types), one generated function per class does the
same checks inline. Anything it is not sure of (a missing required key, a wrong
type, a list that is not a ``list``) makes it give up, and the cattrs converter
runs as before, so results and errors are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MemberDescriptorType
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs

__all__ = ["fast_structurers"]


class _Slow(Exception):
    """The fast path declines; the converter decides."""


_MISSING = object()


@attrs.frozen
class _Rules:
    """The converter's rules (from _serde): what we generate code for, and how."""

    converter: cattrs.Converter
    local: frozenset[str]
    is_response_class: Callable[[type[Any]], bool]
    accepted: Mapping[type[Any], tuple[type[Any], ...]]


def _fast_structure_fn(
    cls: type[Any], made: dict[type[Any], Callable[[Any], Any]], rules: _Rules
) -> Any:
    """Generate ``structure(data) -> cls`` for a response class, or raise _Slow."""
    if cls in made:
        return made[cls]
    local = rules.local
    attrs.resolve_types(cls)
    fields = [f for f in attrs.fields(cls) if f.name not in local]
    if any(not f.init or f.kw_only for f in attrs.fields(cls)):
        raise _Slow
    names: dict[str, Any] = {
        "_Slow": _Slow,
        "_M": _MISSING,
        "_cls": cls,
        "_Proxy": type(attrs.fields_dict(cls)["extra"].default),  # the class's own Extra type
        "_known": frozenset(f.name for f in fields),
    }
    names["_type"] = type
    names["_dict"] = dict
    names["_list"] = list
    lines = [
        "    if _type(d) is not _dict:",
        "        raise _Slow",
        "    get = d.get",
        "    n = 0",
    ]
    args = []

    def check(var: str, tp: Any, indent: str, label: str) -> None:
        """Lines that check ``var`` is a ``tp`` (converting nested classes in place)."""
        args_ = get_args(tp)
        if get_origin(tp) in (Union, type(str | int)) and type(None) in args_:
            rest = [a for a in args_ if a is not type(None)]
            if len(rest) != 1:
                raise _Slow
            lines.append(f"{indent}if {var} is not None:")
            check(var, rest[0], indent + "    ", label)
        elif tp in rules.accepted:
            # Exactly the converter's strict scalar hook: these JSON types, unchanged.
            conds = []
            for n, kind in enumerate(rules.accepted[tp]):
                names[f"_t_{label}_{n}"] = kind
                conds.append(f"_type({var}) is not _t_{label}_{n}")
            lines.append(f"{indent}if {' and '.join(conds)}:")
            lines.append(f"{indent}    raise _Slow")
        elif tp is Any:
            pass
        elif get_origin(tp) is list and len(args_) == 1 and rules.is_response_class(args_[0]):
            names[f"_f_{label}"] = _fast_structure_fn(args_[0], made, rules)
            lines.append(f"{indent}if _type({var}) is not _list:")
            lines.append(f"{indent}    raise _Slow")
            lines.append(f"{indent}{var} = [_f_{label}(e) for e in {var}]")
        elif isinstance(tp, type) and rules.is_response_class(tp):
            names[f"_f_{label}"] = _fast_structure_fn(tp, made, rules)
            lines.append(f"{indent}{var} = _f_{label}({var})")
        else:  # anything else: the converter's own hook for that type
            names[f"_h_{label}"] = rules.converter.get_structure_hook(tp)
            names[f"_tp_{label}"] = tp
            lines.append(f"{indent}{var} = _h_{label}({var}, _tp_{label})")

    for i, field in enumerate(fields):
        var = f"v{i}"
        lines.append(f"    {var} = get({field.name!r}, _M)")
        lines.append(f"    if {var} is _M:")
        if field.default is attrs.NOTHING:
            lines.append("        raise _Slow")
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            if field.default.takes_self:
                raise _Slow
            names[f"_d{i}"] = field.default.factory
            lines.append(f"        {var} = _d{i}()")
        else:
            names[f"_d{i}"] = field.default
            lines.append(f"        {var} = _d{i}")
        lines.append("    else:")
        lines.append("        n += 1")
        check(var, field.type, "        ", str(i))
        args.append(var)
    lines.append(
        "    extra = _no_extra if n == len(d) else _Proxy({k: d[k] for k in d.keys() - _known})"
    )
    names["_no_extra"] = attrs.fields_dict(cls)["extra"].default
    setters = _slot_setters(cls, local)
    if setters is None:
        kwargs = ", ".join(f"{f.alias}={arg}" for f, arg in zip(fields, args, strict=True))
        lines.append(f"    return _cls({kwargs}, extra=extra)")
    else:
        # Fill the slots directly: a frozen class's __init__ goes through
        # object.__setattr__ per field, which costs more than all the checks above.
        names["_new"] = object.__new__
        values = dict(zip((f.name for f in fields), args, strict=True), extra="extra")
        lines.append("    o = _new(_cls)")
        for i, field in enumerate(attrs.fields(cls)):
            names[f"_s{i}"] = setters[field.name]
            if field.name not in values:  # our own bookkeeping fields: their defaults
                names[f"_local{i}"] = field.default
                values[field.name] = f"_local{i}"
            lines.append(f"    _s{i}(o, {values[field.name]})")
        lines.append("    return o")
    # The names are the function's globals (specialised, so about as fast as locals).
    exec("\n".join(["def structure(d):", *lines]), names)  # noqa: S102 -- as cattrs does
    made[cls] = names["structure"]
    return made[cls]


def _slot_setters(
    cls: type[Any], local: frozenset[str]
) -> dict[str, Callable[[Any, Any], None]] | None:
    """Each field's slot setter, if filling slots is all ``cls.__init__`` does."""
    fields = attrs.fields(cls)
    if (
        any(f.validator is not None or f.converter is not None for f in fields)
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
        or any(
            f.name in local and (f.default is attrs.NOTHING or isinstance(f.default, attrs.Factory))  # type: ignore[arg-type]
            for f in fields
        )
    ):
        return None
    setters = {}
    for field in fields:
        slot = cls.__dict__.get(field.name)
        if not isinstance(slot, MemberDescriptorType):
            return None
        setters[field.name] = slot.__set__
    return setters


def fast_structurers(
    converter: cattrs.Converter,
    classes: tuple[type[Any], ...],
    *,
    local: frozenset[str],
    is_response_class: Callable[[type[Any]], bool],
    accepted: Mapping[type[Any], tuple[type[Any], ...]],
) -> dict[type[Any], Callable[[Any], Any]]:
    """``{cls: structure(data) -> cls}`` for each of ``classes`` the generator handles.

    Args:
        converter: supplies hooks for field types the generator leaves alone.
        classes: response classes (attrs, with an ``extra`` field).
        local: field names that are our own bookkeeping, never read from JSON.
        is_response_class: the converter's test for classes that keep unknown keys.
        accepted: the converter's strict scalar rule: the JSON types each scalar takes.

    Each function raises (any exception) where the converter must decide.
    """
    rules = _Rules(converter, local, is_response_class, accepted)
    made: dict[type[Any], Callable[[Any], Any]] = {}
    for cls in classes:
        try:
            _fast_structure_fn(cls, made, rules)
        except _Slow:  # a shape the generator does not handle: cattrs only
            made.pop(cls, None)
    return {cls: made[cls] for cls in classes if cls in made}
