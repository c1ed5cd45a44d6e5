"""AsyncClient: owns one pooled aiohttp session, sends, retries, parses."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
import orjson

from ._body import encode_body
from ._config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    Limits,
    RetryPolicy,
    Timeout,
    to_timeout,
)
from ._errors import (
    error_from_payload,
    error_from_response,
    server_request_id,
)
from ._exceptions import (
    APIStatusError,
    DoubaoVisionError,
    MissingAPIKeyError,
    RateLimitError,
    ResponseValidationError,
)
from ._images import ImageInput
from ._messages import Detail, Message, SystemMessage, TextPart, user
from ._models import ChatCompletion, ChatCompletionChunk
from ._ratelimit import RateLimiter
from ._request import ChatParams, ChatRequest
from ._retry import retry_delay
from ._serde import parse_completion
from ._streaming import AsyncStream
from ._transport import aiohttp_timeout, map_transport_errors
from ._usage import UsageTotals
from ._version import __version__

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._batch import Batch, BatchInput

__all__ = ["AsyncClient"]

log = logging.getLogger("doubao_vision")

_USER_AGENT = f"doubao-vision/{__version__} aiohttp/{aiohttp.__version__}"


def new_client_request_id() -> str:
    """Ark's shape: ``YYYYmmddHHMMSS`` + 20 random alphanumerics."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10)


