"""AsyncClient lifecycle, configuration, and key hygiene, over real HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import aiohttp
import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient, MissingAPIKeyError
from doubao_vision.emulator import Emulator, Fault

from ._expect import answer
from .conftest import API_KEY, FAST_RETRY


async def test_chat_returns_typed_completion(client: AsyncClient, png: bytes) -> None:
    """client.chat returns a ChatCompletion with text, usage, ids and finish_reason."""
    completion = await client.chat(dv.MODEL_VISION_PRO, [dv.user("What is this?", png)])
    assert completion.text == answer("What is this?", png)
    assert completion.finish_reason == "stop"
    assert completion.choices[0].message.role == "assistant"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.usage.completion_tokens_details is not None
    assert completion.request_id and completion.request_id == completion.id
    assert completion.client_request_id and len(completion.client_request_id) == 34


async def test_ask_one_liner_with_system_and_detail(
    client: AsyncClient, emulator: Emulator, png: bytes
) -> None:
    """client.ask sends system + user(prompt, images) with detail and returns the text."""
    text = await client.ask("Describe", png, png, detail="high", system="Be brief")
    assert text == answer("Describe", png, png)
    body = emulator.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Be brief"}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "Describe"}
    assert parts[1]["image_url"]["detail"] == "high"


async def test_plain_openai_dicts_are_accepted(client: AsyncClient, png: bytes) -> None:
    """OpenAI-style dict messages work exactly like the attrs classes."""
    url = dv.Image.from_bytes(png).data_url()
    messages = [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        },
    ]
    completion = await client.chat("doubao-1-5-vision-lite-250315", messages)
    assert completion.text == answer("Look", png)


async def test_image_from_path_and_pathlib(
    client: AsyncClient, png: bytes, tmp_path: object
) -> None:
    """A str path and a pathlib.Path both become data URLs of the real bytes."""
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "pic.png"
    path.write_bytes(png)
    assert await client.ask("p", str(path)) == answer("p", png)
    assert await client.ask("p", path) == answer("p", png)


async def test_large_image_is_spliced_intact(client: AsyncClient) -> None:
    """A multi-MB image goes out through the spliced body writer and arrives byte-exact."""
    from doubao_vision._samples import make_png_of_size

    big = make_png_of_size(3_000_000, seed=7)
    assert await client.ask("big", big) == answer("big", big)


async def test_missing_key_errors_at_first_request_naming_env(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key: construction works, the first call raises MissingAPIKeyError naming the env var."""
    monkeypatch.delenv("DOUBAO_VISION_API_KEY", raising=False)
    async with AsyncClient(base_url=emulator.base_url) as client:
        with pytest.raises(MissingAPIKeyError, match="DOUBAO_VISION_API_KEY"):
            await client.ask("hi")
    assert emulator.request_count == 0


