"""The aiohttp application: routes, auth, the request log, faults and answers.

Handlers speak raw JSON with orjson and never import the SDK's client or models, so
the emulator checks the SDK from the outside, as the real API would.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from ._answers import answer_for, completion_body
from ._decode import DecodeCache, summarize_body
from ._faults import ERROR_KINDS, Fault, default_message
from ._request import ChatRequest, parse_chat
from ._state import EmulatorState, RecordedRequest
from ._stream import StreamOptions, chunk_payloads, write_stream
from ._wire import (
    ApiError,
    ark_error_body,
    json_response,
    models_body,
    new_request_id,
    ohtwo_error_body,
)

__all__ = ["STATE_KEY", "build_app"]

STATE_KEY = web.AppKey("doubao_vision_emulator_state", EmulatorState)

# Ark takes request bodies up to 64 MB (base64 images included).
_MAX_BODY = 64 * 1024 * 1024
# Faults answered before the body is looked at.
_EARLY = ERROR_KINDS | {"html", "drop_before_headers"}
_ROUTES = {"/v1/models": "GET", "/v1/chat/completions": "POST"}
_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def build_app(state: EmulatorState) -> web.Application:
    """The ``aiohttp.web.Application`` serving ``state``'s options, script and log."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[STATE_KEY] = state
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_route("*", "/{tail:.*}", _fallback)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    return app


async def _on_startup(app: web.Application) -> None:
    app[STATE_KEY].closing = asyncio.Event()


async def _on_shutdown(app: web.Application) -> None:
    closing = app[STATE_KEY].closing
    if closing is not None:
        closing.set()


def _authorized(value: str | None, key: str | None) -> bool:
    if not value:
        return False
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    if key is None:
        return True
    return hmac.compare_digest(token.encode("utf-8", "surrogateescape"), key.encode())


def _record(
    state: EmulatorState,
    request: web.Request,
    received: float,
    body: Any = None,
    cache: DecodeCache | None = None,
    fault: Fault | None = None,
) -> None:
    if state.record_bodies and body is not None:
        body = summarize_body(body, {} if cache is None else cache)
    state.requests.append(
        RecordedRequest(
            method=request.method,
            path=request.path,
            headers=_recorded_headers(request),
            body=body if state.record_bodies else None,
            received_at=received,
            fault=fault.kind if fault is not None else None,
        )
    )


def _error(exc: ApiError, request_id: str) -> web.Response:
    body = ark_error_body(request_id, exc.code, exc.message, param=exc.param, status=exc.status)
    return json_response(body, request_id, status=exc.status)


def _unauthorized(request_id: str) -> web.Response:
    # The message never repeats the key, right or wrong.
    return _error(
        ApiError(401, "AuthenticationError", "The API key format is incorrect."), request_id
    )


