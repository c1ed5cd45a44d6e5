"""The generated fast structuring path agrees with plain cattrs on any input, valid or not."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doubao_vision import _serde
from doubao_vision._fastparse import fast_structurers
from doubao_vision._models import ChatCompletion, ChatCompletionChunk

FAST = fast_structurers(
    _serde.converter,
    (ChatCompletionChunk, ChatCompletion),
    local=_serde._LOCAL_FIELDS,
    is_response_class=_serde.is_response_class,
    accepted=_serde.ACCEPTED,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.sampled_from(["", "a", "stop", "assistant", "function"]),
)
json_any = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2),
        st.dictionaries(st.sampled_from(["x", "y", "content"]), inner, max_size=2),
    ),
    max_leaves=4,
)


def obj(keys: list[str], leaf: Any) -> Any:
    """Dicts over some of ``keys`` (so required keys go missing too)."""
    return st.dictionaries(st.sampled_from(keys), leaf, max_size=len(keys))


function = obj(["name", "arguments", "zz"], scalars)
tool_delta = obj(["index", "id", "type", "function", "zz"], st.one_of(scalars, function))
delta = obj(
    ["role", "content", "reasoning_content", "tool_calls", "zz", "extra"],
    st.one_of(scalars, st.lists(tool_delta, max_size=2), json_any),
)
details = obj(["cached_tokens", "reasoning_tokens", "zz"], scalars)
usage = obj(
    [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "zz",
    ],
    st.one_of(scalars, details),
)
chunk_choice = obj(
    ["index", "delta", "finish_reason", "logprobs", "moderation_hit_type", "zz"],
    st.one_of(scalars, delta, json_any),
)
chunks = obj(
    ["id", "choices", "model", "created", "object", "service_tier", "usage", "zz", "request_id"],
    st.one_of(scalars, st.lists(chunk_choice, max_size=2), usage, json_any),
)
message = obj(
    ["role", "content", "reasoning_content", "tool_calls", "name", "zz"],
    st.one_of(
        scalars,
        st.lists(obj(["id", "function", "type", "zz"], st.one_of(scalars, function)), max_size=2),
    ),
)
choice = obj(
    ["index", "message", "finish_reason", "logprobs", "moderation_hit_type", "zz"],
    st.one_of(scalars, message, json_any),
)
completions = obj(
    [
        "id",
        "choices",
        "model",
        "created",
        "object",
        "service_tier",
        "usage",
        "zz",
        "client_request_id",
    ],
    st.one_of(scalars, st.lists(choice, max_size=2), usage, json_any),
)


# The stream's variant: it keeps (and changes) the dicts it is given.
OWNED = fast_structurers(
    _serde.converter,
    (ChatCompletionChunk,),
    local=_serde._LOCAL_FIELDS,
    is_response_class=_serde.is_response_class,
    accepted=_serde.ACCEPTED,
    owned=True,
)


def deep(value: Any) -> Any:
    """A comparable form that includes every field and ``extra``, with types."""
    if attrs.has(type(value)):
        return (
            type(value).__name__,
            {f.name: deep(getattr(value, f.name)) for f in attrs.fields(type(value))},
        )
    if isinstance(value, list):
        return [deep(item) for item in value]
    if hasattr(value, "items"):
        return {key: deep(item) for key, item in value.items()}
    return (type(value).__name__, value)


def outcome(data: Any, cls: type, *, fast: bool) -> Any:
    try:
        if fast:
            try:
                return ("ok", deep(FAST[cls](data)))
            except Exception:  # noqa: S110 -- the fast path declines; cattrs decides
                pass
        return ("ok", deep(_serde.converter.structure(data, cls)))
    except Exception as exc:
        return ("error", type(exc).__name__)


def owned_outcome(data: Any) -> Any:
    """The stream's way: the owned fast path on a fresh copy, else cattrs on the JSON."""
    try:
        try:
            return ("ok", deep(OWNED[ChatCompletionChunk](copy.deepcopy(data))))
        except Exception:  # noqa: S110 -- it declines; the JSON is parsed again for cattrs
            pass
        return ("ok", deep(_serde.converter.structure(data, ChatCompletionChunk)))
    except Exception as exc:
        return ("error", type(exc).__name__)


