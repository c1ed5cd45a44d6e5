"""Structured output over the emulator: requests per model, robust reading, repairs, errors, streams."""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import doubao_vision as dv
from doubao_vision import (
    AsyncClient,
    ChatCompletion,
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    OutputValidationError,
    _facts,
)
from doubao_vision._extract import extract_json, parsed_from, structure
from doubao_vision._messages import NO_EXTRA
from doubao_vision._partial import _grows, final_parsed, partial_objects
from doubao_vision._schema import json_schema
from doubao_vision._structured import ParsedCompletion, parse, prepare_request
from doubao_vision.emulator import Emulator, Fault

from .test_schema import Currency, LineItem, Receipt

# A doubao-seed-1.6 model: Ark's structured-output page lists it with json_schema.
SEED = "doubao-seed-1-6-vision-250815"
GOOD = {
    "merchant": "全家 FamilyMart",
    "items": [
        {"name": "乌龙茶", "qty": 2, "unit_price": 4.5},
        {"name": "饭团", "qty": 1, "unit_price": 7},
    ],
    "total": 16.0,
    "currency": "CNY",
    "paid_at": "2025-06-01T12:30:00+08:00",
}
GOOD_TEXT = orjson.dumps(GOOD).decode()
EXPECTED = structure(GOOD, Receipt)


@pytest.fixture
def seed_model(monkeypatch: pytest.MonkeyPatch) -> str:
    """SEED with json_schema in the model facts (until _facts.py lists it itself)."""
    if not _facts.model_info(SEED).json_schema:
        monkeypatch.setitem(_facts.MODELS, SEED, _facts.ModelInfo(SEED, json_schema=True))
    return SEED


def _bodies(emulator: Emulator) -> list[Any]:
    return [r.body for r in emulator.requests if r.path.endswith("/chat/completions")]


# -- requests per model ---------------------------------------------------------------


async def test_json_schema_model_gets_strict_schema(
    client: AsyncClient, emulator: Emulator, seed_model: str, png: bytes
) -> None:
    """A model whose facts say json_schema gets response_format json_schema, no schema text."""
    result = await parse(client, seed_model, [dv.user("Read", png)], response_format=Receipt)
    assert isinstance(result, ParsedCompletion)
    assert isinstance(result.parsed, Receipt)
    assert isinstance(result.parsed.items[0], LineItem)
    assert result.repairs == 0
    assert result.completion.text == orjson.dumps(orjson.loads(result.completion.text)).decode()
    (body,) = _bodies(emulator)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Receipt", "schema": json_schema(Receipt), "strict": True},
    }
    assert [m["role"] for m in body["messages"]] == ["user"]


async def test_json_object_model_gets_schema_in_system_message(
    client: AsyncClient, emulator: Emulator, png: bytes
) -> None:
    """vision-pro (json_object only) gets json_object and the schema added to the system text."""
    emulator.script(Fault.answer(GOOD_TEXT))
    messages: list[dv.Message] = [dv.system("You read receipts."), dv.user("Read", png)]
    result = await parse(client, dv.MODEL_VISION_PRO, messages, response_format=Receipt)
    assert result.parsed == EXPECTED
    (body,) = _bodies(emulator)
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    system_text = body["messages"][0]["content"]
    assert system_text.startswith("You read receipts.\n\n")
    assert "json" in system_text  # Ark's json_object mode wants the word in the input
    assert orjson.dumps(json_schema(Receipt)).decode() in system_text


@attrs.frozen
class ImageFacts:
    format: str
    width: int
    height: int
    bytes: int
    sha256: str


@dataclasses.dataclass
class Seen:
    """What the emulator's json_object answer holds: the prompt and each image's facts."""

    prompt: str | None
    images: list[ImageFacts]


