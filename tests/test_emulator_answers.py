"""The emulator's answers: deterministic text, JSON, reasoning, tool calls, usage."""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import jsonschema
import orjson
import pytest

from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault
from doubao_vision.emulator._request import parse_chat

from ._emulator_support import (  # noqa: F401 -- fixtures
    GOOD,
    MODEL,
    chat,
    chunks_of,
    content_of,
    data_url,
    gif,
    image,
    jpeg,
    line_for,
    no_server_errors_fixture,
    png_sized,
    post,
    server_fixture,
    session_fixture,
    sha12,
    text,
)

# -- answers ---------------------------------------------------------------------------


async def test_answer_for_one_image(server: Emulator, session: aiohttp.ClientSession) -> None:
    """One image: the prompt line, then format, size, byte count and sha256 prefix."""
    pic = make_png(64, 48, seed=9)
    status, body, _ = await post(
        session, server.base_url, chat("What is", "this?", image(data_url(pic)))
    )
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert body["service_tier"] == "default"
    choice = body["choices"][0]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant",
        "content": "prompt: What is this?\n" + line_for(1, pic, "png", 64, 48),
    }
    assert isinstance(body["created"], int)


async def test_answer_for_three_images(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Three images of three formats are reported in order with their own facts."""
    a, b, c = make_png(100, 50, seed=1), gif(33, 44), jpeg(1024, 768)
    body = chat(
        image(data_url(a)), "between", image(data_url(b, "gif")), image(data_url(c, "jpeg"))
    )
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 200
    assert answer["choices"][0]["message"]["content"].split("\n") == [
        "prompt: between",
        line_for(1, a, "png", 100, 50),
        line_for(2, b, "gif", 33, 44),
        line_for(3, c, "jpeg", 1024, 768),
    ]


async def test_answer_for_url_images_and_video(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """http(s) images are named by URL (never fetched); video parts report their fps."""
    video = {"type": "video_url", "video_url": {"url": "https://v.example/a.mp4", "fps": 2}}
    body = chat(image("https://img.example/a.png"), image("http://img.example/b.jpg"), video)
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == (
        "image 1: url https://img.example/a.png\n"
        "image 2: url http://img.example/b.jpg\n"
        "video 1: fps=2"
    )
    assert answer["usage"]["prompt_tokens"] == 2 * 85


async def test_answer_uses_last_user_message(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Only the last user message is described; a message string content is its prompt."""
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [text("old"), image(data_url(GOOD))]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "new question"},
        ],
    }
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == "prompt: new question"


async def test_no_content(server: Emulator, session: aiohttp.ClientSession) -> None:
    """A user message without text or images is answered 'no content'."""
    status, answer, _ = await post(session, server.base_url, chat())
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == "no content"


# The json_object document's shape, as a schema: json_schema answers fill it from the
# same facts, so both modes give the same object.
IMAGES_SCHEMA = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string"},
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "format": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "bytes": {"type": "integer"},
                    "sha256": {"type": "string"},
                },
            },
        },
    },
    "required": ["prompt", "images"],
}


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "images", "schema": IMAGES_SCHEMA}},
    ],
)
async def test_json_mode_answer(
    server: Emulator, session: aiohttp.ClientSession, response_format: dict[str, Any]
) -> None:
    """response_format json_object/json_schema answers a JSON object of prompt and images."""
    pic = make_png(30, 20, seed=4)
    body = chat("describe", image(data_url(pic)), response_format=response_format)
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 200
    assert orjson.loads(answer["choices"][0]["message"]["content"]) == {
        "prompt": "describe",
        "images": [
            {"format": "png", "width": 30, "height": 20, "bytes": len(pic), "sha256": sha12(pic)}
        ],
    }


