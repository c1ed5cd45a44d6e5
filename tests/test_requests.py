"""Bad input is refused with a typed error before anything is sent; good fields go out right."""

from __future__ import annotations

from typing import Any

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient, ImagePixelLimit, InvalidRequestError
from doubao_vision.emulator import Emulator

GOOD_USER = [{"role": "user", "content": "hi"}]


def _img(url: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url, **extra}}]}
    ]


@pytest.mark.parametrize(
    ("messages", "params", "fragment"),
    [
        ([], {}, "must not be empty"),
        ("hello", {}, "list of messages"),
        ([{"role": "robot", "content": "x"}], {}, "role must be one of"),
        ([{"role": "user"}], {}, "messages[0].content"),
        ([{"role": "user", "content": [{"type": "audio", "x": 1}]}], {}, "type must be one of"),
        ([{"role": "user", "content": [{"type": "text", "text": "a", "bogus": 1}]}], {}, "bogus"),
        (_img("https://e.x/a.png", detail="ultra"), {}, "image_url.detail"),
        (_img("ftp://e.x/a.png"), {}, "http(s) URL or a data:image"),
        (_img("data:image/png;base64,!!!"), {}, "base64"),
        (_img("data:image/jpeg;base64,iVBORw0KGgo="), {}, ""),
        (_img("https://e.x/a.png", image_pixel_limit={"min_pixels": 100}), {}, "3136"),
        (_img("https://e.x/a.png", image_pixel_limit={"max_pixels": 5_000_000}), {}, "4014080"),
        (
            _img("https://e.x/a.png", image_pixel_limit={"min_pixels": 9000, "max_pixels": 4000}),
            {},
            "min_pixels",
        ),
        (GOOD_USER, {"max_tokens": 10, "max_completion_tokens": 10}, "cannot be combined"),
        (GOOD_USER, {"temperature": 3}, "temperature"),
        (GOOD_USER, {"top_p": -0.1}, "top_p"),
        (GOOD_USER, {"max_tokens": 0}, "max_tokens"),
        (GOOD_USER, {"max_completion_tokens": 70000}, "max_completion_tokens"),
        (GOOD_USER, {"thinking": {"type": "maybe"}}, "thinking"),
        (GOOD_USER, {"response_format": {"type": "xml"}}, "response_format"),
        (GOOD_USER, {"response_format": {"type": "json_schema", "json_schema": {}}}, "json_schema"),
        (GOOD_USER, {"tools": [{"type": "function", "function": {}}]}, "tools[0]"),
        (GOOD_USER, {"tool_choice": "sometimes"}, "tool_choice"),
        (GOOD_USER, {"service_tier": "scale"}, "service_tier"),
        (GOOD_USER, {"top_logprobs": 5}, "logprobs"),
        (GOOD_USER, {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        (GOOD_USER, {"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ],
)
async def test_bad_input_is_refused_before_sending(
    client: AsyncClient, emulator: Emulator, messages: Any, params: dict[str, Any], fragment: str
) -> None:
    """Each malformed request raises InvalidRequestError naming the problem; zero requests reach the server."""
    with pytest.raises(InvalidRequestError) as info:
        await client.chat("doubao-1-5-vision-pro-250328", messages, **params)
    assert fragment in str(info.value)
    with pytest.raises(InvalidRequestError):
        client.stream("doubao-1-5-vision-pro-250328", messages, **params)
    assert emulator.request_count == 0


async def test_empty_model_is_refused(client: AsyncClient, emulator: Emulator) -> None:
    """An empty model name is an InvalidRequestError, not a server round trip."""
    with pytest.raises(InvalidRequestError, match="model"):
        await client.chat("", GOOD_USER)
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda tmp: tmp / "missing.png", dv.ImageNotFoundError),
        (lambda tmp: tmp, dv.ImageNotFoundError),
        (lambda tmp: b"GIF00 not really", dv.UnsupportedImageFormatError),
    ],
)
async def test_bad_images_are_refused_before_sending(
    client: AsyncClient, emulator: Emulator, tmp_path: Any, make: Any, error: Any
) -> None:
    """Missing files, directories and unknown bytes raise their ImageError subclass, nothing sent."""
    value = make(tmp_path)
    with pytest.raises(error) as info:
        await client.ask("x", value)
    assert isinstance(info.value, ValueError)
    assert emulator.request_count == 0


async def test_oversized_and_tiny_images_are_refused(
    client: AsyncClient, emulator: Emulator
) -> None:
    """A > 10 MiB image and a 14 px side raise typed errors naming the limit; nothing sent."""
    from doubao_vision._samples import make_png, make_png_of_size

    with pytest.raises(dv.ImageTooLargeError, match="10"):
        await client.ask("x", make_png_of_size(11 * 1024 * 1024))
    with pytest.raises(dv.ImageDimensionsError, match="14"):
        await client.ask("x", make_png(14, 100))
    assert emulator.request_count == 0


async def test_every_request_field_is_sent(
    client: AsyncClient, emulator: Emulator, png: bytes
) -> None:
    """Every supported field reaches the wire with its API name; None fields are omitted."""
    tools = [{"type": "function", "function": {"name": "zoom", "parameters": {"type": "object"}}}]
    await client.chat(
        dv.MODEL_VISION_PRO,
        [dv.user("x", png, detail="high", image_pixel_limit=ImagePixelLimit(3136, 1_000_000))],
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=100,
        stop=["END"],
        response_format={"type": "json_object"},
        tools=tools,
        tool_choice="auto",
        parallel_tool_calls=False,
        thinking="disabled",
        service_tier="auto",
        logprobs=True,
        top_logprobs=2,
        seed=7,
        user="u-1",
        extra_body={"repetition_penalty": 1.1},
    )
    body = emulator.requests[-1].body
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
    assert body["stop"] == ["END"] and body["response_format"] == {"type": "json_object"}
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False and body["thinking"] == {"type": "disabled"}
    assert body["service_tier"] == "auto" and body["logprobs"] is True and body["top_logprobs"] == 2
    assert body["seed"] == 7 and body["user"] == "u-1" and body["repetition_penalty"] == 1.1
    assert "stream" not in body and "stream_options" not in body
    image_url = body["messages"][0]["content"][1]["image_url"]
    assert image_url["detail"] == "high"
    assert image_url["image_pixel_limit"] == {"min_pixels": 3136, "max_pixels": 1_000_000}


async def test_thinking_enabled_returns_reasoning(client: AsyncClient) -> None:
    """thinking enabled: reasoning_content and reasoning_tokens come back typed."""
    completion = await client.chat(
        dv.MODEL_VISION_PRO, [dv.user("x")], thinking={"type": "enabled"}
    )
    assert completion.reasoning.startswith("Looking at")
    assert completion.usage is not None and completion.usage.reasoning_tokens > 0


async def test_tool_calls_parse(client: AsyncClient) -> None:
    """A tool-call answer parses into ToolCall objects with finish_reason tool_calls."""
    tools = [{"type": "function", "function": {"name": "zoom"}}]
    completion = await client.chat(dv.MODEL_VISION_PRO, [dv.user("x")], tools=tools)
    call = completion.choices[0].message.tool_calls
    assert call and call[0].function.name == "zoom" and call[0].function.arguments
    assert completion.finish_reason == "tool_calls" and completion.text == ""


async def test_assistant_history_round_trips(client: AsyncClient, emulator: Emulator) -> None:
    """A returned message can be sent back as history; reasoning_content is not resent."""
    first = await client.chat(dv.MODEL_VISION_PRO, [dv.user("x")], thinking="enabled")
    history = [dv.user("x"), first.choices[0].message, dv.user("again")]
    await client.chat(dv.MODEL_VISION_PRO, history)
    sent = emulator.requests[-1].body["messages"][1]
    assert sent["role"] == "assistant" and "reasoning_content" not in sent


async def test_video_part_is_sent(client: AsyncClient, emulator: Emulator) -> None:
    """A VideoPart goes out as video_url with fps; fps outside [0.2, 5] is refused."""
    part = dv.VideoPart(dv.VideoURL("https://e.x/v.mp4", fps=2))
    await client.chat(dv.MODEL_VISION_PRO, [dv.UserMessage([part, dv.TextPart("what happens")])])
    assert emulator.requests[-1].body["messages"][0]["content"][0] == {
        "type": "video_url",
        "video_url": {"url": "https://e.x/v.mp4", "fps": 2},
    }
    with pytest.raises(InvalidRequestError, match="fps"):
        dv.VideoURL("https://e.x/v.mp4", fps=10)


def test_retired_model_warns_with_successor() -> None:
    """A model retired on 2025-08-28 warns DeprecationWarning naming its successor."""
    with pytest.warns(DeprecationWarning, match="doubao-1-5-ui-tars-250428"):
        dv.ChatRequest(model="doubao-1.5-ui-tars-250328", messages=GOOD_USER)


@pytest.mark.parametrize(
    ("text", "is_image"),
    [
        ("cat.png", True),
        ("shots/day 1.JPG", True),
        ("https://img.example/a", True),
        ("Describe this picture", False),
        ("two\nlines.png", False),
        ("notes.txt", False),
    ],
)
def test_user_tells_paths_from_prompts_by_text(text: str, is_image: bool) -> None:
    """user() treats URLs and image-looking paths as images and other text as prompts, without touching disk."""
    if is_image and not text.startswith("http"):
        with pytest.raises(dv.ImageNotFoundError, match=text.split("/")[-1]):
            dv.user(text)
    else:
        message = dv.user(text)
        assert isinstance(message.content, list)
        assert isinstance(message.content[0], dv.ImagePart if is_image else dv.TextPart)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("What is in cat.png", "ends in an image extension"),
        ("data:text/plain;base64,aGVsbG8=", "not an image"),
        ("tests/", "is a folder"),
        ("~", "is a folder"),
    ],
)
def test_user_refuses_strs_that_could_be_text_or_image(text: str, reason: str) -> None:
    """user() refuses to guess: a sentence naming a missing image, a non-image data URL, a folder."""
    with pytest.raises(InvalidRequestError, match=reason):
        dv.user(text)
    assert isinstance(dv.user(dv.TextPart(text)).content[0], dv.TextPart)  # type: ignore[index]