async def test_json_object_answer_read_into_nested_classes(client: AsyncClient, png: bytes) -> None:
    """The emulator's own json_object answer structures into a dataclass holding attrs classes."""
    result = await parse(
        client, dv.MODEL_VISION_LITE, [dv.user("Look", png, png)], response_format=Seen
    )
    assert result.parsed.prompt == "Look"
    assert [(i.format, i.width, i.height, i.bytes) for i in result.parsed.images] == [
        ("png", 32, 24, len(png))
    ] * 2


async def test_mapping_response_format_passes_through(
    client: AsyncClient, emulator: Emulator, png: bytes
) -> None:
    """A response_format mapping is sent unchanged, no schema text, and the JSON comes back as is."""
    request = prepare_request(
        dv.MODEL_VISION_PRO, [dv.user("Look", png)], response_format={"type": "json_object"}
    )
    assert request.response_format == {"type": "json_object"}
    assert len(request.messages) == 1
    emulator.script(Fault.answer('{"anything": [1, 2]}'))
    result = await parse(
        client, dv.MODEL_VISION_PRO, [dv.user("Look")], response_format={"type": "json_object"}
    )
    assert result.parsed == {"anything": [1, 2]}
    assert _bodies(emulator)[-1]["response_format"] == {"type": "json_object"}


def test_prepare_request_adds_a_system_message_when_none_is_first() -> None:
    """Without a leading system message one is put first; the user's messages follow unchanged."""
    request = prepare_request(
        dv.MODEL_VISION_PRO,
        [{"role": "user", "content": "hi"}],
        response_format=Receipt,
        temperature=0.1,
    )
    assert isinstance(request.messages[0], dv.SystemMessage)
    assert request.messages[1] == dv.UserMessage("hi")
    assert request.temperature == 0.1


# -- reading answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(f"Here is the receipt:\n{GOOD_TEXT}\nAnything else?", id="prose"),
        pytest.param(f"```json\n{GOOD_TEXT}\n```", id="fence"),
        pytest.param(f"Sure.\n```\n{GOOD_TEXT}\n```\nDone.", id="fence-in-prose"),
        pytest.param(f"<think>The total {{is}} 16.</think>{GOOD_TEXT}", id="think"),
        pytest.param(f"<think>a\n{{b}}</think>\n\n{GOOD_TEXT}", id="think-multiline"),
        pytest.param(f"<think>x</think>\n```json\n{GOOD_TEXT}", id="think-unclosed-fence"),
    ],
)
async def test_wrapped_answers_are_read(
    client: AsyncClient, emulator: Emulator, content: str
) -> None:
    """Prose, a Markdown fence and a leading <think> block around the JSON are stripped, no repair."""
    emulator.script(Fault.answer(content))
    result = await parse(client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt)
    assert result.parsed == EXPECTED
    assert result.repairs == 0
    assert emulator.request_count == 1


def test_extract_json_edge_cases() -> None:
    """extract_json skips braces that do not start an object and says why when none does."""
    assert extract_json('Use {curly} braces: {"a": {"b": 1}} then {"c": 2}') == {"a": {"b": 1}}
    assert extract_json('  {"a": 1}  ') == {"a": 1}
    with pytest.raises(ValueError, match="empty"):
        extract_json("<think>all thought, no answer</think>  ")
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("I cannot read this receipt.")
    with pytest.raises(ValueError, match="invalid JSON"):
        extract_json('{"merchant": "x", "total": }')


def test_primitives_are_strict() -> None:
    """A "3" is not an int, 2.5 is not truncated, true is not a number; an int is a fine float."""
    item = {"name": "tea", "qty": 1, "unit_price": 3}
    assert structure(item, LineItem) == LineItem("tea", 1, 3.0)
    with pytest.raises(OutputValidationError) as info:
        structure({"name": 5, "qty": 2.5, "unit_price": True}, LineItem)
    assert info.value.errors == [
        ("$.name", "expected string, got integer"),
        ("$.qty", "expected integer, got number"),
        ("$.unit_price", "expected number, got boolean"),
    ]
    with pytest.raises(OutputValidationError) as info:
        structure({**GOOD, "currency": "EUR", "kind": "gift"}, Receipt)
    assert info.value.errors == [
        ("$.currency", f"expected one of {[c.value for c in Currency]}"),
        ("$.kind", "expected one of ['sale', 'refund']"),
    ]
    with pytest.raises(OutputValidationError, match=r"\$: expected object, got array"):
        structure([GOOD], Receipt)


