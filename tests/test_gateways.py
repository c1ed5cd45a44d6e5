"""Behind gateways and other OpenAI-compatible servers: error shapes, retry headers,
redirects, proxies, and no key anywhere in what we raise."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import orjson
import pytest
from aiohttp import web

import doubao_vision as dv
from doubao_vision import AsyncClient, RetryPolicy
from doubao_vision.emulator import Emulator

from .conftest import API_KEY

NO_RETRY = RetryPolicy(max_retries=0)
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start a tiny aiohttp server speaking one shape; yields its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler, host: str = "127.0.0.1") -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://{host}:{port}/v1"

    yield start
    for runner in runners:
        await runner.cleanup()


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__]


def _assert_no_key(error: BaseException, key: str = API_KEY) -> None:
    """The key is nowhere in the exception, its args, attributes or chain."""
    for item in _chain(error):
        text = " ".join(
            [repr(item), str(item), repr(item.args), repr(vars(item)) if vars(item) else ""]
        )
        info = getattr(item, "request_info", None)
        text += repr(info)
        assert key not in text, type(item).__name__


# -- error shapes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (401, {"detail": "Invalid API key"}, dv.AuthenticationError, "Invalid API key"),
        (
            422,
            {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]},
            dv.UnprocessableEntityError,
            "body.messages: field required",
        ),
        (
            400,
            {"error": {"err_code": -10003, "message": "Network error"}},
            dv.BadRequestError,
            "Network error",
        ),
    ],
)
async def test_fastapi_and_gateway_error_bodies_give_their_message(
    serve: Callable[..., Awaitable[str]], status: int, body: object, cls: type, message: str
) -> None:
    """FastAPI's {"detail": ...} (string or list of loc/msg) and 302.AI's shape give the server's words."""

    async def handler(request: web.Request) -> web.Response:
        return _json(status, body)

    url = await serve(handler)
    async with AsyncClient(API_KEY, base_url=url, retry=NO_RETRY) as client:
        with pytest.raises(cls) as info:
            await client.ask("x")
    assert info.value.message == message
    assert "no message" not in str(info.value)


@pytest.mark.parametrize(
    ("code", "cls", "retried"),
    [
        ("429", dv.RateLimitError, True),
        ("500", dv.InternalServerError, True),
        (401, dv.AuthenticationError, False),
    ],
)
async def test_numeric_in_stream_codes_map_like_statuses(
    serve: Callable[..., Awaitable[str]], code: object, cls: type, retried: bool
) -> None:
    """An in-stream error whose code is an HTTP status (LiteLLM) gets that status's class and retry rule."""
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        error = {"error": {"code": code, "message": "upstream said no"}}
        await response.write(b"data: " + orjson.dumps(error) + b"\n\n")
        await response.write_eof()
        return response

    url = await serve(handler)
    retry = RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.01)
    async with AsyncClient(API_KEY, base_url=url, retry=retry) as client:
        with pytest.raises(cls):
            async with client.stream(dv.MODEL_VISION_PRO, [dv.user("x")]) as stream:
                await stream.final_completion()
    assert calls == (2 if retried else 1)


async def test_litellm_retry_after_header_is_honoured(serve: Callable[..., Awaitable[str]]) -> None:
    """llm_provider-retry-after (LiteLLM's proxy) is the wait when Retry-After is absent, and cools the client down."""
    arrivals: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return _json(
                429,
                {"error": {"message": "slow down", "code": "429"}},
                {"llm_provider-retry-after": "0.3"},
            )
        return _json(200, COMPLETION)

    url = await serve(handler)
    retry = RetryPolicy(max_retries=2, initial_delay=0.0, max_delay=0.0)
    async with AsyncClient(API_KEY, base_url=url, retry=retry) as client:
        assert await client.ask("x") == "ok"
    assert arrivals[1] - arrivals[0] >= 0.29
    error = dv.RateLimitError("x", status_code=429, headers={"llm_provider-retry-after": "0.3"})
    assert error.retry_after == 0.3


# -- secrets -----------------------------------------------------------------