def _dropped(request: web.BaseRequest) -> web.Response:
    """Close the connection; aiohttp then fails quietly to send the returned stub."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)


async def _models(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    received = time.monotonic()
    request_id = new_request_id()
    _record(state, request, received)
    if not _authorized(request.headers.get("Authorization"), state.api_key):
        return _unauthorized(request_id)
    return json_response(models_body(state.models), request_id)


async def _fallback(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    _record(state, request, time.monotonic())
    request_id = new_request_id()
    if request.path in _ROUTES:
        allowed = _ROUTES[request.path]
        exc = ApiError(405, "MethodNotAllowed", f"{request.method} is not allowed; use {allowed}.")
        return _error(exc, request_id)
    return _error(ApiError(404, "NotFound", f"There is no route {request.path}."), request_id)


def _take_fault(request: web.Request, state: EmulatorState) -> Fault | None:
    """The header's fault if the request has one, else the next scripted one, else
    (with a fault rate) maybe a random error."""
    value = request.headers.get("X-Emulator-Fault")
    if value is None:
        return state.next_fault() or state.random_fault()
    try:
        return Fault.from_header(value)
    except ValueError as exc:
        raise ApiError(400, "InvalidParameter", str(exc), "X-Emulator-Fault") from None


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    received = time.monotonic()
    try:
        raw: bytes | None = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raw = None
    request_id = new_request_id()
    state.chat_requests += 1
    authorized = _authorized(request.headers.get("Authorization"), state.api_key)
    fault: Fault | None = None
    problem: ApiError | None = None
    if authorized:
        try:
            fault = _take_fault(request, state)
        except ApiError as exc:
            problem = exc
    body: Any = None
    if raw is None:
        problem = problem or ApiError(
            413, "RequestEntityTooLarge", "The request body is over 64 MB."
        )
    else:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            problem = problem or ApiError(
                400, "InvalidParameter", "The request body is not valid JSON."
            )
    cache: DecodeCache = {}
    chat: ChatRequest | None = None
    options: StreamOptions | None = None
    early = fault is not None and fault.kind in _EARLY
    if authorized and problem is None and not early:
        try:
            chat = parse_chat(body, cache, state.models)
            options = StreamOptions.from_request(request.headers, state)
        except ApiError as exc:
            problem = exc
    _record(state, request, received, body, cache, fault)

    if not authorized:
        return _unauthorized(request_id)
    if fault is not None and early:
        return _early_fault(request, fault, request_id)
    if fault is not None and fault.kind == "stall" and not await state.pause(fault.seconds):
        return _dropped(request)
    if problem is not None:
        return _error(problem, request_id)
    if state.latency and not await state.pause(state.latency):
        return _dropped(request)
    assert chat is not None
    assert options is not None
    return await _answer(request, state, chat, options, fault, request_id)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _early_fault(request: web.Request, fault: Fault, request_id: str) -> web.Response:
    if fault.kind == "drop_before_headers":
        return _dropped(request)
    status = fault.status or 500
    if fault.kind == "html":
        response = web.Response(
            text=_HTML.format(status=status, reason=_reason(status)),
            status=status,
            content_type="text/html",
        )
        response.headers["x-request-id"] = request_id
        response.headers["request-id"] = request_id
        return response
    if fault.shape == "302":
        body = ohtwo_error_body(fault.err_code or -10003, fault.message)
    else:
        code = fault.code or "InternalServiceError"
        body = ark_error_body(
            request_id, code, fault.message or default_message(code), type=fault.type, status=status
        )
    return json_response(body, request_id, status=status, headers=dict(fault.headers))


async def _answer(
    request: web.Request,
    state: EmulatorState,
    chat: ChatRequest,
    options: StreamOptions,
    fault: Fault | None,
    request_id: str,
) -> web.StreamResponse:
    scripted = None
    if fault is not None and fault.kind == "answer":
        scripted = (fault.content or "", fault.finish_reason)
    call_id = state.next_call_id() if chat.tool_name and scripted is None else ""
    answer = answer_for(chat, call_id, scripted)
    created = int(time.time())
    kind = fault.kind if fault is not None else None
    ids = {"x-request-id": request_id, "request-id": request_id}
    if chat.stream and kind != "json_for_stream":
        payloads, before_finish = chunk_payloads(
            answer,
            request_id=request_id,
            created=created,
            model=chat.model,
            include_usage=chat.include_usage,
            chunks=options.chunks,
        )
        if kind == "drop_after_headers":
            first = b"data: " + payloads[0] + options.eol + options.eol
            return await _half_then_drop(request, first, ids, "text/event-stream")
        return await write_stream(request, state, payloads, before_finish, options, fault, ids)
    body = completion_body(answer, request_id, created, chat.model)
    if fault is not None and kind == "slow" and not await state.pause(fault.seconds):
        return _dropped(request)
    if kind == "drop_after_headers":
        return await _half_then_drop(request, orjson.dumps(body), ids, "application/json")
    return json_response(body, request_id)


async def _half_then_drop(
    request: web.Request, data: bytes, headers: dict[str, str], content_type: str
) -> web.StreamResponse:
    """200 and the headers (a JSON body promises its full length), half the body, then close."""
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = content_type
    if content_type == "application/json":
        response.content_length = len(data)
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    _dropped(request)
    return response


def _recorded_headers(request: web.Request) -> dict[str, str]:
    """Lowercased headers; the key is redacted so a recorded request's repr never shows it."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    if "authorization" in headers:
        scheme = headers["authorization"].partition(" ")[0]
        headers["authorization"] = f"{scheme} <redacted>"
    return headers
