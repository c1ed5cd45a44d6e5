"""A generated fast path for structuring response JSON into our attrs classes.

Structuring one stream chunk through cattrs costs ~6 us (a hook call per field,
the Optional and list dispatch, a set difference per object for ``extra``): more
than reading, framing and JSON-parsing the chunk together (benchmarks/ shows it;
benchmarks/chunk_costs.py breaks it down). For the shape servers actually send
(dicts, lists, exact scalar types), one generated function per class does the
same checks inline. Anything it is not sure of (a missing required key, a wrong
type, a list that is not a ``list``) makes it give up, and the cattrs converter
runs as before, so results and errors are unchanged (tests/test_fastparse.py
checks the two agree on generated JSON, valid or not).

Three ways to fill an object, chosen per class:

- The stream's per-chunk classes, when the caller owns the JSON (``owned=True``:
  the stream parsed it itself, and parses it again if the fast path declines),
  keep orjson's dicts as their ``__dict__``: fields the server left out are read
  from the class (``_models._defaults_on_class``), nested objects replace their
  dicts in place. No copy and no merge: about 0.3 us less per chunk
  (benchmarks/chunk_costs.py), and a kept chunk about 250 bytes smaller.
- A class with an instance ``__dict__`` (the same classes, from JSON that is not
  ours to keep: ``from_dict``, ``parse_chunk``) gets its
  whole ``__dict__`` in one step: the field defaults merged with the JSON
  object (one C-level dict merge), the few values that need it checked or
  converted in place. A frozen class cannot use ``self.x = ...``, and setting
  ~8 fields one by one was most of a chunk's cost.
- A slotted class is filled slot by slot through the slot descriptors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import GetSetDescriptorType, MemberDescriptorType
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
    # The input is ours to keep and change (fresh from orjson): see by_owned_dict.
    owned: bool = False


class _Generator:
    """The source and globals of one class's ``structure(d)`` function."""

    def __init__(
        self, cls: type[Any], made: dict[type[Any], Callable[[Any], Any]], rules: _Rules
    ) -> None:
        self.cls = cls
        self.made = made
        self.rules = rules
        self.fields = [f for f in attrs.fields(cls) if f.name not in rules.local]
        self.lines = ["    if _type(d) is not _dict:", "        raise _Slow"]
        # The names are the function's globals (specialised, so about as fast as locals).
        self.names: dict[str, Any] = {
            "_Slow": _Slow,
            "_M": _MISSING,
            "_cls": cls,
            "_Proxy": type(attrs.fields_dict(cls)["extra"].default),  # the class's Extra type
            "_known": frozenset(f.name for f in self.fields),
            "_no_extra": attrs.fields_dict(cls)["extra"].default,
            "_type": type,
            "_dict": dict,
            "_list": list,
            "_new": object.__new__,
        }

    def check(self, var: str, tp: Any, indent: str, label: str, store: str = "") -> None:
        """Lines that check ``var`` is a ``tp``, converting nested classes in place
        (``store``: a line that then saves the converted ``var``)."""
        lines, names = self.lines, self.names
        args_ = get_args(tp)
        if get_origin(tp) in (Union, type(str | int)) and type(None) in args_:
            rest = [a for a in args_ if a is not type(None)]
            if len(rest) != 1:
                raise _Slow
            lines.append(f"{indent}if {var} is not None:")
            self.check(var, rest[0], indent + "    ", label, store)
            return
        if tp in self.rules.accepted:
            # Exactly the converter's strict scalar hook: these JSON types, unchanged.
            conds = []
            for n, kind in enumerate(self.rules.accepted[tp]):
                names[f"_t_{label}_{n}"] = kind
                conds.append(f"_type({var}) is not _t_{label}_{n}")
            lines.append(f"{indent}if {' and '.join(conds)}:")
            lines.append(f"{indent}    raise _Slow")
            return
        if tp is Any:
            return
        is_response_class = self.rules.is_response_class
        if get_origin(tp) is list and len(args_) == 1 and is_response_class(args_[0]):
            names[f"_f_{label}"] = _fast_structure_fn(args_[0], self.made, self.rules)
            lines.append(f"{indent}if _type({var}) is not _list:")
            lines.append(f"{indent}    raise _Slow")
            # One choice per chunk is the rule: no comprehension (a call of its own) for it.
            lines.append(f"{indent}if len({var}) == 1:")
            if self.rules.owned:  # the list is ours too: fill it in place
                lines.append(f"{indent}    {var}[0] = _f_{label}({var}[0])")
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    {var}[:] = [_f_{label}(e) for e in {var}]")
                return
            lines.append(f"{indent}    {var} = [_f_{label}({var}[0])]")
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    {var} = [_f_{label}(e) for e in {var}]")
        elif isinstance(tp, type) and is_response_class(tp):
            names[f"_f_{label}"] = _fast_structure_fn(tp, self.made, self.rules)
            lines.append(f"{indent}{var} = _f_{label}({var})")
        else:  # anything else: the converter's own hook for that type
            names[f"_h_{label}"] = self.rules.converter.get_structure_hook(tp)
            names[f"_tp_{label}"] = tp
            lines.append(f"{indent}{var} = _h_{label}({var}, _tp_{label})")
        if store:
            lines.append(f"{indent}{store}")

    def by_dict(self, set_dict: Callable[[Any, Any], None]) -> None:
        """The body for a class with an instance ``__dict__``: merge, check, set it whole."""
        lines, names = self.lines, self.names
        defaults: dict[str, Any] = {}
        for field in attrs.fields(self.cls):
            plain = field.default is not attrs.NOTHING and not isinstance(
                field.default,
                attrs.Factory,  # type: ignore[arg-type]
            )
            # Required and factory fields start as _M, so every field's key is present.
            defaults[field.name] = field.default if plain else _MISSING
        names["_defaults"] = defaults
        names["_n"] = len(defaults)
        names["_set"] = set_dict
        names["_wire"] = len(self.fields)
        lines += [
            # Every field sent, nothing else (so a missing one is a KeyError below,
            # and the converter decides): a copy is all the object needs.
            "    if len(d) == _wire:",
            "        o = d.copy()",
            "        o['extra'] = _no_extra",
            "    else:",
            "        o = {**_defaults, **d}",
            # A key we do not model makes the merged dict longer, or (if it is
            # "extra") replaces the default, which no JSON value can be.
            "        if len(o) != _n or o['extra'] is not _no_extra:",
            "            o['extra'] = _Proxy({k: o.pop(k) for k in d.keys() - _known})",
        ]
        for i, field in enumerate(self.fields):
            var = f"v{i}"
            store = f"o[{field.name!r}] = {var}"
            lines.append(f"    {var} = o[{field.name!r}]")
            if field.default is attrs.NOTHING:
                lines += [f"    if {var} is _M:", "        raise _Slow"]
                self.check(var, field.type, "    ", str(i), store)
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                if field.default.takes_self:
                    raise _Slow
                names[f"_d{i}"] = field.default.factory
                lines += [f"    if {var} is _M:", f"        o[{field.name!r}] = _d{i}()"]
                lines.append("    else:")
                self.check(var, field.type, "        ", str(i), store)
                lines.append("        pass")
            else:
                self.check(var, field.type, "    ", str(i), store)
        lines += ["    r = _new(_cls)", "    _set(r, o)", "    return r"]

    def by_owned_dict(self, set_dict: Callable[[Any, Any], None]) -> None:
        """The body for a dict-backed class whose plain defaults are class attributes
        (``_models._defaults_on_class``), when ``d`` is ours: ``d`` itself becomes the
        ``__dict__``. A field it lacks reads the class's default; a nested object
        replaces its dict in place. No copy, no merge: the stream's typing cost.

        It changes ``d`` as it goes, so a caller whose input it declines must parse
        the bytes again (``AsyncStream._handle`` does) rather than hand on ``d``.
        """
        lines, names = self.lines, self.names
        names["_set"] = set_dict
        names["_wire"] = len(self.fields)
        # As many keys as fields (a chunk's top level, always): each is read without
        # asking first. An unknown key in place of a field is a KeyError: declined.
        lines.append("    if len(d) == _wire:")
        for i, field in enumerate(self.fields):
            var, key = f"v{i}", repr(field.name)
            lines.append(f"        {var} = d[{key}]")
            self.check(var, field.type, "        ", str(i), f"d[{key}] = {var}")
        # Otherwise (a delta sends one or two of its fields): ask for each, and count.
        lines += ["    else:", "        size = len(d)", "        n = 0"]
        for i, field in enumerate(self.fields):
            var, key = f"v{i}", repr(field.name)
            lines += [f"        if {key} in d:", f"            {var} = d[{key}]"]
            lines.append("            n += 1")
            self.check(var, field.type, "            ", str(i), f"d[{key}] = {var}")
            if field.default is attrs.NOTHING:
                lines += ["        else:", "            raise _Slow"]
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                if field.default.takes_self:
                    raise _Slow
                names[f"_d{i}"] = field.default.factory
                lines += ["        else:", f"            d[{key}] = _d{i}()"]
        # A key we do not model (one named "extra" too: it is not a wire field) goes
        # to extra; with none, the class's own empty extra shows through.
        lines += [
            "        if n != size:",
            "            d['extra'] = _Proxy({k: d.pop(k) for k in d.keys() - _known})",
            "    r = _new(_cls)",
            "    _set(r, d)",
            "    return r",
        ]

    def by_slot(self) -> None:
        """The body for a slotted class: each field read with ``get``, then filled in."""
        lines, names = self.lines, self.names
        lines += ["    get = d.get", "    n = 0"]
        args = []
        for i, field in enumerate(self.fields):
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
            self.check(var, field.type, "        ", str(i))
            args.append(var)
        lines.append(
            "    extra = _no_extra if n == len(d) else _Proxy({k: d[k] for k in d.keys() - _known})"
        )
        setters = _slot_setters(self.cls, self.rules.local)
        if setters is None:
            kwargs = ", ".join(f"{f.alias}={arg}" for f, arg in zip(self.fields, args, strict=True))
            lines.append(f"    return _cls({kwargs}, extra=extra)")
            return
        # Fill the slots directly: a frozen class's __init__ goes through
        # object.__setattr__ per field, which costs more than all the checks above.
        values = dict(zip((f.name for f in self.fields), args, strict=True), extra="extra")
        lines.append("    o = _new(_cls)")
        for i, field in enumerate(attrs.fields(self.cls)):
            names[f"_s{i}"] = setters[field.name]
            if field.name not in values:  # our own bookkeeping fields: their defaults
                names[f"_local{i}"] = field.default
                values[field.name] = f"_local{i}"
            lines.append(f"    _s{i}(o, {values[field.name]})")
        lines.append("    return o")


