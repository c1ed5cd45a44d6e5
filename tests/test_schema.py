"""json_schema(): attrs classes and dataclasses to JSON Schema, checked with jsonschema."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any, Literal

import attrs
import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doubao_vision._extract import make_converter
from doubao_vision._schema import json_schema

Validator = jsonschema.Draft202012Validator


class Currency(enum.Enum):
    CNY = "CNY"
    USD = "USD"


@attrs.frozen
class LineItem:
    """One printed line."""

    name: str = attrs.field(metadata={"description": "as printed"})
    qty: int
    unit_price: float


@attrs.frozen
class Receipt:
    """A shop receipt."""

    merchant: str
    items: list[LineItem]
    total: float
    currency: Currency = Currency.CNY
    kind: Literal["sale", "refund"] = "sale"
    paid_at: datetime.datetime | None = None
    tags: dict[str, str] = attrs.field(factory=dict)


def test_receipt_schema_in_full() -> None:
    """Types, required vs defaulted, enum/Literal as enum, nested class in $defs, descriptions."""
    assert json_schema(Receipt) == {
        "type": "object",
        "description": "A shop receipt.",
        "properties": {
            "merchant": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/LineItem"}},
            "total": {"type": "number"},
            "currency": {"type": "string", "enum": ["CNY", "USD"], "default": "CNY"},
            "kind": {"type": "string", "enum": ["sale", "refund"], "default": "sale"},
            "paid_at": {
                "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                "default": None,
            },
            "tags": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
        },
        "required": ["merchant", "items", "total"],
        "additionalProperties": False,
        "$defs": {
            "LineItem": {
                "type": "object",
                "description": "One printed line.",
                "properties": {
                    "name": {"type": "string", "description": "as printed"},
                    "qty": {"type": "integer"},
                    "unit_price": {"type": "number"},
                },
                "required": ["name", "qty", "unit_price"],
                "additionalProperties": False,
            }
        },
    }
    Validator.check_schema(json_schema(Receipt))


@dataclasses.dataclass
class Point:
    x: int = dataclasses.field(metadata={"description": "pixels from the left"})
    y: int = 0
    labels: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Box:
    """A box on the image."""

    corners: tuple[Point, Point]
    when: datetime.date
    shape: set[str] = dataclasses.field(default_factory=set)


def test_dataclasses_descriptions_and_defaults() -> None:
    """Dataclass field metadata and docstrings become descriptions; factories make a field optional."""
    schema = json_schema(Box)
    assert schema["description"] == "A box on the image."
    assert schema["required"] == ["corners", "when"]
    assert schema["properties"]["corners"] == {
        "type": "array",
        "prefixItems": [{"$ref": "#/$defs/Point"}, {"$ref": "#/$defs/Point"}],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }
    assert schema["properties"]["when"] == {"type": "string", "format": "date"}
    assert schema["properties"]["shape"] == {
        "type": "array",
        "items": {"type": "string"},
        "uniqueItems": True,
    }  # a set() default has no JSON form: left out
    point = schema["$defs"]["Point"]
    # A dataclass without a docstring gets "Point(x: int, ...)" from dataclasses: not ours.
    assert "description" not in point
    assert point["properties"]["x"] == {"type": "integer", "description": "pixels from the left"}
    assert point["required"] == ["x"]
    Validator.check_schema(schema)


@attrs.frozen
class Node:
    value: int
    children: list[Node] = attrs.field(factory=list)
    meta: Any = None


@attrs.frozen
class Tree:
    root: Node
    spare: Node | None = None


def test_recursive_and_shared_classes() -> None:
    """A class that contains itself refers to "#" (root) or its $defs entry, defined once."""
    assert json_schema(Node)["properties"]["children"] == {
        "type": "array",
        "items": {"$ref": "#"},
        "default": [],
    }
    assert json_schema(Node)["properties"]["meta"] == {"default": None}
    schema = json_schema(Tree)
    assert list(schema["$defs"]) == ["Node"]
    node = schema["$defs"]["Node"]
    assert node["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    tree = Tree(Node(1, [Node(2), Node(3, [Node(4)])]))
    Validator(schema).validate(make_converter().unstructure(tree))
    with pytest.raises(jsonschema.ValidationError):
        Validator(schema).validate({"root": {"value": 1, "children": [{"value": "x"}]}})


def _make_twin(value_type: type) -> type:
    return attrs.make_class("Part", {"value": attrs.field(type=value_type)})


def test_same_names_get_distinct_defs() -> None:
    """Two different classes both named Part get two $defs entries, each $ref to its own."""
    first, second = _make_twin(int), _make_twin(str)
    holder = attrs.make_class(
        "Holder", {"a": attrs.field(type=first), "b": attrs.field(type=second)}
    )
    schema = json_schema(holder)
    assert len(schema["$defs"]) == 2
    refs = [schema["properties"][k]["$ref"].rsplit("/", 1)[1] for k in ("a", "b")]
    assert [schema["$defs"][r]["properties"]["value"]["type"] for r in refs] == [
        "integer",
        "string",
    ]


def test_unsupported_types_are_named() -> None:
    """A field type with no JSON form, or a non-class, raises TypeError naming it."""
    bad = attrs.make_class("Bad", {"blob": attrs.field(type=bytes)})
    with pytest.raises(TypeError, match=r"Bad\.blob.*bytes"):
        json_schema(bad)
    keyed = attrs.make_class("Keyed", {"m": attrs.field(type=dict[int, str])})
    with pytest.raises(TypeError, match="keys are strings"):
        json_schema(keyed)
    with pytest.raises(TypeError, match="attrs class or a dataclass"):
        json_schema(dict)


def test_mixed_literals_and_init_false() -> None:
    """A Literal of mixed JSON types is a bare enum; init=False fields are left out."""

    @attrs.define
    class Mixed:
        level: Literal[1, "high", None]
        cached: int = attrs.field(init=False, default=0)

    schema = json_schema(Mixed)
    assert schema["properties"] == {"level": {"enum": [1, "high", None]}}
    assert schema["required"] == ["level"]


# -- generated classes ---------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_LEAVES: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (int, st.integers(-(2**53), 2**53)),
    (float, st.floats(allow_nan=False, allow_infinity=False)),
    (str, _TEXT),
    (bool, st.booleans()),
    (datetime.datetime, st.datetimes(timezones=st.none() | st.just(datetime.timezone.utc))),
    (datetime.date, st.dates()),
    (Literal["a", "b"], st.sampled_from(["a", "b"])),
    (Color, st.sampled_from(Color)),
]
_class_names = iter(range(1 << 30))


@st.composite
def field_types(draw: st.DrawFn, depth: int = 0) -> tuple[Any, st.SearchStrategy[Any]]:
    """A field type and a strategy for its values; containers and classes nest."""
    kinds = ["leaf"] if depth >= 2 else ["leaf", "leaf", "list", "dict", "optional", "class"]
    kinds += ["tuple", "set"] if depth < 2 else []
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        leaf: tuple[Any, st.SearchStrategy[Any]] = draw(st.sampled_from(_LEAVES))
        return leaf
    if kind == "set":  # of leaves only: set members must hash
        tp, members = draw(st.sampled_from(_LEAVES))
        return frozenset[tp], st.frozensets(members, max_size=3)  # type: ignore[valid-type]
    if kind == "class":
        nested: tuple[Any, st.SearchStrategy[Any]] = draw(classes(depth + 1))
        return nested
    inner, values = draw(field_types(depth + 1))
    if kind == "list":
        return list[inner], st.lists(values, max_size=3)  # type: ignore[valid-type]
    if kind == "tuple":
        return tuple[inner, ...], st.lists(values, max_size=3).map(tuple)  # type: ignore[valid-type]
    if kind == "dict":
        return dict[str, inner], st.dictionaries(_TEXT, values, max_size=3)  # type: ignore[valid-type]
    return inner | None, st.none() | values


@st.composite
def classes(draw: st.DrawFn, depth: int = 0) -> tuple[type, st.SearchStrategy[Any]]:
    """An attrs class made with attrs.make_class, some fields defaulted, and its instances."""
    specs = draw(st.lists(field_types(depth), min_size=1, max_size=4))
    fields: dict[str, Any] = {}
    values: dict[str, st.SearchStrategy[Any]] = {}
    for i, (tp, strategy) in enumerate(specs):
        name = f"f{i}"
        if draw(st.booleans()):
            fields[name] = attrs.field(type=tp, default=draw(strategy))
        else:
            fields[name] = attrs.field(type=tp)
        values[name] = strategy
    cls = attrs.make_class(f"C{next(_class_names)}", fields, frozen=True, kw_only=True)
    return cls, st.builds(cls, **values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), spec=classes())
def test_generated_classes_round_trip_through_their_schema(
    data: st.DataObject, spec: tuple[type, st.SearchStrategy[Any]]
) -> None:
    """Every instance's JSON validates against json_schema(cls) and structures back to itself."""
    cls, instances = spec
    schema = json_schema(cls)
    Validator.check_schema(schema)
    validator = Validator(schema)
    converter = make_converter()
    for _ in range(3):
        instance = data.draw(instances)
        wire = orjson.loads(orjson.dumps(converter.unstructure(instance)))
        validator.validate(wire)
        assert converter.structure(wire, cls) == instance
