"""The emulator driven by the openai SDK: its answers pass the SDK's own parsing.

Chat, streams, tools (and the agent loop ending after a tool result), structured
output through ``.parse(response_format=PydanticModel)``, and Ark's refusals as the
SDK's typed errors.
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import jsonschema
import openai
import pydantic
import pytest

from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault

from ._emulator_support import (
    KEY,
    MODEL,
    data_url,
    line_for,
    no_server_errors_fixture,  # noqa: F401 -- fixtures
    sha12,
)

PIC = make_png(48, 36, seed=7)


def ask(prompt: str = "Describe the picture", *images: bytes) -> Any:
    """A user message list (typed Any: the SDK's TypedDicts add nothing here)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    content += [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in images]
    return [{"role": "user", "content": content}]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator(api_key=KEY)
    async with emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(api_key=KEY, base_url=emu.base_url, max_retries=0) as client:
        yield client


# -- chat and stream ---------------------------------------------------------------------


async def test_chat_parses(client: openai.AsyncOpenAI) -> None:
    """A plain chat answer parses into ChatCompletion with the image described."""
    completion = await client.chat.completions.create(model=MODEL, messages=ask("hi", PIC))
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "prompt: hi\n" + line_for(1, PIC, "png", 48, 36)
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_stream_parses(client: openai.AsyncOpenAI) -> None:
    """A stream parses chunk by chunk: the role alone first, the content, then the usage."""
    plain = await client.chat.completions.create(model=MODEL, messages=ask("hi", PIC))
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=ask("hi", PIC),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices == []
    assert chunks[-1].usage == plain.usage
    assert [c.choices[0].finish_reason for c in chunks[-2:-1]] == ["stop"]


async def test_stream_helper_accumulates(client: openai.AsyncOpenAI) -> None:
    """The SDK's own stream helper accumulates the emulator's chunks into one completion."""
    async with client.chat.completions.stream(model=MODEL, messages=ask("hi", PIC)) as stream:
        async for _event in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "prompt: hi\n" + line_for(1, PIC, "png", 48, 36)


async def test_stop_cuts_the_answer(client: openai.AsyncOpenAI) -> None:
    """stop cuts the answer before the first stop string, finish_reason stop, streamed too."""
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=ask("hi", PIC),
        stop=["\n", "never"],
    )
    assert completion.choices[0].message.content == "prompt: hi"
    assert completion.choices[0].finish_reason == "stop"
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=ask("hi", PIC),
        stop="x",
        stream=True,
    )
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == "prompt: hi\nimage 1: png 48"


# -- tools ---------------------------------------------------------------------------------

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "width": {"type": "integer"},
        "spots": {
            "type": "array",
            "minItems": 2,
            "items": {"$ref": "#/$defs/spot"},
        },
    },
    "required": ["city", "unit", "days", "spots"],
    "additionalProperties": False,
    "$defs": {
        "spot": {
            "type": "object",
            "properties": {"x": {"type": "number", "exclusiveMinimum": 0}, "label": {}},
            "required": ["x", "label"],
        }
    },
}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
]


async def test_tool_arguments_validate_and_loop_ends(client: openai.AsyncOpenAI) -> None:
    """Tool arguments validate against the schema; after the tool result the answer is text."""
    messages: list[Any] = ask("weather?", PIC)
    first = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER)
    assert arguments["width"] == 48  # filled from the image's facts
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    second = await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content == "tool result: sunny, 21 C"
    forced = await client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, tool_choice="required"
    )
    assert forced.choices[0].finish_reason == "tool_calls"


async def test_streamed_tool_call_parses(client: openai.AsyncOpenAI) -> None:
    """A streamed tool call accumulates (openai's stream helper) into valid arguments."""
    async with client.chat.completions.stream(
        model=MODEL,
        messages=ask("weather?"),
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "weather"}},
    ) as stream:
        final = await stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)


class Lookup(pydantic.BaseModel):
    """Look a thing up."""

    query: str
    limit: int = pydantic.Field(ge=1, le=10)