@attrs.frozen
class Line:
    qty: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen
class Order:
    lines: list[Line]
    codes: frozenset[str] = frozenset()


def test_shapes_and_validators_name_the_right_path() -> None:
    """Wrong shapes (object for array, number for object) and class validators fail at their own path."""

    cases = [
        ({"lines": {"qty": 1}}, [("$.lines", "expected array, got object")]),
        ({"lines": [1]}, [("$.lines[0]", "expected object, got integer")]),
        ({"lines": [{"qty": 0}]}, [("$.lines[0]", "invalid value ('qty' must be > 0: 0)")]),
        ({"lines": [], "codes": ["a", 2]}, [("$.codes[1]", "expected string, got integer")]),
    ]
    for data, errors in cases:
        with pytest.raises(OutputValidationError) as info:
            structure(data, Order)
        assert info.value.errors == errors
    assert structure({"lines": [{"qty": 1}], "codes": ["a"]}, Order) == Order(
        [Line(1)], frozenset({"a"})
    )


def _completion(content: str, **choice: Any) -> ChatCompletion:
    message = dv.AssistantMessage(content=content, extra=choice.pop("extra", NO_EXTRA))
    return ChatCompletion(id="x", choices=[dv.Choice(index=0, message=message, **choice)])


def test_refusals_and_moderation_hits_are_content_filter_errors() -> None:
    """A refusal field or a moderation hit raises ContentFilterFinishReasonError, not a parse error."""
    refused = _completion("", extra=MappingProxyType({"refusal": "I cannot help"}))
    with pytest.raises(ContentFilterFinishReasonError, match="I cannot help") as info:
        parsed_from(refused, Receipt)
    assert info.value.text == "I cannot help"
    hit = _completion(GOOD_TEXT[:10], finish_reason="stop", moderation_hit_type="violence")
    with pytest.raises(ContentFilterFinishReasonError, match="violence"):
        parsed_from(hit, Receipt)
    assert parsed_from(_completion(GOOD_TEXT, finish_reason="stop"), Receipt) == EXPECTED


# -- repairs --------------------------------------------------------------------------


async def test_missing_field_is_repaired_with_its_path(
    client: AsyncClient, emulator: Emulator
) -> None:
    """One repair round sends the bad answer back with the error paths; its tokens count apart."""
    bad = orjson.dumps({k: v for k, v in GOOD.items() if k != "total"}).decode()
    emulator.script(
        Fault.answer(f"<think>no total?</think>```json\n{bad}\n```"), Fault.answer(GOOD_TEXT)
    )
    result = await parse(client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt)
    assert result.parsed == EXPECTED
    assert result.repairs == 1
    first, second = _bodies(emulator)
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assistant, repair = second["messages"][len(first["messages"]) :]
    # The answer goes back as it came, less its <think> block (reasoning is not input).
    assert assistant == {"role": "assistant", "content": f"```json\n{bad}\n```"}
    assert repair["role"] == "user"
    assert "- $.total: required field missing" in repair["content"]
    assert second["response_format"] == first["response_format"]
    usage = client.usage
    assert usage.requests == 2
    assert usage.repair_rounds == 1
    assert result.completion.usage is not None
    assert usage.repair_prompt_tokens == result.completion.usage.prompt_tokens
    assert usage.repair_completion_tokens == result.completion.usage.completion_tokens
    assert usage.prompt_tokens > usage.repair_prompt_tokens


