"""The emulator refuses what Ark refuses, with Ark's codes and the field's path."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from doubao_vision.emulator import Emulator

from ._emulator_support import (  # noqa: F401 -- fixtures
    GOOD,
    MODEL,
    chat,
    data_url,
    image,
    jpeg,
    line_for,
    no_server_errors_fixture,
    png_sized,
    post,
    server_fixture,
    session_fixture,
)

# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "MissingParameter", "model"),
        ({"model": MODEL}, "MissingParameter", "messages"),
        ({"model": MODEL, "messages": []}, "MissingParameter", "messages"),
        (
            {**chat("x"), "max_tokens": 5, "max_completion_tokens": 5},
            "InvalidParameter",
            "max_completion_tokens",
        ),
        (
            chat("x", image(data_url(GOOD), detail="ultra")),
            "InvalidArgumentError.InvalidImageDetail",
            "messages[0].content[1].image_url.detail",
        ),
        (
            chat(image(data_url(GOOD), image_pixel_limit={"min_pixels": 10, "max_pixels": 5000})),
            "InvalidArgumentError.InvalidPixelLimit",
            "messages[0].content[0].image_url.image_pixel_limit",
        ),
        (
            chat(image(data_url(GOOD), image_pixel_limit={"min_pixels": 9000, "max_pixels": 5000})),
            "InvalidArgumentError.InvalidPixelLimit",
            "messages[0].content[0].image_url.image_pixel_limit",
        ),
        (
            chat(image(data_url(GOOD), image_pixel_limit={"max_pixels": 4014081})),
            "InvalidArgumentError.InvalidPixelLimit",
            "messages[0].content[0].image_url.image_pixel_limit",
        ),
        (chat("x", image("")), "InvalidImageURL.EmptyURL", "messages[0].content[1].image_url.url"),
        (
            chat(image(data_url(GOOD, "PNG"))),
            "InvalidImageURL.InvalidFormat",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image("data:image/png;base64,!!notbase64!!")),
            "InvalidImageURL.InvalidFormat",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image("data:image/png," + base64.b64encode(GOOD).decode())),
            "InvalidImageURL.InvalidFormat",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image(data_url(b"this is not an image at all"))),
            "InvalidImageURL.InvalidFormat",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image(data_url(GOOD, "jpeg"))),
            "InvalidImageURL.InvalidFormat",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image("ftp://example.com/a.png")),
            "InvalidImageURL.InvalidFormat",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image(data_url(png_sized(20, 20, padding=10 * 1024 * 1024)))),
            "InvalidParameter",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image(data_url(png_sized(14, 100)))),
            "InvalidParameter",
            "messages[0].content[0].image_url.url",
        ),
        (
            chat(image(data_url(png_sized(7000, 7000)))),
            "InvalidParameter",
            "messages[0].content[0].image_url.url",
        ),
        (chat({"type": "audio"}), "InvalidParameter", "messages[0].content[0].type"),
        (
            chat({"type": "video_url", "video_url": {"url": "https://v/a.mp4", "fps": 9}}),
            "InvalidParameter",
            "messages[0].content[0].video_url.fps",
        ),
    ],
    ids=[
        "no-model",
        "no-messages",
        "empty-messages",
        "both-max-tokens",
        "bad-detail",
        "pixel-min-too-small",
        "pixel-min-over-max",
        "pixel-max-too-big",
        "empty-url",
        "uppercase-format",
        "bad-base64",
        "not-base64-data-url",
        "not-an-image",
        "format-mismatch",
        "ftp-url",
        "over-10-MiB",
        "side-of-14-px",
        "over-36M-pixels",
        "unknown-part-type",
        "video-fps",
    ],
)
async def test_validation_errors(
    server: Emulator, session: aiohttp.ClientSession, body: Any, code: str, param: str
) -> None:
    """Each invalid request is a 400 in Ark's shape with its code and offending param."""
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 400, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["param"] == param
    assert answer["error"]["type"] == "BadRequest"


async def test_body_not_json(server: Emulator, session: aiohttp.ClientSession) -> None:
    """A body that is not JSON is a 400 InvalidParameter."""
    async with session.post(f"{server.base_url}/chat/completions", data=b"{nope") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "InvalidParameter"
    assert server.requests[-1].body is None


