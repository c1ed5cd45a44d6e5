"""AsyncClient: the public face; a call object and the transport do the work."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

from ._answers import read_completion, read_model_ids
from ._body import encode_body
from ._calls import Call, CallObserver, Limiter, Runtime, new_client_request_id
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
from ._exceptions import InvalidRequestError, MissingAPIKeyError
from ._images import ImageInput
from ._messages import Detail, Message, SystemMessage, TextPart, load_image_argument, user
from ._models import ChatCompletion, ChatCompletionChunk
from ._observe import default_observers
from ._partial import StructuredStream
from ._prepare import ImagePool, check_images, prepare_images
from ._ratelimit import RateLimiter
from ._request import ChatParams, ChatRequest, RequestParams, check_params
from ._resize import pillow
from ._streaming import AsyncStream
from ._structured import ParsedCompletion, prepare_request
from ._structured import parse as structured_parse
from ._transport import Transport
from ._usage import UsageTotals
from ._validate import check_at_least, check_base_url

if TYPE_CHECKING:
    import aiohttp
    from typing_extensions import Unpack

    from ._batch import Batch, BatchInput

__all__ = ["AsyncClient"]

T = TypeVar("T")
S = TypeVar("S", bound=AsyncStream[Any])


def body_size(body: Any) -> int | None:
    """Bytes a request body puts on the wire (a spliced body knows its size)."""
    return len(body) if isinstance(body, bytes) else getattr(body, "size", None)


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
        rate_limiter: a :class:`RateLimiter` to share between clients (or any
            object with its ``acquire``/``cool_down``, such as the cluster-wide one
            in ``doubao_vision.ray``); it also makes the whole client cool down
            after a 429 (always on).
        trust_env: honour ``HTTP(S)_PROXY`` and ``NO_PROXY`` (the default, as
            openai-python does); ``False`` ignores them.
        trace_configs: aiohttp ``TraceConfig`` objects, for connection-level events.
        observers: extra :class:`CallObserver` hooks run by every call.
        resize_images: downscale every inline image to the pixel budget its
            ``detail`` / ``image_pixel_limit`` implies before sending (needs the
            ``images`` extra: Pillow); images over 10 MB or 36 MP become
            sendable instead of being refused. Same answer, a fraction of the bytes.
        image_workers: threads that decode and resize images at once (memory
            stays bounded however many calls are in flight).

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
        rate_limiter: Limiter | None = None,
        trust_env: bool = True,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        observers: Sequence[CallObserver] = (),
        resize_images: bool = False,
        image_workers: int = 2,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._is_view = False
        url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self.base_url = check_base_url(url)
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
        if resize_images:
            pillow()  # a missing extra fails here, naming it, not at the first call
        self._resize_images = resize_images
        self._image_pool = ImagePool(image_workers)
        transport = Transport(
            limits, session=session, trust_env=trust_env, trace_configs=trace_configs
        )
        limiter: Limiter = rate_limiter or RateLimiter(rpm=rpm, tpm=tpm)
        self._runtime = Runtime(
            transport,
            limiter,
            max_concurrency or limits.max_connections,
            observers=[*default_observers(), *observers],
        )

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncClient:
        """A view of this client with other per-call options.

        It shares the pool, the in-flight limit, the rate limiter and the usage
        totals (``view.usage is client.usage``); closing either closes the pool.
        ``default_headers`` are added to (and override) the client's own.
        """
        view = copy.copy(self)
        view._is_view = True
        if timeout is not None:
            view.timeout = to_timeout(timeout)
        if retry is not None:
            view.retry = retry
        if max_retries is not None:
            view.retry = attrs.evolve(view.retry, max_retries=max_retries)
        if default_headers:
            view._default_headers = {**self._default_headers, **default_headers}
        return view

    # -- lifecycle -------------------------------------------------------

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool (if we own it). Safe to call more than once."""
        await self._runtime.transport.aclose()
        if not self._is_view:
            await self._image_pool.aclose()

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
        if getattr(self, "_is_view", True):
            return  # a with_options view: the client it came from owns the pool
        if runtime is not None and runtime.transport.has_open_session:
            _warn(
                f"{self!r} was never closed: use 'async with AsyncClient()' "
                "or 'await client.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def _call(
        self,
        request: ChatRequest | None,
        timeout: Timeout | float | None,
        accept: str,
        *,
        kind: str,
        method: str,
        url: str,
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
        return Call(
            self._runtime,
            self.retry,
            effective,
            headers,
            request,
            client_request_id,
            kind=kind,
            method=method,
            url=url,
        )

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
        check_params(params)
        request = ChatRequest(model=model, messages=messages, **params)
        return await self.send(request, timeout=timeout)

    async def send(
        self, request: ChatRequest, *, timeout: Timeout | float | None = None
    ) -> ChatCompletion:
        """Send a prepared :class:`ChatRequest` and return its completion."""
        if self._resize_images:
            request = await prepare_images(request, resize=True, pool=self._image_pool)
        else:
            check_images(request)  # what prepare_images does then, without a coroutine
        call = self._call(
            request, timeout, "application/json", kind="chat", method="POST", url=self._chat_url
        )
        body = encode_body(request.to_payload(stream=False))
        call.body_size = body_size(body)
        async with call:
            completion = await call.run(self._chat_once, call, body)
            self._runtime.usage.add_completion(completion.usage)
            call.finish(completion, None)  # also fills completion.http
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
        call.answered(answer.status, answer.headers)
        return read_completion(
            answer.status, answer.headers, answer.body, call.client_request_id, self._api_key
        )

    @overload
    async def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = ...,
        detail: Detail | None = ...,
        system: str | None = ...,
        timeout: Timeout | float | None = ...,
        response_format: Mapping[str, Any] | None = ...,
        **params: Unpack[RequestParams],
    ) -> str: ...
    @overload
    async def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = ...,
        detail: Detail | None = ...,
        system: str | None = ...,
        timeout: Timeout | float | None = ...,
        response_format: type[T],
        **params: Unpack[RequestParams],
    ) -> T: ...
    async def ask(
        self,
        prompt: str,
        *images: ImageInput,
        model: str = DEFAULT_MODEL,
        detail: Detail | None = None,
        system: str | None = None,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Any:
        """The one-liner: ``await client.ask("What is this?", "cat.png")`` -> the answer text.

        Every positional argument after the prompt is an image: a path to an
        existing file, an http(s)/data/file URL, bytes, a ``pathlib.Path`` or an
        :class:`Image`. Files are read off the event loop. With
        ``response_format=SomeClass`` (attrs or dataclass) the answer is read into
        that class, as :meth:`parse` does, and the instance is returned.

        Raises:
            ImageError: an image argument is none of those (a second prompt, a
                model id, a missing file, a folder): nothing is sent.
            OutputValidationError: see :meth:`parse`.
        """
        check_params(params)
        if not isinstance(prompt, str):
            raise InvalidRequestError(
                f"ask(prompt, *images): the prompt must be a str, got {type(prompt).__name__}"
            )
        loaded = [await load_image_argument(item, index) for index, item in enumerate(images, 1)]
        messages: list[Message] = [SystemMessage(system)] if system else []
        messages.append(user(TextPart(prompt), *loaded, detail=detail))
        if response_format is not None and not isinstance(response_format, Mapping):
            parsed = await self.parse(
                model, messages, response_format=response_format, timeout=timeout, **params
            )
            return parsed.parsed
        completion = await self.chat(
            model, messages, timeout=timeout, response_format=response_format, **params
        )
        return completion.text

    @overload
    async def parse(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        response_format: type[T],
        max_repairs: int = ...,
        timeout: Timeout | float | None = ...,
        **params: Unpack[RequestParams],
    ) -> ParsedCompletion[T]: ...
    @overload
    async def parse(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        response_format: Mapping[str, Any],
        max_repairs: int = ...,
        timeout: Timeout | float | None = ...,
        **params: Unpack[RequestParams],
    ) -> ParsedCompletion[Any]: ...
    async def parse(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        response_format: type[Any] | Mapping[str, Any],
        max_repairs: int = 1,
        timeout: Timeout | float | None = None,
        **params: Unpack[RequestParams],
    ) -> ParsedCompletion[Any]:
        """Ask for an instance of ``response_format`` (an attrs class or dataclass)
        and read it from the answer: ``(await client.parse(...)).parsed``.

        The schema goes as ``json_schema`` to models that take it, else as
        ``json_object`` plus the schema in the system message. ``<think>``
        blocks, code fences and prose around the JSON are stripped; an answer
        that does not fit is sent back with its error paths up to
        ``max_repairs`` times (counted in ``client.usage.repair_*``).

        Raises:
            OutputValidationError: still no fit after the repairs (``.text``, ``.errors``).
            LengthFinishReasonError: the answer was cut at ``max_tokens``.
            ContentFilterFinishReasonError: a content filter or a refusal stopped it.
            InvalidRequestError, APIStatusError, APIConnectionError: as for :meth:`chat`.
        """
        check_params(params)
        return await structured_parse(
            self,
            model,
            messages,
            response_format=response_format,
            max_repairs=max_repairs,
            timeout=timeout,
            **params,
        )

    @overload
    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = ...,
        response_format: Mapping[str, Any] | None = ...,
        **params: Unpack[RequestParams],
    ) -> AsyncStream[ChatCompletionChunk]: ...
    @overload
    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = ...,
        response_format: type[T],
        **params: Unpack[RequestParams],
    ) -> StructuredStream[T]: ...
    def stream(
        self,
        model: str,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> AsyncStream[ChatCompletionChunk]:
        """Stream a completion: ``async with client.stream(...) as s: async for chunk in s``.

        The request is checked now (bad input raises here); it is sent on
        ``async with`` or the first ``async for``. With ``response_format=SomeClass``
        the stream is a :class:`StructuredStream`: ``partial_objects()`` while it
        streams, ``final_parsed()`` at the end.
        """
        check_params(params)
        if response_format is not None and not isinstance(response_format, Mapping):
            request = prepare_request(model, messages, response_format=response_format, **params)
            stream: StructuredStream[Any] = self._open_stream(request, timeout, StructuredStream)
            stream._response_format = response_format
            return stream
        request = ChatRequest(
            model=model, messages=messages, response_format=response_format, **params
        )
        return self.stream_request(request, timeout=timeout)

    def stream_request(
        self, request: ChatRequest, *, timeout: Timeout | float | None = None
    ) -> AsyncStream[ChatCompletionChunk]:
        """Stream a prepared :class:`ChatRequest`."""
        return self._open_stream(request, timeout, AsyncStream)

    def _open_stream(
        self, request: ChatRequest, timeout: Timeout | float | None, kind: type[S]
    ) -> S:
        call = self._call(
            request, timeout, "text/event-stream", kind="stream", method="POST", url=self._chat_url
        )
        if not self._resize_images:
            check_images(request)  # the limits, now: nothing is sent if one is over
            body = encode_body(request.to_payload(stream=True))
            call.body_size = body_size(body)
            return kind(call, self._chat_url, body, self._api_key)

        async def prepare() -> Any:
            """Resize when the stream starts (off the loop), then encode the body."""
            prepared = await prepare_images(request, resize=True, pool=self._image_pool)
            call.request = prepared  # the limiter counts the resized images
            body = encode_body(prepared.to_payload(stream=True))
            call.body_size = body_size(body)
            return body

        return kind(call, self._chat_url, None, self._api_key, prepare)

    def batch(
        self,
        requests: BatchInput,
        *,
        concurrency: int = 16,
        fail_fast: bool = False,
        timeout: Timeout | float | None = None,
        response_format: type[Any] | None = None,
    ) -> Batch:
        """Run many requests with at most ``concurrency`` in flight.

        ``async for result in client.batch(reqs)`` yields results as they
        complete, each tagged with its input index; ``await client.batch(reqs)``
        returns them in input order. With ``response_format=SomeClass`` (or a
        class as an item mapping's ``response_format``) each result's
        ``.parsed`` is that class's instance. See :class:`Batch`.
        """
        from ._batch import Batch

        return Batch(
            self,
            requests,
            concurrency=concurrency,
            fail_fast=fail_fast,
            timeout=timeout,
            response_format=response_format,
        )

    async def models(self) -> list[str]:
        """The model ids the gateway lists (``GET /models``)."""
        url = f"{self.base_url}/models"
        call = self._call(None, None, "application/json", kind="models", method="GET", url=url)
        async with call:
            ids = await call.run(self._models_once, call)
            call.finish(ids, None)
        return ids

    async def _models_once(self, call: Call) -> list[str]:
        answer = await call.transport.request(
            "GET",
            call.url,
            headers=call.headers,
            timeout=call.timeout,
            client_request_id=call.client_request_id,
        )
        call.answered(answer.status, answer.headers)
        return read_model_ids(
            answer.status, answer.headers, answer.body, call.client_request_id, self._api_key
        )