async def test_a_key_quoted_back_by_the_server_is_redacted(
    serve: Callable[..., Awaitable[str]],
) -> None:
    """A 401 quoting our key (and any sk- key) keeps neither in str(), .message or .body."""
    other = "sk-proj-ABCDEFGHIJKLMNOP1234"

    async def handler(request: web.Request) -> web.Response:
        message = f"Incorrect API key provided: {API_KEY}. Also tried {other}."
        return _json(401, {"error": {"message": message, "code": "invalid_api_key"}})

    url = await serve(handler)
    async with AsyncClient(API_KEY, base_url=url, retry=NO_RETRY) as client:
        with pytest.raises(dv.AuthenticationError) as info:
            await client.ask("x")
    error = info.value
    assert "Incorrect API key provided: [redacted]" in error.message
    for text in (str(error), error.message, repr(error.body)):
        assert API_KEY not in text and other not in text
    _assert_no_key(error)


async def test_a_redirect_loop_raises_without_the_key_in_the_chain(
    serve: Callable[..., Awaitable[str]],
) -> None:
    """A same-origin redirect loop is an APIConnectionError; no exception in its chain holds the key."""

    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location=str(request.rel_url))

    url = await serve(handler)
    async with AsyncClient(API_KEY, base_url=url, retry=NO_RETRY) as client:
        with pytest.raises(dv.APIConnectionError, match="redirect") as info:
            await client.ask("x")
        with pytest.raises(dv.APIConnectionError, match="redirect") as stream_info:
            async with client.stream(dv.MODEL_VISION_PRO, [dv.user("x")]) as stream:
                await stream.final_completion()
    _assert_no_key(info.value)
    _assert_no_key(stream_info.value)


async def test_redirects_are_followed_within_the_same_origin_only(
    serve: Callable[..., Awaitable[str]], emulator: Emulator
) -> None:
    """A redirect on the same origin is followed (body re-sent); one to another host is not."""
    other_hits = 0

    async def elsewhere(request: web.Request) -> web.Response:
        nonlocal other_hits
        other_hits += 1
        return _json(200, COMPLETION)

    other = await serve(elsewhere, host="127.0.0.2")

    async def redirecting(request: web.Request) -> web.Response:
        if request.path.startswith("/v1/"):
            raise web.HTTPTemporaryRedirect(location="/v2/chat/completions")
        if request.path.startswith("/v2/"):
            body = await request.json()
            assert body["messages"][0]["content"][0]["text"] == "hello"
            raise web.HTTPTemporaryRedirect(location=f"{other}/chat/completions")
        return _json(404, {"error": {"message": "no"}})

    same = await serve(redirecting)
    async with AsyncClient(API_KEY, base_url=same, retry=NO_RETRY) as client:
        with pytest.raises(dv.APIStatusError, match="another origin") as info:
            await client.ask("hello")
    assert info.value.status_code == 307
    assert other_hits == 0


# -- proxies -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proxy:
    """A real HTTP forward proxy (pproxy) on loopback, logging each connection."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pproxy", "-l", self.url, "-v"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)

    def stop(self) -> str:
        """Stop it and return what it logged."""
        if self._process.poll() is None:
            self._process.terminate()
        out, _ = self._process.communicate(timeout=10)
        return out


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    """A running pproxy; stopped after the test."""
    running = Proxy()
    try:
        yield running
    finally:
        running.stop()


async def test_http_proxy_from_the_environment_is_used(
    emulator: Emulator, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured by default (a dead proxy fails, a real one works); trust_env=False and NO_PROXY go direct."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_free_port()}")  # nothing listens
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=NO_RETRY) as client:
        with pytest.raises(dv.APIConnectionError):
            await client.ask("x")
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, retry=NO_RETRY, trust_env=False
    ) as client:
        assert await client.ask("direct") == "prompt: direct"
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=NO_RETRY) as client:
        assert await client.ask("bypassed") == "prompt: bypassed"
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=NO_RETRY) as client:
        assert await client.ask("proxied") == "prompt: proxied"
    log = await asyncio.to_thread(proxy.stop)
    port = emulator.base_url.split(":")[2].split("/")[0]
    assert f"127.0.0.1:{port}" in log  # the proxy carried the request


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=UTF-8", " application/json ;charset=utf-8"],
)
async def test_a_stream_answered_with_json_is_read_whatever_the_header_spelling(
    serve: Callable[..., Awaitable[str]], content_type: str
) -> None:
    """A stream=True call answered with a whole JSON completion is read as one, however the media type is cased or parametrised."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(COMPLETION), headers={"Content-Type": content_type})

    url = await serve(handler)
    async with (
        AsyncClient(API_KEY, base_url=url, retry=NO_RETRY) as client,
        client.stream("m", [dv.user("x")]) as stream,
    ):
        assert (await stream.final_completion()).text == "ok"