def _fast_structure_fn(
    cls: type[Any], made: dict[type[Any], Callable[[Any], Any]], rules: _Rules
) -> Any:
    """Generate ``structure(data) -> cls`` for a response class, or raise _Slow."""
    if cls in made:
        return made[cls]
    attrs.resolve_types(cls)
    if any(not f.init or f.kw_only for f in attrs.fields(cls)):
        raise _Slow
    gen = _Generator(cls, made, rules)
    set_dict = _dict_setter(cls, rules.local)
    if set_dict is None or {f.name for f in attrs.fields(cls)} & rules.local != {"extra"}:
        gen.by_slot()
    elif rules.owned and _has_class_defaults(cls):
        gen.by_owned_dict(set_dict)
    else:
        gen.by_dict(set_dict)
    exec("\n".join(["def structure(d):", *gen.lines]), gen.names)  # noqa: S102 -- as cattrs does
    made[cls] = gen.names["structure"]
    return made[cls]


def _plain_init(cls: type[Any], local: frozenset[str]) -> bool:
    """``cls.__init__`` only stores its arguments (so it may be skipped)."""
    fields = attrs.fields(cls)
    return not (
        any(f.validator is not None or f.converter is not None for f in fields)
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
        or any(
            f.name in local and (f.default is attrs.NOTHING or isinstance(f.default, attrs.Factory))  # type: ignore[arg-type]
            for f in fields
        )
    )


