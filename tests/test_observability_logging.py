"""Logging: a DEBUG line per attempt, WARNINGs for cut answers and retired models, no secrets."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision.emulator import Emulator, Fault

from .conftest import FAST_RETRY

MODEL = dv.MODEL_VISION_PRO
# Distinctive, so a search of the log text cannot match anything else.
SECRET_KEY = "sk-obs-SECRET-7f3a9c1e5b2d4680aa11bb22cc33dd44"
PROMPT = "periwinkle-octopus-prompt-424242"
RETIRED = "doubao-vision-pro-32k-241028"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator(api_key=SECRET_KEY)
    async with emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(SECRET_KEY, base_url=emu.base_url, retry=FAST_RETRY) as client:
        yield client


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("doubao_vision")]


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in ours(caplog)
        if r.levelno == logging.DEBUG and " attempt=" in r.getMessage()
    ]


async def test_debug_logs_one_line_per_attempt(
    client: AsyncClient, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG each attempt logs method, path, model, attempt, status, elapsed, ids and bytes sent."""
    caplog.set_level(logging.DEBUG, logger="doubao_vision")
    emu.script(Fault.error(503))
    completion = await client.chat(MODEL, [dv.user("hi")])
    first, second = attempt_lines(caplog)
    assert first.startswith(f"POST /v1/chat/completions model={MODEL} attempt=1 status=503 ")
    assert second.startswith(f"POST /v1/chat/completions model={MODEL} attempt=2 status=200 ")
    assert f"request_id={completion.request_id} " in second
    assert f"client_request_id={completion.client_request_id} " in second
    assert " elapsed=" in second and second.endswith("B")
    retry_lines = [r for r in ours(caplog) if r.levelno == logging.INFO]
    assert len(retry_lines) == 1 and "retrying" in retry_lines[0].getMessage()


async def test_attempt_without_an_answer_gets_its_own_line(
    client: AsyncClient, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A dropped connection logs 'failed' with the error class instead of a status."""
    caplog.set_level(logging.DEBUG, logger="doubao_vision")
    emu.script(Fault.drop_before_headers())
    await client.chat(MODEL, [dv.user("hi")])
    first, second = attempt_lines(caplog)
    assert "attempt=1 failed " in first and "error=APIConnectionError" in first
    assert "attempt=2 status=200" in second


async def test_stream_and_models_are_logged(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Streams log their attempt and a closing line with chunks; GET /models logs its attempt."""
    caplog.set_level(logging.DEBUG, logger="doubao_vision")
    async with client.stream(MODEL, [dv.user("hello world")]) as stream:
        async for _ in stream:
            pass
    await client.models()
    lines = [r.getMessage() for r in ours(caplog)]
    assert any(line.startswith("POST /v1/chat/completions") for line in lines)
    closed = [line for line in lines if line.startswith("stream closed")]
    assert len(closed) == 1
    assert f"chunks={stream.http.chunks} " in closed[0] and "outcome=completed" in closed[0]
    assert any(line.startswith("GET /v1/models model=- attempt=1 status=200") for line in lines)


async def test_nothing_below_warning_by_default(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """At the default WARNING level a successful call logs nothing."""
    caplog.set_level(logging.WARNING)
    await client.chat(MODEL, [dv.user("hi")])
    assert ours(caplog) == []


async def test_debug_logs_hold_no_key_prompt_or_image(
    client: AsyncClient, emu: Emulator, caplog: pytest.LogCaptureFixture, png: bytes
) -> None:
    """Even with every logger at DEBUG, no record holds the key, the prompt or the image's base64."""
    caplog.set_level(logging.DEBUG)  # the root logger: what basicConfig(level=DEBUG) does
    emu.script(Fault.error(500))
    await client.chat(MODEL, [dv.user(PROMPT, png)], max_tokens=2)
    async with client.stream(MODEL, [dv.user(PROMPT, png)]) as stream:
        async for _ in stream:
            pass
    records = ours(caplog)
    assert len(records) >= 4
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in records)
    encoded = base64.b64encode(png).decode()
    assert SECRET_KEY not in text
    assert SECRET_KEY[3:20] not in text
    assert PROMPT not in text
    assert encoded[:32] not in text and encoded[-32:] not in text
    assert "Bearer" not in text


async def test_content_logger_opt_in_logs_text_but_not_image_bytes(
    client: AsyncClient, caplog: pytest.LogCaptureFixture, png: bytes
) -> None:
    """Setting doubao_vision.content to DEBUG logs prompt and answer; images only described."""
    caplog.set_level(logging.DEBUG, logger="doubao_vision.content")
    completion = await client.chat(MODEL, [dv.user(PROMPT, png)])
    content = [r.getMessage() for r in caplog.records if r.name == "doubao_vision.content"]
    request_line, answer_line = content
    assert PROMPT in request_line and f'"bytes":{len(png)}' in request_line
    assert completion.client_request_id is not None
    assert completion.client_request_id in answer_line
    assert base64.b64encode(png).decode()[:32] not in "\n".join(content)
    assert SECRET_KEY not in "\n".join(content)


async def test_cut_answer_logs_a_warning(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """finish_reason 'length' logs a WARNING naming max_tokens and both request ids."""
    caplog.set_level(logging.WARNING, logger="doubao_vision")
    completion = await client.chat(MODEL, [dv.user("a question with a long answer")], max_tokens=1)
    assert completion.finish_reason == "length"
    (record,) = ours(caplog)
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "max_tokens=1" in message
    assert str(completion.request_id) in message and str(completion.client_request_id) in message


async def test_ask_that_is_cut_logs_a_warning(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """ask() goes through the same path: a cut answer is a WARNING too."""
    caplog.set_level(logging.WARNING, logger="doubao_vision")
    await client.ask("a question with a long answer", max_tokens=1)
    assert ["cut off" in r.getMessage() for r in ours(caplog)] == [True]


async def test_cut_stream_logs_a_warning(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream that ends with finish_reason 'length' logs the WARNING when it closes."""
    caplog.set_level(logging.WARNING, logger="doubao_vision")
    async with client.stream(
        MODEL, [dv.user("a question with a long answer")], max_tokens=1
    ) as stream:
        async for _ in stream:
            pass
    assert stream.completion.finish_reason == "length"
    assert ["cut off" in r.getMessage() for r in ours(caplog)] == [True]


async def test_retired_model_logs_a_warning_once(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A retired model logs one WARNING per client naming its successor (besides the DeprecationWarning)."""
    caplog.set_level(logging.WARNING, logger="doubao_vision")
    for _ in range(2):
        with pytest.warns(DeprecationWarning, match="retired"):
            await client.chat(RETIRED, [dv.user("hi")])
    (record,) = ours(caplog)
    assert RETIRED in record.getMessage() and MODEL in record.getMessage()


async def test_key_never_logged_on_auth_failure(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected key is not echoed into the logs."""
    caplog.set_level(logging.DEBUG)
    wrong = "sk-obs-WRONG-0000111122223333444455556666"
    async with AsyncClient(wrong, base_url=emu.base_url) as client:
        with pytest.raises(dv.AuthenticationError):
            await client.chat(MODEL, [dv.user("hi")])
    text = "\n".join(r.getMessage() for r in ours(caplog))
    assert "status=401" in text
    assert wrong not in text and SECRET_KEY not in text