class AsyncClient:
    """An asyncio client for Doubao vision chat, safe to share across thousands of tasks.

    Args:
        api_key: the gateway key; else ``DOUBAO_VISION_API_KEY``. A missing key
            raises :class:`MissingAPIKeyError` at the first request, not here.
        base_url: else ``DOUBAO_VISION_BASE_URL``, else 302.AI
            (``https://api.302.ai/v1``). Ark: :data:`ARK_BASE_URL`.
        timeout: a :class:`Timeout`, or seconds as a total per attempt.
        max_retries: retries after the first attempt (see :class:`RetryPolicy`).
        max_connections: the pool size; also the default bound on calls in flight.
        max_concurrency: calls in flight at once (queued beyond it, with no
            timeout running while queued); defaults to ``max_connections``.
        default_headers: sent with every request.
        session: your own ``aiohttp.ClientSession``; used as is and never closed
            by us (then ``max_connections`` is your connector's business).
        retry: a full :class:`RetryPolicy`; ``max_retries`` overrides its count.
        limits: a full :class:`Limits`; ``max_connections`` overrides its size.
        rpm: client-side limit on requests per minute (shared by every call).
        tpm: client-side limit on estimated tokens per minute.
        rate_limiter: a :class:`RateLimiter` to share between clients; it also
            makes the whole client cool down after a 429 (always on).

    Use ``async with AsyncClient() as client:`` or ``await client.aclose()``.
    One client belongs to one event loop; make one per loop.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        max_connections: int | None = None,
        max_concurrency: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self.base_url = url.rstrip("/")
        self.timeout = to_timeout(timeout)
        retry = retry or RetryPolicy()
        self.retry = retry if max_retries is None else attrs.evolve(retry, max_retries=max_retries)
        limits = limits or Limits()
        if max_connections is not None:
            limits = attrs.evolve(limits, max_connections=max_connections)
        self.limits = limits
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._max_in_flight = max_concurrency or limits.max_connections
        self._default_headers = dict(default_headers or {})
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: asyncio.Semaphore | None = None
        self._closed = False
        self.rate_limiter = rate_limiter or RateLimiter(rpm=rpm, tpm=tpm)
        self.usage = UsageTotals()

    # -- lifecycle -------------------------------------------------------

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool (if we own it). Safe to call more than once."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"<AsyncClient base_url={self.base_url!r} api_key={key}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        session = getattr(self, "_session", None)
        if session is not None and getattr(self, "_owns_session", False) and not session.closed:
            _warn(
                f"{self!r} was never closed: use 'async with AsyncClient()' "
                "or 'await client.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def _bind(self) -> aiohttp.ClientSession:
        """The session, made lazily inside the running loop on first use."""
        if self._closed:
            raise RuntimeError("this AsyncClient is closed; make a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._in_flight = asyncio.Semaphore(self._max_in_flight)
        elif self._loop is not loop:
            raise RuntimeError(
                "this AsyncClient is bound to the event loop it was first used in; "
                "make one client per event loop (aiohttp sessions cannot cross loops)"
            )
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections,
                limit_per_host=self.limits.max_connections_per_host,
                keepalive_timeout=self.limits.keepalive_expiry,
                ttl_dns_cache=self.limits.dns_cache_ttl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": _USER_AGENT}
            )
        return self._session

    def _headers(
        self, extra: Mapping[str, str] | None, client_request_id: str, accept: str
    ) -> dict[str, str]:
        if not self._api_key:
            raise MissingAPIKeyError(
                f"no API key: pass AsyncClient(api_key=...) or set the {API_KEY_ENV} "
                "environment variable"
            )
        headers = {
            **self._default_headers,
            "Accept": accept,
            "Content-Type": "application/json",
            "X-Client-Request-Id": client_request_id,
        }
        if extra:
            headers.update(extra)
        headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    # -- public calls ----------------------------------------------------

    async def chat(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        **params: Unpack[ChatParams],
    ) -> ChatCompletion:
        """Ask for a whole completion.

        Raises:
            InvalidRequestError: bad input (nothing was sent).
            APIStatusError: the server said no (a subclass per status).
            APIConnectionError: no complete answer arrived (after retries).
        """
        request = ChatRequest(model=model, messages=messages, **params)
        return await self.send(request, timeout=timeout)

    async def send(
        self, request: ChatRequest, *, timeout: Timeout | float | None = None
    ) -> ChatCompletion:
        """Send a prepared :class:`ChatRequest` and return its completion."""
        body = encode_body(request.to_payload(stream=False))
        client_request_id = new_client_request_id()
        headers = self._headers(request.extra_headers, client_request_id, "application/json")
        effective = self.timeout if timeout is None else to_timeout(timeout)
        async with self._attempts(request, client_request_id) as attempt:
            while True:
                try:
                    status, resp_headers, raw = await self._post(
                        body, headers, effective, client_request_id
                    )
                    completion = self._completion(status, resp_headers, raw, client_request_id)
                except DoubaoVisionError as error:
                    await attempt.failed(error)
                    continue
                self.usage.add_completion(completion.usage)
                return completion

    async def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = DEFAULT_MODEL,
        detail: Detail | None = None,
        system: str | None = None,
        timeout: Timeout | float | None = None,
        **params: Unpack[ChatParams],
    ) -> str:
        """The one-liner: ``await client.ask("What is this?", "cat.png")`` -> the answer text."""
        messages: list[Message] = [SystemMessage(system)] if system else []
        messages.append(user(TextPart(prompt), *images, detail=detail))
        completion = await self.chat(model, messages, timeout=timeout, **params)
        return completion.text

    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        **params: Unpack[ChatParams],
    ) -> AsyncStream[ChatCompletionChunk]:
        """Stream a completion: ``async with client.stream(...) as s: async for chunk in s``.

        The request is checked now (bad input raises here); it is sent on
        ``async with`` or the first ``async for``.
        """
        request = ChatRequest(model=model, messages=messages, **params)
        return self.stream_request(request, timeout=timeout)

    def stream_request(
        self, request: ChatRequest, *, timeout: Timeout | float | None = None
    ) -> AsyncStream[ChatCompletionChunk]:
        """Stream a prepared :class:`ChatRequest`."""
        client_request_id = new_client_request_id()
        headers = self._headers(request.extra_headers, client_request_id, "text/event-stream")
        body = encode_body(request.to_payload(stream=True))
        effective = self.timeout if timeout is None else to_timeout(timeout)
        return AsyncStream(self, request, body, headers, effective, client_request_id)

    def batch(
        self,
        requests: BatchInput,
        *,
        concurrency: int = 16,
        fail_fast: bool = False,
        timeout: Timeout | float | None = None,
    ) -> Batch:
        """Run many requests with at most ``concurrency`` in flight.

        ``async for result in client.batch(reqs)`` yields results as they
        complete, each tagged with its input index; ``await client.batch(reqs)``
        returns them in input order. See :class:`Batch`.
        """
        from ._batch import Batch

        return Batch(self, requests, concurrency=concurrency, fail_fast=fail_fast, timeout=timeout)

    async def models(self) -> list[str]:
        """The model ids the gateway lists (``GET /models``)."""
        client_request_id = new_client_request_id()
        headers = self._headers(None, client_request_id, "application/json")
        async with self._attempts(None, client_request_id) as attempt:
            while True:
                try:
                    with map_transport_errors(client_request_id):
                        async with self._bind().get(
                            f"{self.base_url}/models",
                            headers=headers,
                            timeout=aiohttp_timeout(self.timeout),
                        ) as resp:
                            raw = await resp.read()
                    if resp.status >= 400:
                        raise error_from_response(
                            resp.status, resp.headers, raw, client_request_id=client_request_id
                        )
                    return [item["id"] for item in orjson.loads(raw)["data"]]
                except DoubaoVisionError as error:
                    await attempt.failed(error)
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ResponseValidationError(
                        f"the model list does not fit: {exc}", path="$.data"
                    ) from exc

    # -- internals -------------------------------------------------------

    def _attempts(self, request: ChatRequest | None, client_request_id: str) -> _Attempts:
        """``async with``: one call's retries, holding one in-flight slot throughout."""
        return _Attempts(self, request, client_request_id)

    async def _acquire_slot(self) -> None:
        self._bind()
        assert self._in_flight is not None
        await self._in_flight.acquire()

    def _release_slot(self) -> None:
        if self._in_flight is not None:
            self._in_flight.release()

    async def _post(
        self, body: Any, headers: dict[str, str], timeout: Timeout, client_request_id: str
    ) -> tuple[int, Any, bytes]:
        with map_transport_errors(client_request_id):
            async with self._bind().post(
                f"{self.base_url}/chat/completions",
                data=body,
                headers=headers,
                timeout=aiohttp_timeout(timeout),
            ) as resp:
                return resp.status, resp.headers, await resp.read()

    @staticmethod
    def _completion(
        status: int, headers: Any, raw: bytes, client_request_id: str
    ) -> ChatCompletion:
        if status >= 400:
            raise error_from_response(status, headers, raw, client_request_id=client_request_id)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            snippet = raw[:120].decode("utf-8", "replace")
            raise ResponseValidationError(
                f"the completion is not JSON ({exc}): {snippet!r}", path="$", body=snippet
            ) from exc
        if isinstance(data, dict) and "error" in data and "choices" not in data:
            # Some gateways answer 200 with an error body.
            raise error_from_payload(
                data, status=status, headers=headers, client_request_id=client_request_id
            )
        completion = parse_completion(data)
        # The completion was built just now and nothing else holds it: fill in our two
        # bookkeeping fields in place (as attrs' own __init__ would) instead of copying
        # every field through attrs.evolve on each request.
        object.__setattr__(completion, "request_id", server_request_id(headers))
        object.__setattr__(completion, "client_request_id", client_request_id)
        return completion