def _has_class_defaults(cls: type[Any]) -> bool:
    """Every plain field default is also a class attribute, as
    ``_models._defaults_on_class`` sets them (so a sparse ``__dict__`` reads the
    same as a full one)."""
    for field in attrs.fields(cls):
        if field.default is attrs.NOTHING or isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            continue
        if cls.__dict__.get(field.name, _MISSING) is not field.default:
            return False
    return True


def _dict_setter(cls: type[Any], local: frozenset[str]) -> Callable[[Any, Any], None] | None:
    """The setter of an instance's whole ``__dict__``, if ``cls`` has one and a plain init."""
    if not _plain_init(cls, local):
        return None
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get("__dict__")
        if isinstance(descriptor, GetSetDescriptorType):
            return descriptor.__set__
    return None


def _slot_setters(
    cls: type[Any], local: frozenset[str]
) -> dict[str, Callable[[Any, Any], None]] | None:
    """Each field's slot setter, if filling slots is all ``cls.__init__`` does."""
    if not _plain_init(cls, local):
        return None
    setters = {}
    for field in attrs.fields(cls):
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
    owned: bool = False,
) -> dict[type[Any], Callable[[Any], Any]]:
    """``{cls: structure(data) -> cls}`` for each of ``classes`` the generator handles.

    Args:
        converter: supplies hooks for field types the generator leaves alone.
        classes: response classes (attrs, with an ``extra`` field).
        local: field names that are our own bookkeeping, never read from JSON.
        is_response_class: the converter's test for classes that keep unknown keys.
        accepted: the converter's strict scalar rule: the JSON types each scalar takes.
        owned: the functions may keep and change the dicts they are given (only for
            JSON the caller parsed itself and can parse again if they decline).

    Each function raises (any exception) where the converter must decide.
    """
    rules = _Rules(converter, local, is_response_class, accepted, owned)
    made: dict[type[Any], Callable[[Any], Any]] = {}
    for cls in classes:
        try:
            _fast_structure_fn(cls, made, rules)
        except _Slow:  # a shape the generator does not handle: cattrs only
            made.pop(cls, None)
    return {cls: made[cls] for cls in classes if cls in made}
