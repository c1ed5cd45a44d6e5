"""Shared helpers and fixtures for the emulator tests (tests/test_emulator_*.py).

A test module takes the fixtures by importing ``*_fixture`` (pytest registers them by
their ``name``; the import names differ so that test arguments do not shadow them).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import os
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator

KEY = "sk-emulator-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "doubao-1-5-vision-pro-250328"
GOOD = make_png(32, 24, seed=1)  # a valid image for requests that need one
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
    """A well-formed GIF: screen descriptor, one image descriptor, a data block, trailer."""
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00" + b"\x3b"


def jpeg(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    return b"\xff\xd8" + sof + b"\xff\xd9"


def line_for(index: int, data: bytes, fmt: str, width: int, height: int) -> str:
    return f"image {index}: {fmt} {width}x{height} {len(data)} bytes sha256:{sha12(data)}"


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
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


@pytest.fixture(autouse=True, name="no_server_errors")
def no_server_errors_fixture(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test whose server side logged an error (unhandled exceptions, lost tasks)."""
    yield
    records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records
    bad = [r for r in records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@pytest.fixture(name="server")
async def server_fixture() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    async with emulator:
        yield emulator


@pytest.fixture(name="session")
async def session_fixture() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as s:
        yield s