def test_both_classes_have_a_fast_path() -> None:
    """The generator handles both response classes (else this file tests nothing)."""
    assert set(FAST) == {ChatCompletionChunk, ChatCompletion}
    assert set(OWNED) == {ChatCompletionChunk}


@settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
@given(chunks)
def test_owned_chunks_agree(data: Any) -> None:
    """Any chunk-like JSON gives the same object (or error) through the owned fast path
    as via cattrs, defaults read from the class where the JSON left a field out."""
    assert owned_outcome(data) == outcome(data, ChatCompletionChunk, fast=False)


SPARSE = {
    "id": "c",
    "choices": [{"delta": {"content": "hi"}, "index": 0}],
    "created": 1,
    "model": "m",
    "service_tier": "default",
    "object": "chat.completion.chunk",
    "usage": None,
}


def test_owned_chunk_keeps_the_json_objects() -> None:
    """The owned path keeps orjson's dicts as the objects' __dict__ (no merged copy):
    a delta that sent only content holds only content."""
    chunk = OWNED[ChatCompletionChunk](copy.deepcopy(SPARSE))
    assert vars(chunk.choices[0].delta) == {"content": "hi"}
    assert vars(chunk.choices[0]).keys() == {"delta", "index"}


def test_sparse_chunk_is_the_same_object_to_every_reader() -> None:
    """A chunk with a sparse __dict__ equals, hashes, prints, evolves, pickles and
    writes back (to_dict) exactly as the one cattrs builds from the same JSON."""
    sparse = OWNED[ChatCompletionChunk](copy.deepcopy(SPARSE))
    full = _serde.converter.structure(copy.deepcopy(SPARSE), ChatCompletionChunk)
    delta, full_delta = sparse.choices[0].delta, full.choices[0].delta
    assert (delta.role, delta.reasoning_content, delta.tool_calls) == (None, None, None)
    assert not delta.extra
    assert sparse == full
    assert hash(sparse.choices[0].delta) == hash(full_delta)
    assert repr(sparse) == repr(full)
    assert sparse.to_dict() == full.to_dict() == {k: v for k, v in SPARSE.items() if v}
    assert attrs.asdict(sparse) == attrs.asdict(full)
    assert attrs.evolve(delta, role="assistant") == attrs.evolve(full_delta, role="assistant")
    assert pickle.loads(pickle.dumps(sparse)) == full


@settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
@given(chunks)
def test_chunks_agree(data: Any) -> None:
    """Any chunk-like JSON gives the same object (or the same error) fast as via cattrs."""
    assert outcome(data, ChatCompletionChunk, fast=True) == outcome(
        data, ChatCompletionChunk, fast=False
    )


@settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
@given(completions)
def test_completions_agree(data: Any) -> None:
    """Any completion-like JSON gives the same object (or the same error) fast as via cattrs."""
    assert outcome(data, ChatCompletion, fast=True) == outcome(data, ChatCompletion, fast=False)


FULL_CHUNK = {
    "id": "0217",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "hi",
                "reasoning_content": None,
                "tool_calls": None,
            },
            "finish_reason": None,
            "logprobs": None,
            "moderation_hit_type": None,
        }
    ],
    "model": "m",
    "created": 1,
    "object": "chat.completion.chunk",
    "service_tier": "default",
    "usage": None,
}


@settings(max_examples=200, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.sampled_from(sorted(FULL_CHUNK)), st.sampled_from(["zz", "extra", "request_id"]), scalars)
def test_every_field_sent_agrees_with_cattrs(missing: str, unknown: str, value: Any) -> None:
    """A chunk sending every field (the copy path), and one with a field swapped for an
    unknown key (same length, so the copy path must decline), agree with cattrs."""
    assert outcome(FULL_CHUNK, ChatCompletionChunk, fast=True) == outcome(
        FULL_CHUNK, ChatCompletionChunk, fast=False
    )
    swapped = {k: v for k, v in FULL_CHUNK.items() if k != missing} | {unknown: value}
    assert outcome(swapped, ChatCompletionChunk, fast=True) == outcome(
        swapped, ChatCompletionChunk, fast=False
    )
    chunk = _serde.parse_chunk(swapped)  # every chunk field has a default
    assert dict(chunk.extra) == {unknown: value}