async def test_key_and_base_url_from_env(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOUBAO_VISION_API_KEY and DOUBAO_VISION_BASE_URL configure a bare AsyncClient()."""
    monkeypatch.setenv("DOUBAO_VISION_API_KEY", API_KEY)
    monkeypatch.setenv("DOUBAO_VISION_BASE_URL", emulator.base_url)
    async with AsyncClient() as client:
        assert await client.ask("env") == "prompt: env"


def test_default_base_url_is_302ai(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without arguments or env the base URL is 302.AI's; Ark's is a named constant."""
    monkeypatch.delenv("DOUBAO_VISION_BASE_URL", raising=False)
    assert AsyncClient("k").base_url == "https://api.302.ai/v1"
    assert dv.ARK_BASE_URL == "https://ark.cn-beijing.volces.com/api/v3"


async def test_key_never_in_repr_logs_or_errors(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The API key appears in no repr, log line, or exception message, on 401 or on retries."""
    caplog.set_level(logging.DEBUG)
    emulator.script(*[Fault.error(500)] * 3)
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=FAST_RETRY) as client:
        with pytest.raises(dv.InternalServerError) as server_error:
            await client.ask("x")
    wrong = "sk-very-secret-wrong-key-42"
    async with AsyncClient(wrong, base_url=emulator.base_url, retry=FAST_RETRY) as other:
        with pytest.raises(dv.AuthenticationError) as auth_error:
            await other.ask("x")
    for secret, error, owner in ((API_KEY, server_error, client), (wrong, auth_error, other)):
        texts = [repr(owner), str(error.value), repr(error.value), str(error.value.body)]
        texts += [str(error.value.headers), caplog.text]
        assert all(secret not in text for text in texts)
    assert "retrying" in caplog.text
    assert emulator.request_count == 4


async def test_aclose_is_idempotent_and_closes_pool(emulator: Emulator) -> None:
    """aclose twice is fine; the owned session is closed; later use is a clear error."""
    client = AsyncClient(API_KEY, base_url=emulator.base_url)
    await client.ask("x")
    session = client._runtime.transport.session
    await client.aclose()
    await client.aclose()
    assert session is not None and session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.ask("x")


async def test_session_is_created_lazily_in_the_loop() -> None:
    """Constructing a client opens nothing; no session exists until the first call."""
    client = AsyncClient("k")
    assert client._runtime.transport.session is None
    await client.aclose()


async def test_user_session_is_used_and_never_closed(emulator: Emulator) -> None:
    """A user-supplied aiohttp.ClientSession is used for calls and left open by aclose."""
    async with aiohttp.ClientSession() as session:
        async with AsyncClient(API_KEY, base_url=emulator.base_url, session=session) as client:
            assert await client.ask("mine") == "prompt: mine"
        assert not session.closed
    assert emulator.request_count == 1


async def test_unclosed_client_warns_resourcewarning(emulator: Emulator) -> None:
    """A client that opened a session and is collected unclosed warns ResourceWarning."""
    client = AsyncClient(API_KEY, base_url=emulator.base_url)
    await client.ask("x")
    session = client._runtime.transport.session
    assert session is not None
    with pytest.warns(ResourceWarning, match="never closed"):
        client.__del__()
    await session.close()
    del client
    gc.collect()


def test_one_client_two_loops_is_a_clear_error(emulator: Emulator) -> None:
    """Using a client from a second event loop raises at once instead of hanging."""
    client = AsyncClient(API_KEY, base_url="http://127.0.0.1:9/v1")
    errors: list[BaseException] = []

    async def first() -> None:
        client._runtime.transport.bind()

    async def second() -> None:
        try:
            await client.ask("x")
        except RuntimeError as exc:
            errors.append(exc)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(first())
        thread = threading.Thread(target=lambda: asyncio.run(second()))
        thread.start()
        thread.join(10)
        assert not thread.is_alive()
        assert errors and "event loop" in str(errors[0])
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()


async def test_default_headers_and_extra_headers_are_sent(emulator: Emulator) -> None:
    """default_headers and per-call extra_headers reach the server; ours win for auth."""
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, default_headers={"X-Team": "vision"}
    ) as client:
        await client.chat(dv.MODEL_VISION_PRO, [dv.user("h")], extra_headers={"X-Trace": "t1"})
    headers = emulator.requests[-1].headers
    assert headers["x-team"] == "vision" and headers["x-trace"] == "t1"
    assert headers["user-agent"].startswith("doubao-vision/")


async def test_models_lists_ids(client: AsyncClient) -> None:
    """client.models returns the gateway's model ids."""
    assert dv.MODEL_VISION_PRO in await client.models()


async def test_unknown_response_fields_stay_reachable() -> None:
    """Fields we do not model never break parsing and land in .extra."""
    from doubao_vision._serde import parse_completion

    completion = parse_completion(
        {
            "id": "x",
            "model": dv.MODEL_VISION_PRO,
            "created": 1,
            "object": "chat.completion",
            "brand_new": [1],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hi", "encrypted_content": "zz"},
                }
            ],
        }
    )
    assert completion.extra["brand_new"] == [1]
    assert completion.choices[0].message.extra["encrypted_content"] == "zz"


async def test_bad_response_shape_names_the_path() -> None:
    """A response that does not fit raises ResponseValidationError with the field's path."""
    from doubao_vision._serde import parse_completion

    with pytest.raises(dv.ResponseValidationError) as info:
        parse_completion({"id": "x", "choices": [{"index": 0, "message": {"content": 5}}]})
    assert info.value.path == "$.choices[0].message.content"


async def test_usage_totals_add_up(client: AsyncClient, emulator: Emulator, png: bytes) -> None:
    """client.usage sums tokens from chats and streams, and counts calls, retries and errors by class."""
    emulator.script(Fault.error(500))
    first = await client.chat(dv.MODEL_VISION_PRO, [dv.user("a", png)], thinking="enabled")
    async with client.stream(dv.MODEL_VISION_PRO, [dv.user("b c", png)]) as stream:
        second = await stream.final_completion()
    emulator.script(Fault.error(400))
    with pytest.raises(dv.BadRequestError):
        await client.ask("bad")
    usages = [first.usage, second.usage]
    assert all(u is not None for u in usages)
    totals = client.usage
    assert totals.requests == 3 and totals.retries == 1
    assert dict(totals.errors) == {"BadRequestError": 1}
    assert totals.prompt_tokens == sum(u.prompt_tokens for u in usages if u)
    assert totals.completion_tokens == sum(u.completion_tokens for u in usages if u)
    assert totals.reasoning_tokens == sum(u.reasoning_tokens for u in usages if u) > 0
    assert totals.cached_tokens == 0
    assert totals.total_tokens == totals.prompt_tokens + totals.completion_tokens


def test_client_request_ids_are_ark_shaped_unique_and_reseeded_after_fork() -> None:
    """Request ids look like Ark's (UTC stamp + 20 hex digits), never repeat, and a
    forked child draws a new random prefix, so parent and child never share one."""
    import os
    import re
    import subprocess
    import sys
    import time

    from doubao_vision._calls import new_client_request_id

    # The ids' clock, time.time(): a bare gmtime() reads C's time(), a coarse clock
    # that can still show the last second a few ms after time.time() moved on.
    before = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time()))
    ids = [new_client_request_id() for _ in range(2000)]
    after = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time()))
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"\d{14}[0-9a-f]{20}", i) for i in ids)
    assert before <= ids[0][:14] <= ids[-1][:14] <= after
    if not hasattr(os, "fork"):
        return
    # In a fresh interpreter: forking this (threaded) test process would warn.
    script = (
        "import os\n"
        "from doubao_vision._calls import new_client_request_id as new\n"
        "new()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    print('child', new(), flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent', new(), flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    got = dict(line.split() for line in out.splitlines())
    assert got["child"][14:24] != got["parent"][14:24]  # a different per-process prefix