async def test_pydantic_function_tool_parses(client: openai.AsyncOpenAI) -> None:
    """openai.pydantic_function_tool (strict) arguments parse into the model."""
    completion = await client.chat.completions.parse(
        model=MODEL,
        messages=ask("find it"),
        tools=[openai.pydantic_function_tool(Lookup)],
    )
    [call] = completion.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, Lookup)
    assert 1 <= call.function.parsed_arguments.limit <= 10


# -- structured output -----------------------------------------------------------------------


class Format(enum.Enum):
    PNG = "png"
    JPEG = "jpeg"


class ImageFacts(pydantic.BaseModel):
    format: Format
    width: int
    height: int = pydantic.Field(gt=0)
    sha256: str


class Box(pydantic.BaseModel):
    left: float = pydantic.Field(ge=0, le=1)
    top: float = pydantic.Field(ge=0, le=1)


class Report(pydantic.BaseModel):
    prompt: str
    image_count: int
    images: list[ImageFacts]
    first: ImageFacts  # the same model twice: a $defs entry and $refs
    boxes: list[Box] = pydantic.Field(min_length=2, max_length=3)
    mood: Literal["calm", "busy"]
    note: str | None
    tags: list[str]
    scores: dict[str, float]


@pytest.mark.parametrize("beta", [False, True])
async def test_parse_pydantic_model(client: openai.AsyncOpenAI, beta: bool) -> None:
    """.parse(response_format=Model) validates, with fields filled from the images' facts."""
    other = make_png(20, 30, seed=8)
    completions = client.beta.chat.completions if beta else client.chat.completions
    completion = await completions.parse(
        model=MODEL,
        messages=ask("report", PIC, other),
        response_format=Report,
    )
    report = completion.choices[0].message.parsed
    assert isinstance(report, Report)
    assert report.prompt == "report"
    assert report.image_count == 2
    assert [(i.width, i.height, i.format) for i in report.images] == [
        (48, 36, Format.PNG),
        (20, 30, Format.PNG),
    ]
    assert report.images[1].sha256 == sha12(other)
    assert report.first.width == 48
    assert 2 <= len(report.boxes) <= 3


async def test_parse_streamed(client: openai.AsyncOpenAI) -> None:
    """A streamed structured answer parses too (openai's .stream(response_format=...))."""
    async with client.chat.completions.stream(
        model=MODEL,
        messages=ask("facts", PIC),
        response_format=ImageFacts,
    ) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.parsed == ImageFacts(
        format=Format.PNG, width=48, height=36, sha256=sha12(PIC)
    )


async def test_json_object_is_an_object(client: openai.AsyncOpenAI) -> None:
    """response_format json_object answers a JSON object."""
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=ask("json", PIC),
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


async def test_scripted_bad_answers_fail_parsing(emu: Emulator, client: openai.AsyncOpenAI) -> None:
    """Fault.answer scripts what the model says: invalid JSON, or a length cut."""
    emu.script(Fault.answer('{"format": "png"'), Fault.answer("{}", finish_reason="length"))
    with pytest.raises(pydantic.ValidationError):
        await client.chat.completions.parse(
            model=MODEL,
            messages=ask("facts", PIC),
            response_format=ImageFacts,
        )
    with pytest.raises(openai.LengthFinishReasonError):
        await client.chat.completions.parse(
            model=MODEL,
            messages=ask("facts", PIC),
            response_format=ImageFacts,
        )


# -- refusals ------------------------------------------------------------------------------


async def test_unknown_model_is_not_found(client: openai.AsyncOpenAI) -> None:
    """An unknown model is openai.NotFoundError with Ark's InvalidEndpointOrModel.NotFound."""
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=ask())
    assert caught.value.code == "InvalidEndpointOrModel.NotFound"


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 5), ("top_p", 7), ("n", 2), ("presence_penalty", -3)]
)
async def test_out_of_range_is_bad_request(
    client: openai.AsyncOpenAI, field: str, value: int
) -> None:
    """An out-of-range parameter (and n > 1) is openai.BadRequestError naming the field."""
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=MODEL,
            messages=ask(),
            extra_body={field: value},
        )
    assert caught.value.code == "InvalidParameter"
    assert caught.value.param == field
