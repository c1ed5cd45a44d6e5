"""The emulator over real HTTP, with plain aiohttp: routes, auth, answers, streams, faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import math
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault, RecordedRequest, create_app

KEY = "sk-emulator-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "doubao-1-5-vision-pro-250328"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- helpers ---------------------------------------------------------------------------


def data_url(data: bytes, fmt: str = "png") -> str:
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode()}"


def sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def chat(*parts: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    content = [text(p) if isinstance(p, str) else p for p in parts]
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


def png_sized(width: int, height: int, padding: int = 0) -> bytes:
    """A small real PNG whose IHDR claims ``width`` x ``height`` (headers are all that is read)."""
    png = bytearray(make_png(20, 20, seed=3))
    png[16:24] = struct.pack(">II", width, height)
    return bytes(png) + b"\0" * padding


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 32


def jpeg(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    return b"\xff\xd8" + sof + b"\xff\xd9"


def line_for(index: int, data: bytes, fmt: str, width: int, height: int) -> str:
    return f"image {index}: {fmt} {width}x{height} {len(data)} bytes sha256:{sha12(data)}"


async def _until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll ``condition`` (a server-side counter) until it holds, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def events(raw: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [line[6:] for line in raw.splitlines() if line.startswith("data: ")]


def chunks_of(raw: str) -> list[dict[str, Any]]:
    return [orjson.loads(e) for e in events(raw) if e != "[DONE]"]


def content_of(chunks: list[dict[str, Any]], field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])


async def post(
    session: aiohttp.ClientSession, base: str, body: Any, **headers: str
) -> tuple[int, Any, aiohttp.ClientResponse]:
    data = orjson.dumps(body)
    payload: bytes | io.BytesIO = io.BytesIO(data) if len(data) > 512 * 1024 else data
    headers = {"Content-Type": "application/json", **headers}
    async with session.post(f"{base}/chat/completions", data=payload, headers=headers) as resp:
        raw = await resp.read()
        is_json = resp.content_type == "application/json"
        return resp.status, orjson.loads(raw) if is_json else raw.decode(), resp


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test whose server side logged an error (unhandled exceptions, lost tasks)."""
    yield
    records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records
    bad = [r for r in records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@pytest.fixture
async def server() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    async with emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        yield s


# -- routes and auth -------------------------------------------------------------------


async def test_models_list(server: Emulator, session: aiohttp.ClientSession) -> None:
    """GET /v1/models returns the OpenAI list shape with the four Doubao vision models."""
    async with session.get(f"{server.base_url}/models") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == [
        "doubao-1-5-vision-pro-250328",
        "doubao-1-5-vision-lite-250315",
        "doubao-1-5-ui-tars-250428",
        "doubao-1-5-vision-pro-32k-250115",
    ]
    assert all(m["object"] == "model" and m["owned_by"] == "bytedance" for m in body["data"])


async def test_base_url_and_request_ids(server: Emulator, session: aiohttp.ClientSession) -> None:
    """base_url ends in /v1; every response has x-request-id == request-id == completion id."""
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    status, body, resp = await post(session, server.base_url, chat("hi"))
    assert status == 200
    rid = resp.headers["x-request-id"]
    assert rid == resp.headers["request-id"] == body["id"]
    assert rid.startswith("021")
    assert len(rid) >= 40
    status, body, resp = await post(session, server.base_url, {"model": MODEL})
    assert status == 400
    assert resp.headers["x-request-id"] == resp.headers["request-id"]
    assert resp.headers["x-request-id"] in body["error"]["message"]


async def test_unknown_route_and_wrong_method(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Unknown paths get a JSON 404 and a wrong method a JSON 405, both recorded."""
    async with session.get(f"{server.base_url}/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["type"] == "NotFound"
    async with session.post(f"{server.base_url}/models") as resp:
        assert resp.status == 405
    assert [r.path for r in server.requests] == ["/v1/nope", "/v1/models"]
    assert server.request_count == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}, {"Authorization": KEY}],
)
async def test_auth_required_without_configured_key(headers: dict[str, str]) -> None:
    """With api_key=None a missing or malformed bearer key is 401 in Ark's shape."""
    async with Emulator() as base, aiohttp.ClientSession() as s:
        async with s.post(f"{base}/chat/completions", json=chat("x"), headers=headers) as resp:
            assert resp.status == 401
            body = await resp.json()
            rid = resp.headers["x-request-id"]
        async with s.get(f"{base}/models", headers=headers) as resp:
            assert resp.status == 401
    assert body == {
        "error": {
            "code": "AuthenticationError",
            "message": f"The API key format is incorrect. Request id: {rid}",
            "param": "",
            "type": "Unauthorized",
        }
    }


async def test_any_key_accepted_without_configured_key() -> None:
    """With api_key=None any non-empty bearer key is accepted."""
    async with Emulator() as base, aiohttp.ClientSession() as s:
        for key in ("a", "sk-whatever", "x" * 200):
            headers = {"Authorization": f"Bearer {key}"}
            async with s.get(f"{base}/models", headers=headers) as resp:
                assert resp.status == 200


async def test_configured_key_must_match_and_is_never_echoed() -> None:
    """With a key set only it passes; no response, header or body ever contains a key."""
    emulator = Emulator(api_key=KEY)
    assert emulator.api_key == KEY
    wrong = "sk-wrong-key-" + "9" * 20
    seen: list[str] = []
    async with emulator as base, aiohttp.ClientSession() as s:
        for key, want in ((wrong, 401), (KEY, 200)):
            headers = {"Authorization": f"Bearer {key}"}
            for method, path, body in (
                ("GET", "/models", None),
                ("POST", "/chat/completions", chat(key)),
                ("POST", "/chat/completions", {**chat(key), "stream": True}),
                ("POST", "/chat/completions", {"model": key}),
            ):
                async with s.request(method, base + path, json=body, headers=headers) as resp:
                    assert resp.status in (want, 400)
                    seen.append(str(resp.headers) + (await resp.text()))
    assert emulator.request_count == 6
    for key in (KEY, wrong):
        # The prompt echo is the one place a key could show up; only the right key's own
        # prompt may contain it, because the test put it there.
        leaked = [s for s in seen if key in s and "prompt: " not in s]
        assert not leaked


# -- validation ------------------------------------------------------------------------

GOOD = make_png(32, 24, seed=1)


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


async def test_unknown_model_is_404(server: Emulator, session: aiohttp.ClientSession) -> None:
    """A model named unknown* is 404 InvalidEndpointOrModel.NotFound, type NotFound."""
    status, body, _ = await post(session, server.base_url, {**chat("x"), "model": "unknown-v9"})
    assert status == 404
    assert body["error"]["code"] == "InvalidEndpointOrModel.NotFound"
    assert body["error"]["type"] == "NotFound"
    assert body["error"]["param"] == "model"


async def test_format_aliases_accepted(server: Emulator, session: aiohttp.ClientSession) -> None:
    """jpg is accepted for JPEG bytes (and reported as jpeg); png declared for png passes."""
    pic = jpeg(640, 480)
    status, body, _ = await post(session, server.base_url, chat(image(data_url(pic, "jpg"))))
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == line_for(1, pic, "jpeg", 640, 480)


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


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
async def test_json_mode_answer(
    server: Emulator, session: aiohttp.ClientSession, kind: str
) -> None:
    """response_format json_object/json_schema answers a JSON object of prompt and images."""
    pic = make_png(30, 20, seed=4)
    body = chat("describe", image(data_url(pic)), response_format={"type": kind})
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
        {"type": "function", "function": {"name": "count_images", "parameters": {}}},
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
    assert call["function"] == {"name": "count_images", "arguments": '{"images": 1}'}
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


# -- streaming -------------------------------------------------------------------------


async def test_stream_format(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Chunks in Ark's format: role first, a piece per word, finish, usage, then [DONE]."""
    pic = make_png(40, 30, seed=5)
    body = chat("Describe the picture", image(data_url(pic)))
    _, plain, _ = await post(session, server.base_url, body)
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    async with session.post(f"{server.base_url}/chat/completions", json=streamed) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        rid = resp.headers["x-request-id"]
        raw = await resp.text()
    payloads = events(raw)
    assert payloads[-1] == "[DONE]"
    assert raw.endswith("data: [DONE]\n\n")
    chunks = chunks_of(raw)
    assert {c["id"] for c in chunks} == {rid}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert len({c["created"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:] if c["choices"])
    content = plain["choices"][0]["message"]["content"]
    assert content_of(chunks) == content
    deltas = [c for c in chunks if c["choices"] and c["choices"][0]["delta"]]
    assert len(deltas) == len(content.split())
    finish, usage = chunks[-2], chunks[-1]
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert usage["choices"] == []
    assert usage["usage"] == plain["usage"]


async def test_stream_without_usage(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Without include_usage no usage chunk is sent and every chunk has usage null."""
    _, raw, _ = await post(session, server.base_url, chat("a b", stream=True))
    chunks = chunks_of(raw)
    assert all(c["usage"] is None and c["choices"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_stream_reasoning_then_content(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Reasoning deltas come first, then content deltas."""
    _, raw, _ = await post(
        session, server.base_url, chat("hi", stream=True, thinking={"type": "enabled"})
    )
    chunks = chunks_of(raw)
    kinds = [next(iter(set(c["choices"][0]["delta"]) - {"role"}), None) for c in chunks]
    assert kinds == ["reasoning_content"] * 4 + ["content"] * 2 + [None]
    assert content_of(chunks, "reasoning_content") == "Looking at 0 image(s)."


async def test_stream_tool_call_deltas(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Tool call deltas share index 0; the first has id/type/name; arguments span >= 2 chunks."""
    tools = [{"type": "function", "function": {"name": "f"}}]
    _, raw, _ = await post(session, server.base_url, chat("x", stream=True, tools=tools))
    chunks = chunks_of(raw)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[:-1]]
    assert len(calls) >= 2
    assert {c["index"] for c in calls} == {0}
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["type"] == "function"
    assert calls[0]["function"]["name"] == "f"
    assert all("id" not in c for c in calls[1:])
    assert "".join(c["function"]["arguments"] for c in calls) == '{"images": 0}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_exact_chunk_count(session: aiohttp.ClientSession) -> None:
    """chunks=N (or X-Emulator-Chunks) splits the content into exactly N pieces."""
    async with Emulator(chunks=2) as base:
        _, raw, _ = await post(session, base, chat("alpha beta gamma delta", stream=True))
        assert len(chunks_of(raw)) == 2 + 1
        _, raw, _ = await post(
            session, base, chat("alpha beta gamma delta", stream=True), **{"X-Emulator-Chunks": "7"}
        )
        chunks = chunks_of(raw)
        assert len(chunks) == 7 + 1
        assert content_of(chunks) == "prompt: alpha beta gamma delta"


async def test_stream_crlf(server: Emulator, session: aiohttp.ClientSession) -> None:
    """X-Emulator-Line-Ending: crlf ends every line with CRLF."""
    _, raw, _ = await post(
        session, server.base_url, chat("a", stream=True), **{"X-Emulator-Line-Ending": "crlf"}
    )
    assert raw.endswith("data: [DONE]\r\n\r\n")
    assert "\n" not in raw.replace("\r\n", "")
    assert raw.count("\r\n\r\n") == len(events(raw))


async def test_stream_keepalives(session: aiohttp.ClientSession) -> None:
    """keepalive_comments=N sends N ': keep-alive' comments before every chunk."""
    async with Emulator(keepalive_comments=2, line_ending="crlf") as base:
        _, raw, _ = await post(session, base, chat("a b", stream=True))
    lines = raw.split("\r\n")
    assert lines.count(": keep-alive") == 2 * len(events(raw))
    assert lines[:4] == [": keep-alive", "", ": keep-alive", ""]


async def test_stream_chunk_delay(server: Emulator, session: aiohttp.ClientSession) -> None:
    """X-Emulator-Chunk-Delay spaces the chunks out."""
    started = time.monotonic()
    _, raw, _ = await post(
        session, server.base_url, chat("a b c", stream=True), **{"X-Emulator-Chunk-Delay": "0.05"}
    )
    assert time.monotonic() - started >= 0.05 * 5 * 0.9
    assert events(raw)[-1] == "[DONE]"


async def test_bad_option_header(server: Emulator, session: aiohttp.ClientSession) -> None:
    """An unparsable X-Emulator-* header is a 400 naming the header."""
    status, body, _ = await post(session, server.base_url, chat("a"), **{"X-Emulator-Chunks": "0"})
    assert status == 400
    assert body["error"]["param"] == "X-Emulator-Chunks"
    status, body, _ = await post(session, server.base_url, chat("a"), **{"X-Emulator-Fault": "{"})
    assert status == 400
    assert body["error"]["param"] == "X-Emulator-Fault"


def _dechunk(raw: bytes) -> list[bytes]:
    """The HTTP/1.1 chunks of a chunked body, as sent."""
    pieces: list[bytes] = []
    pos = 0
    while True:
        end = raw.index(b"\r\n", pos)
        size = int(raw[pos:end], 16)
        if size == 0:
            return pieces
        pieces.append(raw[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


async def test_split_writes_cut_utf8_and_reassemble(server: Emulator) -> None:
    """Split writes cut multi-byte characters across TCP writes; the text arrives byte-exact."""
    prompt = "这张图片里有什么？请详细描述颜色、形状和文字。"
    body = orjson.dumps(chat(prompt, stream=True))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        + f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\nX-Emulator-Split-Writes: 1\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    pieces = _dechunk(chunked)
    assert any(not _is_utf8(p) for p in pieces), "no write split a multi-byte character"
    stream = b"".join(pieces).decode()
    assert content_of(chunks_of(stream)) == f"prompt: {prompt}"
    # Through aiohttp too: the client reassembles the same text.
    async with aiohttp.ClientSession(headers=AUTH) as s:
        _, text_body, _ = await post(
            s, server.base_url, chat(prompt, stream=True), **{"X-Emulator-Split-Writes": "1"}
        )
    assert content_of(chunks_of(text_body)) == f"prompt: {prompt}"


# -- faults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        (
            Fault.error(500),
            500,
            {"code": "InternalServiceError", "param": "", "type": "InternalServerError"},
        ),
        (
            Fault.error(400, code="InvalidParameter", message="bad", type="BadRequest"),
            400,
            {"code": "InvalidParameter", "param": "", "type": "BadRequest"},
        ),
        (
            Fault.error(403, code="AccountOverdueError"),
            403,
            {"code": "AccountOverdueError", "param": "", "type": "Forbidden"},
        ),
        (
            Fault.quota(),
            429,
            {"code": "QuotaExceeded", "param": "", "type": "TooManyRequests"},
        ),
        (
            Fault.quota("SetLimitExceeded"),
            429,
            {"code": "SetLimitExceeded", "param": "", "type": "TooManyRequests"},
        ),
    ],
)
async def test_ark_shaped_error_faults(
    server: Emulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    error: dict[str, str],
) -> None:
    """Fault.error / quota answer the status with Ark's error body ending in the request id."""
    server.script(fault)
    got, body, resp = await post(session, server.base_url, chat("x"))
    assert got == status
    message = body["error"].pop("message")
    assert body["error"] == error
    assert message.endswith(f"Request id: {resp.headers['x-request-id']}")
    if fault.message:
        assert message.startswith(fault.message)


async def test_error_fault_extra_headers(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.error(headers=...) adds response headers such as x-should-retry."""
    server.script(Fault.error(500, headers={"x-should-retry": "false"}))
    status, _, resp = await post(session, server.base_url, chat("x"))
    assert status == 500
    assert resp.headers["x-should-retry"] == "false"


async def test_302_shaped_error(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.error(shape='302') and Fault.unavailable() send 302.AI's err_code body."""
    server.script(Fault.error(500, shape="302"), Fault.unavailable())
    status, body, _ = await post(session, server.base_url, chat("x"))
    assert status == 500
    assert body["error"]["err_code"] == -10003
    assert body["error"]["type"] == "api_error"
    status, body, _ = await post(session, server.base_url, chat("x"))
    assert status == 503
    assert set(body["error"]) == {"err_code", "message", "message_cn", "message_jp", "type"}
    assert body["error"]["err_code"] == -10008
    assert body["error"]["message"].startswith("No available models currently")


async def test_rate_limited(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.rate_limited is 429 Ark-shaped with Retry-After and retry-after-ms when given."""
    server.script(Fault.rate_limited("2", retry_after_ms="1500"), Fault.rate_limited(None))
    status, body, resp = await post(session, server.base_url, chat("x"))
    assert status == 429
    assert body["error"]["code"] == "RateLimitExceeded.EndpointRPMExceeded"
    assert body["error"]["type"] == "TooManyRequests"
    assert resp.headers["Retry-After"] == "2"
    assert resp.headers["retry-after-ms"] == "1500"
    status, body, resp = await post(session, server.base_url, chat("x"))
    assert status == 429
    assert "Retry-After" not in resp.headers
    assert "retry-after-ms" not in resp.headers


async def test_html_fault(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.html sends a text/html error page, not JSON."""
    server.script(Fault.html(504))
    status, body, resp = await post(session, server.base_url, chat("x"))
    assert status == 504
    assert resp.content_type == "text/html"
    assert "<html>" in body
    assert "504" in body


async def test_drop_before_headers(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.drop_before_headers closes the connection: the client sees a disconnect."""
    server.script(Fault.drop_before_headers())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(session, server.base_url, chat("x"))
    status, _, _ = await post(session, server.base_url, chat("x"))
    assert status == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_drop_after_headers(
    server: Emulator, session: aiohttp.ClientSession, stream: bool
) -> None:
    """Fault.drop_after_headers sends 200 and headers, then cuts the body short."""
    server.script(Fault.drop_after_headers())
    url = f"{server.base_url}/chat/completions"
    async with session.post(url, json=chat("x", stream=stream)) as resp:
        assert resp.status == 200
        if not stream:
            assert resp.content_length
            assert resp.content_length > 10
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_stall_honours_client_timeout(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Fault.stall outlasts a client timeout; the handler then stops without warnings."""
    server.script(Fault.stall(30))
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=0.3)
    with pytest.raises(asyncio.TimeoutError):
        async with session.post(
            f"{server.base_url}/chat/completions", json=chat("x"), timeout=timeout
        ) as resp:
            await resp.read()
    assert time.monotonic() - started < 5
    await _until(lambda: server.open_connections == 0)
    assert server.requests[-1].fault == "stall"


async def test_stall_then_answers(server: Emulator, session: aiohttp.ClientSession) -> None:
    """A short stall delays the normal answer."""
    server.script(Fault.stall(0.2))
    started = time.monotonic()
    status, body, _ = await post(session, server.base_url, chat("x"))
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "prompt: x"
    assert time.monotonic() - started >= 0.19


async def test_close_ends_a_stall(session: aiohttp.ClientSession) -> None:
    """Closing the emulator during a stall disconnects the client at once, cleanly."""
    emulator = Emulator()
    base = await emulator.start()
    emulator.script(Fault.stall(30))
    request = asyncio.create_task(post(session, base, chat("x")))
    await _until(lambda: bool(emulator.requests))
    started = time.monotonic()
    await emulator.close()
    assert time.monotonic() - started < 2
    with pytest.raises(aiohttp.ClientConnectionError):
        await request
    assert emulator.open_connections == 0


async def test_slow_fault(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.slow spaces stream chunks by its delay."""
    server.script(Fault.slow(0.04))
    started = time.monotonic()
    _, raw, _ = await post(session, server.base_url, chat("a b c", stream=True))
    assert time.monotonic() - started >= 0.04 * 5 * 0.9
    assert events(raw)[-1] == "[DONE]"


@pytest.mark.parametrize("kind", ["stream_error_event", "stream_data_error"])
async def test_stream_error_faults(
    server: Emulator, session: aiohttp.ClientSession, kind: str
) -> None:
    """After N chunks an Ark error arrives as 'event: error' or a bare data event; no [DONE]."""
    server.script(getattr(Fault, kind)(2, code="ServerOverloaded"))
    _, raw, _ = await post(session, server.base_url, chat("a b c d", stream=True))
    payloads = events(raw)
    assert "[DONE]" not in payloads
    assert len(payloads) == 3
    error = orjson.loads(payloads[-1])["error"]
    assert error["code"] == "ServerOverloaded"
    assert error["type"] == "TooManyRequests"
    assert ("event: error\ndata: " in raw) is (kind == "stream_error_event")


async def test_stream_bare_error(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.stream_bare_error writes a 302.AI error JSON line with no 'data:' prefix."""
    server.script(Fault.stream_bare_error(1, err_code=-10003))
    _, raw, _ = await post(session, server.base_url, chat("a b", stream=True))
    assert len(events(raw)) == 1
    last = raw.rstrip("\n").split("\n")[-1]
    assert raw.endswith(last + "\n")
    error = orjson.loads(last)["error"]
    assert error["err_code"] == -10003
    assert error["message_cn"]


async def test_truncate(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.truncate ends the body cleanly after N chunks: no finish_reason, no [DONE]."""
    server.script(Fault.truncate(2), Fault.truncate(100))
    for want in (2, 3):
        _, raw, _ = await post(session, server.base_url, chat("a b", stream=True))
        chunks = chunks_of(raw)
        assert "[DONE]" not in events(raw)
        assert len(chunks) == want
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


async def _read_lines(resp: aiohttp.ClientResponse, into: list[bytes]) -> None:
    async for line in resp.content:
        into.append(line)


async def test_drop_mid_stream(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.drop_mid_stream cuts the connection after N chunks: a client payload error."""
    server.script(Fault.drop_mid_stream(2))
    received: list[bytes] = []
    async with session.post(
        f"{server.base_url}/chat/completions", json=chat("a b c d", stream=True)
    ) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await _read_lines(resp, received)
    assert sum(line.startswith(b"data: ") for line in received) == 2


async def test_json_for_stream(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.json_for_stream answers a stream request with a plain JSON completion."""
    server.script(Fault.json_for_stream())
    status, body, resp = await post(session, server.base_url, chat("a", stream=True))
    assert status == 200
    assert resp.content_type == "application/json"
    assert body["object"] == "chat.completion"


async def test_keepalive_only(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Fault.keepalive_only sends only comments after the first chunk, then the rest."""
    server.script(Fault.keepalive_only(0.3))
    started = time.monotonic()
    _, raw, _ = await post(session, server.base_url, chat("a", stream=True))
    assert time.monotonic() - started >= 0.29
    first, _rest = raw.split(": keep-alive", 1)
    assert len(events(first)) == 1
    assert raw.count(": keep-alive") >= 4
    assert events(raw)[-1] == "[DONE]"


async def test_stream_faults_ignored_without_stream(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """A stream-only fault leaves a non-stream request's answer normal (but is recorded)."""
    server.script(Fault.truncate(1))
    status, body, _ = await post(session, server.base_url, chat("a"))
    assert status == 200
    assert body["choices"][0]["finish_reason"] == "stop"
    assert server.requests[-1].fault == "truncate"


async def test_script_queue_order(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Scripted faults apply FIFO, one per chat request, then requests are normal."""
    server.script(Fault.error(500), Fault.rate_limited())
    server.script(Fault.error(502))
    statuses = [(await post(session, server.base_url, chat("x")))[0] for _ in range(4)]
    assert statuses == [500, 429, 502, 200]
    assert [r.fault for r in server.requests] == ["error", "rate_limited", "error", None]


async def test_models_do_not_take_faults(server: Emulator, session: aiohttp.ClientSession) -> None:
    """Faults apply to chat requests only; GET /v1/models leaves the script alone."""
    server.script(Fault.error(500))
    async with session.get(f"{server.base_url}/models") as resp:
        assert resp.status == 200
    assert (await post(session, server.base_url, chat("x")))[0] == 500


async def test_header_fault(server: Emulator, session: aiohttp.ClientSession) -> None:
    """X-Emulator-Fault applies its fault to that request and leaves the script alone."""
    server.script(Fault.error(500))
    fault = Fault.rate_limited("7")
    status, _, resp = await post(
        session, server.base_url, chat("x"), **{"X-Emulator-Fault": fault.to_header()}
    )
    assert status == 429
    assert resp.headers["Retry-After"] == "7"
    assert (await post(session, server.base_url, chat("x")))[0] == 500


def test_fault_header_round_trip() -> None:
    """to_header is compact ASCII JSON and from_header rebuilds an equal Fault."""
    faults = [
        Fault.error(503, code="X", message="消息", shape="ark", headers={"a": "b"}),
        Fault.error(500, shape="302", err_code=-1),
        Fault.rate_limited(None, retry_after_ms="10"),
        Fault.quota("SetLimitExceeded"),
        Fault.unavailable(),
        Fault.html(),
        Fault.drop_before_headers(),
        Fault.drop_after_headers(),
        Fault.stall(1.5),
        Fault.slow(0.1),
        Fault.stream_error_event(3, code="InternalServiceError", type="InternalServerError"),
        Fault.stream_data_error(0),
        Fault.stream_bare_error(2, err_code=-10008),
        Fault.truncate(4),
        Fault.drop_mid_stream(1),
        Fault.json_for_stream(),
        Fault.keepalive_only(2.0),
    ]
    for fault in faults:
        header = fault.to_header()
        assert header.isascii()
        assert " " not in header
        assert Fault.from_header(header) == fault
    for bad in (
        "",
        "[]",
        '{"kind": "nope"}',
        '{"kind": "stall", "bogus": 1}',
        '{"kind":"truncate","after":-1}',
    ):
        with pytest.raises(ValueError, match="X-Emulator-Fault"):
            Fault.from_header(bad)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("nope")


# -- recording, counters, connections --------------------------------------------------


async def test_recording_summarizes_images(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Recorded requests keep method, path, lowercased headers, and image summaries."""
    pic = make_png(50, 40, seed=8)
    before = time.monotonic()
    await post(
        session,
        server.base_url,
        chat("x", image(data_url(pic)), image("https://a/b.png")),
        **{"X-Custom": "1"},
    )
    [record] = server.requests
    assert isinstance(record, RecordedRequest)
    assert (record.method, record.path, record.fault) == ("POST", "/v1/chat/completions", None)
    assert record.headers["x-custom"] == "1"
    assert record.headers["authorization"] == "Bearer <redacted>"
    assert KEY not in repr(record)
    assert all(name == name.lower() for name in record.headers)
    assert before <= record.received_at <= time.monotonic()
    parts = record.body["messages"][0]["content"]
    assert parts[1]["image_url"]["url"] == f"<data:image/png {len(pic)} bytes sha256:{sha12(pic)}>"
    assert parts[2]["image_url"]["url"] == "https://a/b.png"
    assert len(orjson.dumps(record.body)) < 400


async def test_recording_of_rejected_requests(
    server: Emulator, session: aiohttp.ClientSession
) -> None:
    """Failed and faulted requests are recorded too, with undecodable images summarized."""
    server.script(Fault.error(500))
    await post(session, server.base_url, chat(image(data_url(GOOD))))
    await post(session, server.base_url, chat(image("data:image/png;base64,@@@")))
    first, second = server.requests
    assert first.fault == "error"
    assert first.body["messages"][0]["content"][0]["image_url"]["url"].startswith(
        "<data:image/png "
    )
    assert second.body["messages"][0]["content"][0]["image_url"]["url"].startswith(
        "<data: undecodable"
    )


async def test_record_bodies_off(session: aiohttp.ClientSession) -> None:
    """record_bodies=False keeps the request log but no bodies."""
    emulator = Emulator(record_bodies=False)
    async with emulator as base:
        await post(session, base, chat("x"))
    assert emulator.requests[0].body is None
    assert emulator.request_count == 1


async def test_request_count_and_reset(server: Emulator, session: aiohttp.ClientSession) -> None:
    """request_count counts chat POSTs only; reset() clears log, script and counters."""
    async with session.get(f"{server.base_url}/models"):
        pass
    for _ in range(3):
        await post(session, server.base_url, chat("x"))
    async with aiohttp.ClientSession() as anonymous:
        await post(anonymous, server.base_url, chat("x"))
    assert server.request_count == 4
    assert len(server.requests) == 5
    server.script(Fault.error(500))
    server.reset()
    assert server.request_count == 0
    assert server.requests == []
    assert (await post(session, server.base_url, chat("x")))[0] == 200


@pytest.mark.parametrize(("limit", "peak"), [(3, 3), (0, 5)])
async def test_peak_connections(server: Emulator, limit: int, peak: int) -> None:
    """peak_connections counts TCP connections: 5 requests on a 3-connection pool peak at 3."""
    stall = {"X-Emulator-Fault": Fault.stall(0.3).to_header()}
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as s:
        results = await asyncio.gather(
            *(post(s, server.base_url, chat("x"), **stall) for _ in range(5))
        )
    assert [r[0] for r in results] == [200] * 5
    assert server.peak_connections == peak
    assert server.request_count == 5


async def test_close_with_stream_in_progress(session: aiohttp.ClientSession) -> None:
    """Closing the emulator mid-stream ends the stream promptly and leaves nothing open."""
    emulator = Emulator(chunk_delay=0.2)
    base = await emulator.start()
    async with session.post(
        f"{base}/chat/completions", json=chat("a b c d e f", stream=True)
    ) as resp:
        first = await resp.content.readline()
        assert first.startswith(b"data: ")
        started = time.monotonic()
        await emulator.close()
        assert time.monotonic() - started < 1.5
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert emulator.open_connections == 0
    await emulator.close()  # idempotent


async def test_lifecycle_errors() -> None:
    """base_url needs a running emulator; starting twice fails; bad options fail early."""
    emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    await emulator.start()
    try:
        with pytest.raises(RuntimeError):
            await emulator.start()
        assert "requests=0" in repr(emulator)
    finally:
        await emulator.close()
    with pytest.raises(ValueError, match="line_ending"):
        Emulator(line_ending="cr")
    with pytest.raises(ValueError, match="chunks"):
        Emulator(chunks=0)


async def test_create_app_can_be_mounted(session: aiohttp.ClientSession) -> None:
    """create_app(emulator) runs under the user's own runner and records into the emulator."""
    emulator = Emulator(api_key=KEY)
    runner = web.AppRunner(create_app(emulator))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site.port
        status, body, _ = await post(session, f"http://127.0.0.1:{port}/v1", chat("mounted"))
    finally:
        await runner.cleanup()
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "prompt: mounted"
    assert emulator.request_count == 1
    assert isinstance(create_app(), web.Application)


async def test_many_concurrent_image_requests(server: Emulator) -> None:
    """Hundreds of concurrent requests with ~100 KB images are all answered correctly."""
    pictures = [make_png(200, 160, seed=s, compress=False) for s in range(4)]
    assert all(90_000 < len(p) < 110_000 for p in pictures)
    urls = [data_url(p) for p in pictures]
    connector = aiohttp.TCPConnector(limit=100)
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=AUTH, connector=connector) as s:
        results = await asyncio.gather(
            *(post(s, server.base_url, chat("n", image(urls[i % 4]))) for i in range(400))
        )
    elapsed = time.monotonic() - started
    for i, (status, body, _) in enumerate(results):
        assert status == 200
        assert sha12(pictures[i % 4]) in body["choices"][0]["message"]["content"]
    assert server.request_count == 400
    assert elapsed < 30


# -- command line ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_cli_serves_and_stops_on_signal(sig: signal.Signals) -> None:
    """python -m doubao_vision.emulator listens, answers /v1/models and exits 0 on a signal."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "error", "-m", "doubao_vision.emulator",
        "--port", str(port), "--api-key", KEY,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert (
            line.decode().strip()
            == f"doubao-vision emulator listening on http://127.0.0.1:{port}/v1"
        )
        url = f"http://127.0.0.1:{port}/v1/models"
        async with aiohttp.ClientSession(headers=AUTH) as s, s.get(url) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "list"
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert await proc.stderr.read() == b""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