async def test_thinking_gives_reasoning(server: Emulator, session: aiohttp.ClientSession) -> None:
    """thinking enabled adds reasoning_content and counts its words as reasoning tokens."""
    body = chat("x", image(data_url(GOOD)), image(data_url(GOOD)), thinking={"type": "enabled"})
    _, answer, _ = await post(session, server.base_url, body)
    message = answer["choices"][0]["message"]
    assert message["reasoning_content"] == "Looking at 2 image(s)."
    usage = answer["usage"]
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 4}
    assert usage["completion_tokens"] == len(message["content"].split()) + 4
    _status, answer, _ = await post(
        session, server.base_url, {**body, "thinking": {"type": "disabled"}}
    )
    assert "reasoning_content" not in answer["choices"][0]["message"]


async def test_tools_give_tool_call(server: Emulator, session: aiohttp.ClientSession) -> None:
    """With tools (tool_choice not none) the answer is a tool call of the first tool."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "count_images",
                "parameters": {
                    "type": "object",
                    "properties": {"images": {"type": "integer"}},
                    "required": ["images"],
                },
            },
        },
        {"type": "function", "function": {"name": "other"}},
    ]
    body = chat("x", image(data_url(GOOD)), tools=tools)
    _status, answer, _ = await post(session, server.base_url, body)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"]["name"] == "count_images"
    assert orjson.loads(call["function"]["arguments"]) == {"images": 1}
    _, answer, _ = await post(session, server.base_url, {**body, "tool_choice": "none"})
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in answer["choices"][0]["message"]


async def test_usage_arithmetic(server: Emulator, session: aiohttp.ClientSession) -> None:
    """prompt = ceil(chars/4) + per image min(ceil(w*h/784), 5120 high | 1312 else)."""
    big, small = png_sized(2000, 2000), make_png(100, 50, seed=2)
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You see."},  # 8 chars
            {
                "role": "user",
                "content": [
                    text("Compare these."),  # 14 chars
                    image(data_url(big), detail="high"),
                    image(data_url(big), detail="low"),
                    image(data_url(big)),
                    image(data_url(small), detail="high"),
                ],
            },
        ],
    }
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 200
    per_big = math.ceil(2000 * 2000 / 784)
    expected_prompt = math.ceil(22 / 4) + min(per_big, 5120) + 1312 + 1312 + math.ceil(5000 / 784)
    content = answer["choices"][0]["message"]["content"]
    usage = answer["usage"]
    assert usage["prompt_tokens"] == expected_prompt
    assert usage["completion_tokens"] == len(content.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_length_cut(server: Emulator, session: aiohttp.ClientSession, field: str) -> None:
    """A token limit below the answer's length cuts it to that many tokens, finish 'length'."""
    body = chat("one two three four five", **{field: 3})
    _, answer, _ = await post(session, server.base_url, body)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "prompt: one two"
    assert answer["usage"]["completion_tokens"] == 3
    _, answer, _ = await post(session, server.base_url, chat("one", **{field: 100}))
    assert answer["choices"][0]["finish_reason"] == "stop"