UNKNOWN_MODELS = [
    "unknown-v9",
    "gpt-4o",
    "doubao-1-5-vision-pro",  # no version date
    "doubao-1-5-vision-pro-250329",
    "doubao-seed-1-6-250615x",
    "ep-",
    "Doubao-1-5-vision-pro-250328",  # ids are case-sensitive
]
KNOWN_MODELS = [
    "doubao-1-5-vision-pro-250328",
    "doubao-1-5-vision-lite-250315",
    "doubao-1-5-ui-tars-250428",
    "doubao-1-5-vision-pro-32k-250115",
    "doubao-1-5-thinking-vision-pro-250428",
    # retired on 2025-08-28; Ark switched their endpoints to the successors
    "doubao-vision-pro-32k-241028",
    "doubao-vision-pro-32k-241215",
    "doubao-vision-lite-32k-241015",
    "doubao-1-5-ui-tars-250328",
    # dotted, as 302.AI spells them
    "doubao-1.5-vision-pro-250328",
    "doubao-1.5-vision-pro-32k-250115",
    "doubao-1.5-ui-tars-250328",
    # endpoints and preset endpoints
    "ep-20250101123456-abcde",
    "ep-m-20250101123456-x1y2z",
    # doubao-seed-1.6 and its variants
    "doubao-seed-1-6-250615",
    "doubao-seed-1-6-251015",
    "doubao-seed-1-6-flash-250715",
    "doubao-seed-1-6-thinking-250715",
    "doubao-seed-1-6-vision-250815",
    "doubao-seed-1.6-250615",
]


@pytest.mark.parametrize("model", UNKNOWN_MODELS)
async def test_unknown_model_is_404(
    server: Emulator, session: aiohttp.ClientSession, model: str
) -> None:
    """A model Ark would not find is 404 InvalidEndpointOrModel.NotFound, type NotFound."""
    status, body, _ = await post(session, server.base_url, {**chat("x"), "model": model})
    assert status == 404
    assert body["error"]["code"] == "InvalidEndpointOrModel.NotFound"
    assert body["error"]["type"] == "NotFound"
    assert body["error"]["param"] == "model"


@pytest.mark.parametrize("model", KNOWN_MODELS)
async def test_known_models_answer(
    server: Emulator, session: aiohttp.ClientSession, model: str
) -> None:
    """Doubao ids (retired, dotted, endpoint and seed-1.6 ones too) are answered as sent."""
    body = {**chat("x"), "model": model, "response_format": {"type": "json_object"}}
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 200, answer
    assert answer["model"] == model


async def test_extra_models_option(session: aiohttp.ClientSession) -> None:
    """Emulator(models=...) accepts more ids and lists them after the Doubao ones."""
    async with Emulator(models=["my-proxy-model"]) as base:
        status, _, _ = await post(session, base, {**chat("x"), "model": "my-proxy-model"})
        assert status == 200
        status, _, _ = await post(session, base, {**chat("x"), "model": "other-model"})
        assert status == 404
        async with session.get(f"{base}/models") as resp:
            ids = [m["id"] for m in (await resp.json())["data"]]
        assert ids[-1] == "my-proxy-model"
        assert len(ids) == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 5),
        ("temperature", -0.1),
        ("temperature", "hot"),
        ("top_p", 7),
        ("top_p", -1),
        ("frequency_penalty", 2.5),
        ("presence_penalty", -3),
        ("top_logprobs", 21),
        ("logprobs", "yes"),
        ("max_completion_tokens", 65537),
        ("n", 2),
        ("n", 0),
        ("n", True),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", 3),
        ("stop", [1]),
        ("tool_choice", "sometimes"),
        ("response_format", {"type": "json_schema"}),
        ("response_format", {"type": "json_schema", "json_schema": {"schema": []}}),
    ],
)
async def test_out_of_range_parameters(
    server: Emulator, session: aiohttp.ClientSession, field: str, value: Any
) -> None:
    """An out-of-range or ill-typed parameter is 400 InvalidParameter naming the field."""
    body = {**chat("x"), field: value}
    if field == "tool_choice":
        body["tools"] = [{"type": "function", "function": {"name": "f"}}]
    status, answer, _ = await post(session, server.base_url, body)
    assert status == 400
    assert answer["error"]["code"] == "InvalidParameter"
    assert answer["error"]["param"].split(".")[0] == field
    assert answer["error"]["type"] == "BadRequest"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 0),
        ("temperature", 2),
        ("top_p", 1),
        ("top_p", 0.0),
        ("frequency_penalty", -2),
        ("presence_penalty", 2),
        ("n", 1),
        ("stop", ["a", "b", "c", "d"]),
        ("stop", ""),
        ("max_completion_tokens", 65536),
    ],
)
async def test_in_range_parameters_accepted(
    server: Emulator, session: aiohttp.ClientSession, field: str, value: Any
) -> None:
    """Values at the ends of Ark's ranges are accepted."""
    status, answer, _ = await post(session, server.base_url, {**chat("x"), field: value})
    assert status == 200, answer


async def test_format_aliases_accepted(server: Emulator, session: aiohttp.ClientSession) -> None:
    """jpg is accepted for JPEG bytes (and reported as jpeg); png declared for png passes."""
    pic = jpeg(640, 480)
    status, body, _ = await post(session, server.base_url, chat(image(data_url(pic, "jpg"))))
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == line_for(1, pic, "jpeg", 640, 480)
