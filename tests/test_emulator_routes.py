"""The emulator's routes, auth, request log, counters, connections and lifecycle."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from aiohttp import web

from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault, RecordedRequest, create_app

from ._emulator_support import (  # noqa: F401 -- fixtures
    AUTH,
    GOOD,
    KEY,
    MODEL,
    chat,
    data_url,
    image,
    no_server_errors_fixture,
    post,
    server_fixture,
    session_fixture,
    sha12,
)

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