async def test_stop_cuts_at_first_stop_string(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """stop cuts the answer before the earliest stop string found; finish_reason stays stop."""
    body = chat("one two three", stop=["three", "two", "zzz"])
    _, answer, _ = await post(session, server.base_url, body)
    assert answer["choices"][0]["message"]["content"] == "prompt: one "
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 2
    _, answer, _ = await post(session, server.base_url, chat("one", stop="zzz"))
    assert answer["choices"][0]["message"]["content"] == "prompt: one"


@pytest.mark.parametrize("how", ["script", "header"])
@pytest.mark.parametrize("stream", [False, True])
async def test_scripted_answer(
    server: Emulator, session: aiohttp.ClientSession, how: str, stream: bool
) -> None:
    """Fault.answer makes the next answer exactly its text and finish_reason, streamed too."""
    text_ = '{"width": "wide",\n  "oops" '
    fault = Fault.answer(text_, finish_reason="length")
    tools = [{"type": "function", "function": {"name": "f"}}]
    body = chat("x", image(data_url(GOOD)), stream=stream, tools=tools)
    headers = {"X-Emulator-Fault": fault.to_header()} if how == "header" else {}
    if how == "script":
        server.script(fault)
    _, answer, _ = await post(session, server.base_url, body, **headers)
    if stream:
        chunks = chunks_of(answer)
        assert content_of(chunks) == text_
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    else:
        choice = answer["choices"][0]
        assert choice["message"] == {"role": "assistant", "content": text_}
        assert choice["finish_reason"] == "length"
        assert answer["usage"]["completion_tokens"] == 3
    assert server.requests[-1].fault == "answer"
    _, normal, _ = await post(session, server.base_url, {**body, "stream": False})
    assert normal["choices"][0]["finish_reason"] == "tool_calls"  # only the next one


def tool_conversation(result: str, **extra: Any) -> dict[str, Any]:
    tools = [{"type": "function", "function": {"name": "look"}}]
    call = {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
    return {
        "model": MODEL,
        "tools": tools,
        "messages": [
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": result},
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("choice", "calls"),
    [(None, False), ("auto", False), ("none", False), ("required", True),
     ({"type": "function", "function": {"name": "look"}}, True)],
)  # fmt: skip
async def test_after_tool_result(
    server: Emulator, session: aiohttp.ClientSession, choice: Any, calls: bool
) -> None:
    """After a tool result the answer is text (the loop ends) unless a call is forced."""
    extra = {} if choice is None else {"tool_choice": choice}
    _, answer, _ = await post(session, server.base_url, tool_conversation("42 cats", **extra))
    message = answer["choices"][0]["message"]
    if calls:
        assert answer["choices"][0]["finish_reason"] == "tool_calls"
        assert message["tool_calls"][0]["function"]["name"] == "look"
    else:
        assert answer["choices"][0]["finish_reason"] == "stop"
        assert message == {"role": "assistant", "content": "tool result: 42 cats"}


async def test_json_schema_answer_from_facts(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """A json_schema answer validates and takes the image's facts by field name."""
    schema = {
        "type": "object",
        "properties": {
            "format": {"type": "string", "enum": ["jpeg", "png", "gif"]},
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "caption": {"type": "string"},
            "objects": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        },
        "required": ["format", "width", "height", "caption", "objects"],
        "additionalProperties": False,
    }
    pic = gif(300, 200)
    fmt = {"type": "json_schema", "json_schema": {"name": "facts", "schema": schema}}
    body = chat("what", image(data_url(pic, "gif")), response_format=fmt)
    _, answer, _ = await post(session, server.base_url, body)
    value = orjson.loads(answer["choices"][0]["message"]["content"])
    jsonschema.validate(value, schema)
    assert (value["format"], value["width"], value["height"]) == ("gif", 300, 200)
    assert value["caption"] == "prompt: what\n" + line_for(1, pic, "gif", 300, 200)


async def test_ui_tars_answers_in_its_grammar(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """A ui-tars model answers Thought/Action text, unless JSON mode or a tool call is asked."""
    body = {**chat("open the menu", image(data_url(GOOD))), "model": "doubao-1-5-ui-tars-250428"}
    _, answer, _ = await post(session, server.base_url, body)
    content = answer["choices"][0]["message"]["content"]
    assert content.startswith("Thought:")
    assert "\nAction: " in content
    _, answer, _ = await post(
        session, server.base_url, {**body, "response_format": {"type": "json_object"}}
    )
    assert orjson.loads(answer["choices"][0]["message"]["content"])["prompt"] == "open the menu"
    tools = [{"type": "function", "function": {"name": "f"}}]
    _, answer, _ = await post(session, server.base_url, {**body, "tools": tools})
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


def test_conversation_counts() -> None:
    """ChatRequest counts assistant turns and the images across every message."""
    picture = image(data_url(GOOD))
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "act"},
            {"role": "user", "content": [text("a"), picture, picture]},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": [picture]},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [text("b"), picture]},
        ],
    }
    request = parse_chat(body, {})
    assert (request.turns, request.image_count_total, len(request.images)) == (2, 4, 1)
    assert request.prompt == "b"