async def test_wrong_type_after_repairs_raises_with_paths(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A wrong type that the repair does not fix raises OutputValidationError with .text and .errors."""
    wrong = dict(GOOD, items=[{"name": "tea", "qty": "two", "unit_price": 4.5}])
    wrong_text = orjson.dumps(wrong).decode()
    emulator.script(Fault.answer(wrong_text), Fault.answer(wrong_text))
    with pytest.raises(OutputValidationError) as info:
        await parse(client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt)
    assert info.value.errors == [("$.items[0].qty", "expected integer, got string")]
    assert info.value.text == wrong_text
    assert "$.items[0].qty" in str(info.value)
    assert emulator.request_count == 2
    assert (
        "- $.items[0].qty: expected integer, got string"
        in (_bodies(emulator)[1]["messages"][-1]["content"])
    )
    assert client.usage.repair_rounds == 1


async def test_max_repairs_counts_rounds(client: AsyncClient, emulator: Emulator) -> None:
    """max_repairs=0 never asks again; max_repairs=2 keeps the whole history across rounds."""
    emulator.script(Fault.answer("no JSON here"))
    with pytest.raises(OutputValidationError) as info:
        await parse(
            client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt, max_repairs=0
        )
    assert info.value.errors == [("$", "no JSON object in the answer")]
    assert emulator.request_count == 1
    emulator.script(Fault.answer("nope"), Fault.answer("{}"), Fault.answer(GOOD_TEXT))
    result = await parse(
        client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt, max_repairs=2
    )
    assert result.repairs == 2
    last = _bodies(emulator)[-1]["messages"]
    assert [m["role"] for m in last][-5:] == ["user", "assistant", "user", "assistant", "user"]
    assert "- $.merchant: required field missing" in last[-1]["content"]
    assert client.usage.repair_rounds == 2
    with pytest.raises(ValueError, match="max_repairs"):
        await parse(client, SEED, [dv.user("x")], response_format=Receipt, max_repairs=-1)


# -- finish reasons -------------------------------------------------------------------


async def test_cut_answer_raises_length_error(client: AsyncClient, emulator: Emulator) -> None:
    """finish_reason length raises LengthFinishReasonError with the partial text, without repair."""
    cut = GOOD_TEXT[:40]
    emulator.script(Fault.answer(cut, finish_reason="length"))
    with pytest.raises(LengthFinishReasonError) as info:
        await parse(client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt)
    assert info.value.text == cut
    assert emulator.request_count == 1
    assert client.usage.repair_rounds == 0


async def test_max_tokens_cut_from_the_emulator(client: AsyncClient, seed_model: str) -> None:
    """A real max_tokens cut (the emulator's own) takes the same path."""
    with pytest.raises(LengthFinishReasonError) as info:
        await parse(client, seed_model, [dv.user("Read")], response_format=Receipt, max_tokens=1)
    assert info.value.text


async def test_content_filter_raises_its_own_error(client: AsyncClient, emulator: Emulator) -> None:
    """finish_reason content_filter raises ContentFilterFinishReasonError carrying the reason."""
    emulator.script(Fault.answer("", finish_reason="content_filter"))
    with pytest.raises(ContentFilterFinishReasonError) as info:
        await parse(client, dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt)
    assert info.value.finish_reason == "content_filter"
    assert emulator.request_count == 1


# -- batches and streams --------------------------------------------------------------


async def test_batch_results_become_parsed_objects(
    client: AsyncClient, emulator: Emulator, seed_model: str
) -> None:
    """Prepared requests run through client.batch; parsed_from reads each completion."""
    emulator.script(Fault.answer(f"```json\n{GOOD_TEXT}\n```"), Fault.answer("{}"))
    requests = [
        prepare_request(dv.MODEL_VISION_PRO, [dv.user(f"receipt {i}")], response_format=Receipt)
        for i in range(2)
    ] + [prepare_request(seed_model, [dv.user("receipt 2")], response_format=Receipt)]
    results = await client.batch(requests, concurrency=1)
    first = parsed_from(results[0].unwrap(), Receipt)
    assert first == EXPECTED
    with pytest.raises(OutputValidationError, match="merchant"):
        parsed_from(results[1].unwrap(), Receipt)
    assert isinstance(parsed_from(results[2].unwrap(), Receipt), Receipt)


async def test_stream_yields_growing_partials_then_the_object(
    client: AsyncClient, emulator: Emulator
) -> None:
    """partial_objects yields dicts that only grow, ending in the whole object; final_parsed types it."""
    pretty = orjson.dumps(GOOD, option=orjson.OPT_INDENT_2).decode()  # many stream pieces
    emulator.script(Fault.answer(f"<think>checking the total</think>\n```json\n{pretty}\n```"))
    request = prepare_request(dv.MODEL_VISION_PRO, [dv.user("Read")], response_format=Receipt)
    async with client.stream_request(request) as stream:
        partials = [partial async for partial in partial_objects(stream)]
        parsed = await final_parsed(stream, Receipt)
    assert parsed == EXPECTED
    assert len(partials) > 2
    assert partials[-1] == GOOD
    assert all(_grows(new, old) for old, new in itertools.pairwise(partials))
    assert _bodies(emulator)[0]["response_format"] == {"type": "json_object"}


async def test_stream_of_a_cut_answer(client: AsyncClient, emulator: Emulator) -> None:
    """A streamed answer cut by length yields its partials, then final_parsed raises LengthFinishReasonError."""
    pretty = orjson.dumps(GOOD, option=orjson.OPT_INDENT_2).decode()
    emulator.script(Fault.answer(pretty[:90], finish_reason="length"))
    async with client.stream(dv.MODEL_VISION_PRO, [dv.user("Read")]) as stream:
        partials = [partial async for partial in partial_objects(stream)]
        with pytest.raises(LengthFinishReasonError):
            await final_parsed(stream, Receipt)
    assert partials and partials[-1]["merchant"] == GOOD["merchant"]


def test_grows_never_shrinks() -> None:
    """_grows accepts growth and rejects a lost key, a shorter list or a rewritten string."""
    assert _grows({"a": "ab", "b": [1, 2]}, {"a": "a", "b": [1]})
    assert _grows({"a": 1.5}, {"a": 1})
    assert not _grows({}, {"a": 1})
    assert not _grows({"b": [1]}, {"b": [1, 2]})
    assert not _grows({"a": "xb"}, {"a": "ab"})


async def test_partial_objects_without_jiter_names_the_extra(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without jiter, partial_objects raises ImportError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "jiter", None)
    stream = client.stream(dv.MODEL_VISION_PRO, [dv.user("Read")])
    with pytest.raises(ImportError, match=r"doubao-vision\[structured\]"):
        async for _ in partial_objects(stream):
            pass
    await stream.aclose()


class _Pieces:
    """A stand-in for AsyncStream that yields given text pieces (partial_objects reads only these)."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    async def text_deltas(self) -> AsyncIterator[str]:
        for piece in self.pieces:
            yield piece


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(-1e6, 1e6, allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    document=st.dictionaries(st.text(max_size=5), _JSON_VALUES, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
    indent=st.booleans(),
    wrapper=st.sampled_from(["{}", "<think>hm {x}</think>\n```json\n{}\n```", "Here: {} ok"]),
)
async def test_any_chunking_gives_growing_partials_ending_in_the_object(
    document: dict[str, Any], cuts: list[int], indent: bool, wrapper: str
) -> None:
    """However the answer is cut into pieces, the partials only grow and the last is the object."""
    option = orjson.OPT_INDENT_2 if indent else 0
    text = wrapper.replace("{}", orjson.dumps(document, option=option).decode(), 1)
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    partials = [p async for p in partial_objects(_Pieces(pieces))]  # type: ignore[arg-type]
    assert partials[-1] == document
    assert all(_grows(new, old) for old, new in itertools.pairwise(partials))
