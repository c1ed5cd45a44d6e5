"""AsyncClient: the public face; a call object and the transport do the work."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._answers import error_from_response, read_completion, read_model_ids
from ._body import encode_body
from ._calls import Call, Limiter, Runtime, new_client_request_id
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
from ._exceptions import MissingAPIKeyError
from ._images import ImageInput
from ._messages import Detail, Message, SystemMessage, TextPart, user
from ._models import ChatCompletion, ChatCompletionChunk
from ._ratelimit import RateLimiter
from ._request import ChatParams, ChatRequest
from ._streaming import AsyncStream
from ._transport import Transport
from ._usage import UsageTotals
from ._validate import check_at_least

if TYPE_CHECKING:
    import aiohttp
    from typing_extensions import Unpack

    from ._batch import Batch, BatchInput

__all__ = ["AsyncClient"]


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
        self._chat_url = f"{self.base_url}/chat/completions"
        self.timeout = to_timeout(timeout)
        retry = retry or RetryPolicy()
        self.retry = retry if max_retries is None else attrs.evolve(retry, max_retries=max_retries)
        limits = limits or Limits()
        if max_connections is not None:
            limits = attrs.evolve(limits, max_connections=max_connections)
        self.limits = limits
        if max_concurrency is not None:
            check_at_least("max_concurrency", max_concurrency, 1)
        self._default_headers = dict(default_headers or {})
        transport = Transport(limits, session=session)
        limiter: Limiter = rate_limiter or RateLimiter(rpm=rpm, tpm=tpm)
        self._runtime = Runtime(transport, limiter, max_concurrency or limits.max_connections)

    # -- lifecycle -------------------------------------------------------

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool (if we own it). Safe to call more than once."""
        await self._runtime.transport.aclose()

    @property
    def rate_limiter(self) -> Limiter:
        """The limiter every call passes (shared if you passed one in)."""
        return self._runtime.limiter

    @property
    def usage(self) -> UsageTotals:
        """Running totals: calls, retries, errors by class, tokens."""
        return self._runtime.usage

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"<AsyncClient base_url={self.base_url!r} api_key={key}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        runtime = getattr(self, "_runtime", None)
        if runtime is not None and runtime.transport.has_open_session:
            _warn(
                f"{self!r} was never closed: use 'async with AsyncClient()' "
                "or 'await client.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def _call(
        self, request: ChatRequest | None, timeout: Timeout | float | None, accept: str
    ) -> Call:
        """A new call with its headers; no key is a :class:`MissingAPIKeyError` now."""
        if not self._api_key:
            raise MissingAPIKeyError(
                f"no API key: pass AsyncClient(api_key=...) or set the {API_KEY_ENV} "
                "environment variable"
            )
        client_request_id = new_client_request_id()
        headers = {
            **self._default_headers,
            "Accept": accept,
            "Content-Type": "application/json",
            "X-Client-Request-Id": client_request_id,
        }
        if request is not None and request.extra_headers:
            headers.update(request.extra_headers)
        headers["Authorization"] = f"Bearer {self._api_key}"
        effective = self.timeout if timeout is None else to_timeout(timeout)
        return Call(self._runtime, self.retry, effective, headers, request, client_request_id)

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
        call = self._call(request, timeout, "application/json")
        body = encode_body(request.to_payload(stream=False))
        async with call:
            completion = await call.run(self._chat_once, call, body)
        self._runtime.usage.add_completion(completion.usage)
        return completion

    async def _chat_once(self, call: Call, body: Any) -> ChatCompletion:
        answer = await call.transport.request(
            "POST",
            self._chat_url,
            body=body,
            headers=call.headers,
            timeout=call.timeout,
            client_request_id=call.client_request_id,
        )
        return read_completion(
            answer.status, answer.headers, answer.body, call.client_request_id, self._api_key
        )

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
        call = self._call(request, timeout, "text/event-stream")
        body = encode_body(request.to_payload(stream=True))
        return AsyncStream(call, self._chat_url, body, self._api_key)

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
        call = self._call(None, None, "application/json")
        async with call:
            return await call.run(self._models_once, call)

    async def _models_once(self, call: Call) -> list[str]:
        answer = await call.transport.request(
            "GET",
            f"{self.base_url}/models",
            headers=call.headers,
            timeout=call.timeout,
            client_request_id=call.client_request_id,
        )
        if answer.status >= 400:
            raise error_from_response(
                answer.status,
                answer.headers,
                answer.body,
                client_request_id=call.client_request_id,
                secret=self._api_key,
            )
        return read_model_ids(answer.body)
