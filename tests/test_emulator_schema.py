"""The emulator's schema instances: any schema of the covered subset gets a valid value."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doubao_vision.emulator._schema import instance_for

NAMES = st.sampled_from(["width", "height", "format", "prompt", "images", "a", "b", "count"])
FACTS = {
    "width": 640,
    "height": 480,
    "format": "png",
    "prompt": "hello",
    "images": 2,
    "images_facts": [{"width": 1, "format": "gif"}, {"width": 2, "format": "png"}],
}


def _bounded_number(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    bound = st.integers(-50, 50) if kind == "integer" else st.floats(-50, 50, allow_nan=False)
    return st.fixed_dictionaries(
        {"type": st.just(kind)},
        optional={
            "minimum": bound,
            "exclusiveMaximum": bound,
            "multipleOf": st.sampled_from([1, 2, 5]) if kind == "integer" else st.just(0.5),
        },
    ).filter(
        # Only satisfiable ranges: the oracle is not asked for the impossible.
        lambda s: (
            "minimum" not in s
            or "exclusiveMaximum" not in s
            or s["exclusiveMaximum"] - s["minimum"] > 11
        )
    )


LEAVES = st.one_of(
    _bounded_number("integer"),
    _bounded_number("number"),
    st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={"minLength": st.integers(0, 5), "maxLength": st.integers(6, 12)},
    ),
    st.fixed_dictionaries(
        {"type": st.just("string"), "format": st.sampled_from(["date-time", "email", "uuid"])}
    ),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.integers(0, 9) | st.text(max_size=3), min_size=1, max_size=3, unique=True).map(
        lambda values: {"enum": values}
    ),
    st.integers().map(lambda v: {"const": v}),
    st.just({}),
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(NAMES, children, max_size=4).flatmap(
        lambda props: st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.just(props),
                "required": st.lists(st.sampled_from(sorted(props)), unique=True)
                if props
                else st.just([]),
                "additionalProperties": st.booleans(),
            }
        )
    )
    arrays = st.fixed_dictionaries(
        {"type": st.just("array"), "items": children},
        optional={"minItems": st.integers(0, 3), "maxItems": st.integers(3, 5)},
    )
    combos = st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs}),
        children.map(lambda x: {"anyOf": [{"type": "null"}, x]}),
        children.map(
            lambda x: (
                {**x, "type": ["null", x["type"]]}
                if isinstance(x.get("type"), str) and x["type"] != "null"
                else x
            )
        ),
    )
    return st.one_of(objects, arrays, combos)


SCHEMAS = st.recursive(LEAVES, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(schema=SCHEMAS, use_facts=st.booleans())
def test_any_schema_gets_a_valid_instance(schema: dict[str, Any], use_facts: bool) -> None:
    """instance_for gives a value valid against any schema of the covered subset."""
    value = instance_for(schema, FACTS if use_facts else {})
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
    assert instance_for(schema, FACTS if use_facts else {}) == value  # deterministic


def test_refs_and_defs_resolve() -> None:
    """$ref into $defs and definitions resolves, recursion stops, and the value validates."""
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "kids": {
                    "type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["name", "kids"],
            },
            "leaf": {"$ref": "#/definitions/leaf"},
        },
        "definitions": {"leaf": {"type": "integer", "minimum": 3}},
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/node"}, "leaf": {"$ref": "#/$defs/leaf"}},
        "required": ["tree", "leaf"],
    }  # fmt: skip
    value = instance_for(schema, {})
    jsonschema.validate(value, schema)
    assert value["leaf"] == 3


@pytest.mark.parametrize(
    ("schema", "want"),
    [
        ({"type": "integer", "minimum": 1000}, 1000),
        ({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2}, 1),
        ({"type": "number", "minimum": 0.25, "maximum": 0.75}, 0.25),
        ({"type": "string", "minLength": 30, "maxLength": 30}, "value (emulated)" + "x" * 14),
        ({"enum": ["jpeg", "png"]}, "jpeg"),
    ],
)
def test_simple_bounds(schema: dict[str, Any], want: Any) -> None:
    """Bounds and enums are honoured with the smallest fitting value."""
    assert instance_for(schema, {}) == want


def test_facts_fill_named_fields() -> None:
    """Fields named like a fact take it when the schema allows, else a valid default."""
    schema = {
        "type": "object",
        "properties": {
            "width": {"type": "integer"},
            "height": {"type": "integer", "maximum": 100},  # 480 does not fit
            "format": {"enum": ["jpeg", "png"]},
            "images": {"type": "array", "items": {"type": "object", "properties": {
                "width": {"type": "integer"}, "format": {"type": "string"}}}},
        },
    }  # fmt: skip
    assert instance_for(schema, FACTS) == {
        "width": 640,
        "height": 0,
        "format": "png",
        "images": [{"width": 1, "format": "gif"}, {"width": 2, "format": "png"}],
    }
