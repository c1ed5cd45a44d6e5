"""Structured output through the client's own methods: parse, ask, stream and batch."""

from __future__ import annotations

import orjson
import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision.emulator import Emulator, Fault

from .test_schema import LineItem, Receipt
from .test_structured import GOOD_TEXT

SEED = "doubao-seed-1-6-vision-250815"


def test_model_facts_send_json_schema_to_the_seed_models_only() -> None:
    """The seed-1.6 vision models take json_schema (Ark's model list); the 1.5 vision ones do not."""
    assert dv._facts.model_info(SEED).json_schema
    assert not dv._facts.model_info(dv.MODEL_VISION_PRO).json_schema
    assert not dv._facts.model_info(dv.MODEL_VISION_LITE).json_schema


async def test_client_parse_returns_a_typed_parsed_completion(
    client: AsyncClient, emulator: Emulator, png: bytes
) -> None:
    """client.parse() over a json_schema model gives a Receipt read from a schema-following answer."""
    result = await client.parse(SEED, [dv.user("Read this receipt", png)], response_format=Receipt)
    assert isinstance(result, dv.ParsedCompletion)
    assert isinstance(result.parsed, Receipt) and result.repairs == 0
    assert all(isinstance(item, LineItem) for item in result.parsed.items)
    assert emulator.requests[-1].body["response_format"]["type"] == "json_schema"


async def test_ask_with_a_class_returns_the_instance(
    client: AsyncClient, emulator: Emulator, png: bytes
) -> None:
    """ask(prompt, image, response_format=Receipt) returns the Receipt itself (json_object for vision-pro)."""
    emulator.script(Fault.answer(f"<think>adding up</think>```json\n{GOOD_TEXT}\n```"))
    receipt = await client.ask("Read this receipt", png, response_format=Receipt)
    assert isinstance(receipt, Receipt) and receipt.total == 16.0
    body = emulator.requests[-1].body
    assert body["response_format"] == {"type": "json_object"}
    assert "JSON Schema" in body["messages"][0]["content"]  # the schema rides in the system message


async def test_ask_with_a_mapping_response_format_still_returns_text(
    client: AsyncClient, emulator: Emulator
) -> None:
    """ask(..., response_format={"type": "json_object"}) sends it and returns the text, as before."""
    emulator.script(Fault.answer('{"a": 1}'))
    text = await client.ask("json please", response_format={"type": "json_object"})
    assert orjson.loads(text) == {"a": 1}


async def test_client_stream_with_a_class_gives_partials_and_the_object(
    client: AsyncClient, emulator: Emulator
) -> None:
    """client.stream(..., response_format=Receipt): partial_objects() grows, final_parsed() is typed."""
    pretty = orjson.dumps(orjson.loads(GOOD_TEXT), option=orjson.OPT_INDENT_2).decode()
    emulator.script(Fault.answer(pretty))
    async with client.stream(
        dv.MODEL_VISION_PRO,
        [dv.user("Read")],
        response_format=Receipt,
        extra_headers={"X-Emulator-Chunks": "40"},
    ) as stream:
        assert isinstance(stream, dv.StructuredStream)
        partials = [partial async for partial in stream.partial_objects()]
        receipt = await stream.final_parsed()
    assert len(partials) > 3 and partials[-1]["merchant"] == "全家 FamilyMart"
    assert isinstance(receipt, Receipt)


async def test_batch_with_a_class_fills_parsed_and_types_misfits(
    client: AsyncClient, emulator: Emulator
) -> None:
    """batch(response_format=Receipt): each result's .parsed is a Receipt; a misfit is an OutputValidationError."""
    emulator.script(Fault.answer(GOOD_TEXT), Fault.answer('{"merchant": 3}'))
    requests = [
        dv.ChatRequest(model=dv.MODEL_VISION_PRO, messages=[dv.user(f"r{i}")]) for i in range(2)
    ]
    results = await client.batch(requests, concurrency=1, response_format=Receipt)
    assert isinstance(results[0].parsed, Receipt)
    assert isinstance(results[1].error, dv.OutputValidationError)
    assert results[1].completion is not None and results[1].parsed is None
    mapping = {
        "model": dv.MODEL_VISION_PRO,
        "messages": [{"role": "user", "content": "r"}],
        "response_format": Receipt,
    }
    emulator.script(Fault.answer(GOOD_TEXT))
    (only,) = await client.batch([mapping])
    assert isinstance(only.parsed, Receipt)


async def test_parse_refuses_unknown_keywords(client: AsyncClient, emulator: Emulator) -> None:
    """parse() names an unknown keyword before sending, like chat()."""
    with pytest.raises(dv.InvalidRequestError, match="stream"):
        await client.parse(SEED, [dv.user("x")], response_format=Receipt, stream=True)  # type: ignore[call-overload]
    assert not emulator.requests
