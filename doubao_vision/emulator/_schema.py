"""A deterministic JSON value that validates against a JSON Schema.

Structured-output answers (``response_format: json_schema``) and tool-call arguments
are made here. The subset covered is what pydantic and hand-written tool schemas
use: ``type`` (one or a list), ``const``, ``enum``, ``properties`` / ``required`` /
``additionalProperties``, ``items`` / ``prefixItems`` / ``minItems`` / ``maxItems``,
``$ref`` into ``$defs`` or ``definitions``, ``anyOf`` / ``oneOf`` / ``allOf``,
``minimum`` / ``maximum`` (exclusive too) / ``multipleOf``, ``minLength`` /
``maxLength`` and the common string ``format`` values. ``pattern`` is not solved.

Where a property's name matches a fact of the request (``width``, ``height``,
``format``, ``prompt``, ``image_count``, ...), the fact is used if the schema allows
it, so an answer says something true about the images that arrived.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_for"]

_MAX_DEPTH = 8  # recursive $refs (a tree of nodes) stop here with the smallest value

_FORMATS = {
    "date-time": "2025-03-28T00:00:00Z",
    "date": "2025-03-28",
    "time": "00:00:00Z",
    "email": "emulator@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "localhost",
}


class _Maker:
    def __init__(self, root: Mapping[str, Any], facts: Mapping[str, Any]) -> None:
        self.root = root
        self.facts = facts

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(ref := schema.get("$ref"), str) and seen < 32:
            seen += 1
            target: Any = self.root
            if not ref.startswith("#"):
                return {}
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
            if not isinstance(target, Mapping):
                return {}
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
        return schema

    def make(self, schema: Any, name: str | None, depth: int, facts: Mapping[str, Any]) -> Any:
        if schema is True or not isinstance(schema, Mapping):
            return self.fact(name, facts, str)
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            fact = facts.get(name) if name else None
            return fact if fact in enum else enum[0]
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                if isinstance(part, Mapping):
                    part = self.resolve(part)
                    for key, value in part.items():
                        if key in ("properties",) and key in merged:
                            merged[key] = {**merged[key], **value}
                        elif key == "required" and key in merged:
                            merged[key] = [*merged[key], *value]
                        else:
                            merged.setdefault(key, value)
            return self.make(merged, name, depth, facts)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # The first option that is not null: Optional[X] answers an X.
                chosen = next(
                    (
                        o
                        for o in options
                        if not (isinstance(o, Mapping) and o.get("type") == "null")
                    ),
                    options[0],
                )
                return self.make(chosen, name, depth, facts)
        kind = self.kind(schema)
        if kind == "object":
            return self.object(schema, depth, facts)
        if kind == "array":
            return self.array(schema, name, depth, facts)
        if kind in ("integer", "number"):
            return self.number(schema, kind, name, facts)
        if kind == "boolean":
            fact = facts.get(name) if name else None
            return fact if isinstance(fact, bool) else True
        if kind == "null":
            return None
        return self.string(schema, name, facts)

    @staticmethod
    def kind(schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0]
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def fact(self, name: str | None, facts: Mapping[str, Any], kind: type) -> Any:
        value = facts.get(name) if name else None
        if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
            return value
        return "" if kind is str else None

    def object(self, schema: Mapping[str, Any], depth: int, facts: Mapping[str, Any]) -> Any:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        names = list(properties)
        if depth >= _MAX_DEPTH and isinstance(required, list):
            names = [n for n in names if n in required]
        result: dict[str, Any] = {}
        for prop in names:
            result[prop] = self.make(properties[prop], prop, depth + 1, facts)
        for prop in required if isinstance(required, list) else ():
            if prop not in result:  # required but not described: anything goes
                result[prop] = self.fact(prop, facts, str)
        low = schema.get("minProperties")
        extra = schema.get("additionalProperties")
        n = 0
        while isinstance(low, int) and len(result) < low and extra is not False:
            n += 1
            result[f"key{n}"] = self.make(extra if isinstance(extra, Mapping) else {}, None,
                                          depth + 1, facts)  # fmt: skip
        return result

    def array(
        self, schema: Mapping[str, Any], name: str | None, depth: int, facts: Mapping[str, Any]
    ) -> list[Any]:
        low = schema.get("minItems")
        high = schema.get("maxItems")
        low = low if isinstance(low, int) else 0
        high = high if isinstance(high, int) else None
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        per_item: list[Mapping[str, Any]] = []
        if name in ("images", "image", "pictures") and self.facts.get("images_facts"):
            per_item = list(self.facts["images_facts"])  # one entry per image that arrived
        count = len(per_item) if per_item else max(low, len(prefix), 1 if depth < _MAX_DEPTH else 0)
        count = max(count, low, len(prefix) if high is None else min(len(prefix), high))
        if high is not None:
            count = min(count, high)
        result = []
        for i in range(count):
            item_facts = per_item[i] if i < len(per_item) else facts
            item_schema = prefix[i] if i < len(prefix) else items
            singular = name[:-1] if name and name.endswith("s") else name
            result.append(self.make(item_schema, singular, depth + 1, item_facts))
        if schema.get("uniqueItems") and len(result) > 1:
            # Equal generated items would break uniqueness; number them where possible.
            result = [
                (f"{v}{i}" if isinstance(v, str) else v + i if isinstance(v, int) else v)
                for i, v in enumerate(result)
            ]
        return result

    def number(
        self, schema: Mapping[str, Any], kind: str, name: str | None, facts: Mapping[str, Any]
    ) -> int | float:
        low = schema.get("minimum")
        high = schema.get("maximum")
        xlow = schema.get("exclusiveMinimum")
        xhigh = schema.get("exclusiveMaximum")
        step = schema.get("multipleOf")
        integer = kind == "integer"

        def fits(v: float) -> bool:
            if isinstance(low, (int, float)) and v < low:
                return False
            if isinstance(high, (int, float)) and v > high:
                return False
            if isinstance(xlow, (int, float)) and not isinstance(xlow, bool) and v <= xlow:
                return False
            if isinstance(xhigh, (int, float)) and not isinstance(xhigh, bool) and v >= xhigh:
                return False
            return not (isinstance(step, (int, float)) and step > 0 and not _multiple(v, step))

        fact = facts.get(name) if name else None
        if (
            isinstance(fact, (int, float))
            and not isinstance(fact, bool)
            and fits(fact)
            and (not integer or float(fact).is_integer())
        ):
            return int(fact) if integer else fact
        candidates: list[float] = [0, 1]
        for bound, nudge in ((low, 0), (xlow, 1), (high, 0), (xhigh, -1)):
            if isinstance(bound, (int, float)) and not isinstance(bound, bool):
                candidates.append(bound + nudge if integer else bound + nudge * 0.5)
                if integer:
                    candidates.append(math.ceil(bound) if nudge >= 0 else math.floor(bound))
                if isinstance(step, (int, float)) and step > 0:
                    # The multiples of the step next to each bound.
                    k = bound / step
                    candidates += [s * step for s in (math.floor(k) - 1, math.floor(k),
                                                      math.ceil(k), math.ceil(k) + 1)]  # fmt: skip
        for value in candidates:
            if integer:
                value = math.ceil(value)
            if fits(value):
                return int(value) if integer else value
        return int(candidates[-1]) if integer else candidates[-1]

    def string(self, schema: Mapping[str, Any], name: str | None, facts: Mapping[str, Any]) -> str:
        low = schema.get("minLength")
        high = schema.get("maxLength")
        low = low if isinstance(low, int) else 0
        value = facts.get(name) if name else None
        if not isinstance(value, str):
            fmt = schema.get("format")
            value = _FORMATS.get(fmt, "") if isinstance(fmt, str) else ""
            if not value:
                value = f"{name or 'value'} (emulated)"
        if isinstance(high, int) and len(value) > high:
            value = value[:high]
        if len(value) < low:
            value = value + "x" * (low - len(value))
        return value


def _multiple(value: float, step: float) -> bool:
    quotient = value / step
    return abs(quotient - round(quotient)) < 1e-9


def instance_for(schema: Any, facts: Mapping[str, Any]) -> Any:
    """A value valid against ``schema``, using ``facts`` (property name -> value) where
    the names and the schema allow; ``facts["images_facts"]`` (one mapping per image)
    fills an array property named ``images``."""
    root = schema if isinstance(schema, Mapping) else {}
    return _Maker(root, facts).make(schema, None, 0, facts)