class _Attempts:
    """The retry bookkeeping of one call: wait, count, and decide.

    ``async with`` it to hold an in-flight slot for the whole call, retries
    included (streams hold theirs themselves, for the stream's life). A plain
    class rather than ``contextlib.asynccontextmanager``: this runs on every
    call, and an async generator per call costs more than the rest of it.
    """

    __slots__ = ("_client", "_client_request_id", "_request", "retries")

    def __init__(
        self, client: AsyncClient, request: ChatRequest | None, client_request_id: str
    ) -> None:
        self._client = client
        self._request = request
        self._client_request_id = client_request_id
        self.retries = 0

    async def __aenter__(self) -> _Attempts:
        client = self._client
        await client._acquire_slot()
        try:
            await self.start()
        except BaseException:
            client._release_slot()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._client._release_slot()

    async def start(self) -> None:
        self._client.usage.requests += 1
        await self._client.rate_limiter.acquire(self._request)

    async def failed(self, error: DoubaoVisionError) -> None:
        """Sleep before the next attempt, or re-raise ``error`` if it is final."""
        client = self._client
        delay = retry_delay(client.retry, self.retries, error)
        limiter = client.rate_limiter
        if isinstance(error, RateLimitError):
            limiter.cool_down(delay if delay is not None else 0.0)
        if delay is None:
            client.usage.add_error(error)
            raise error
        self.retries += 1
        client.usage.retries += 1
        status = error.status_code if isinstance(error, APIStatusError) else type(error).__name__
        log.info(
            "retrying in %.2fs after %s (retry %d of %d, client request id %s)",
            delay,
            status,
            self.retries,
            client.retry.max_retries,
            self._client_request_id,
        )
        await asyncio.sleep(delay)
        await limiter.acquire(self._request)
