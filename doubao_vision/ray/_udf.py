"""AskImages: the callable class ``Dataset.map_batches`` runs, one per Ray actor.

Each actor owns one :class:`AsyncClient`, made lazily on the event loop Ray
Data runs async UDFs on (one loop per actor, several batches in flight on it),
so every batch in the actor shares one connection pool and one bound on calls
in flight (``max_in_flight``). The client is closed when Ray ends the actor
gracefully (Ray Data drops the UDF, which runs ``__del__``).

A row that fails (a broken image, a 400, retries used up) becomes a row with
``error_type`` and ``error_message``; errors no row can get past (401, 403, 404,
a used-up quota, no API key) are raised, which stops the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]  # no type hints
import ray
import ray.data

from doubao_vision import (
    DEFAULT_MODEL,
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    ChatCompletion,
    ChatRequest,
    DoubaoVisionError,
    Image,
    ImageError,
    ImagePart,
    ImageURL,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    SystemMessage,
    TextPart,
    Timeout,
    UserMessage,
)

from .._extract import parsed_from, to_json_data
from .._schema import json_schema
from .._structured import with_response_format
from ._limiter import ClusterLimit, ClusterRateLimiter
from ._resume import KEY_COLUMN, image_identity, question_digest, row_key

__all__ = ["OUTPUT_COLUMNS", "AskImages", "is_fatal"]

#: The columns AskImages adds to every row it returns.
_OUTPUT_TYPES = (
    ("answer", pa.string()),
    ("finish_reason", pa.string()),
    ("usage_prompt_tokens", pa.int64()),
    ("usage_completion_tokens", pa.int64()),
    ("request_id", pa.string()),
    ("error_type", pa.string()),
    ("error_message", pa.string()),
    ("parsed", pa.string()),  # with a response_format class: the object, as JSON
    (KEY_COLUMN, pa.string()),
)
#: The columns AskImages adds to every row it returns.
OUTPUT_COLUMNS = tuple(name for name, _ in _OUTPUT_TYPES)
_CLOSE_TIMEOUT = 5.0


def is_fatal(error: DoubaoVisionError) -> bool:
    """True for errors no other row can get past: bad key, no access, unknown model, no quota."""
    if isinstance(error, RateLimitError):
        return error.is_quota
    return isinstance(
        error, (AuthenticationError, PermissionDeniedError, NotFoundError, MissingAPIKeyError)
    )


def to_image(value: Any) -> Image:
    """An :class:`Image` from a row's value: bytes, a path, a URL, or a decoded array.

    Raises:
        ImageError: the value is missing, or not an image Doubao takes.
    """
    if isinstance(value, Image):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Image.from_bytes(value)
    if isinstance(value, str):
        text = value.strip()
        if text[:8].lower().startswith(("http://", "https://", "data:")):
            return Image.from_url(text)
        return Image.from_path(text)
    if isinstance(value, os.PathLike):
        return Image.from_path(value)
    if isinstance(value, np.ndarray):
        return Image.from_bytes(_png(value), name=f"<array {value.shape}>")
    what = "no image" if value is None else f"a {type(value).__name__}"
    raise ImageError(f"the image column holds {what}", source="<row>")


def _png(array: np.ndarray[Any, Any]) -> bytes:
    """PNG bytes of a decoded image (what ``ray.data.read_images`` gives), with Pillow."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise ImageError(
            "decoded image arrays are sent as PNG, which needs Pillow: pip install pillow "
            "(or read the files with ray.data.read_binary_files to send them as they are)",
            source="<array>",
        ) from None
    try:
        picture = PILImage.fromarray(array)
    except (TypeError, ValueError) as exc:
        raise ImageError(
            f"an array of shape {array.shape} and dtype {array.dtype} is not an image: {exc}",
            source="<array>",
        ) from exc
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # fast; the bytes go over a LAN
    return buffer.getvalue()


class AskImages:
    """Ask one question about the image in each row; for ``Dataset.map_batches``.

    Use it through :func:`map_images`, or directly::

        ds.map_batches(
            AskImages,
            fn_constructor_kwargs={"prompt": "What is in the picture?", "limit": limit},
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=4),
            num_cpus=0.25,
        )

    Args:
        prompt: the question asked about every image.
        model: the model id.
        image_column: the column holding bytes, paths, URLs or decoded arrays.
        api_key, base_url: as for :class:`AsyncClient` (else the environment).
        max_in_flight: calls in flight at once in this actor.
        limit: a cluster-wide budget from :func:`cluster_limit` (None: no limit).
        detail: ``"low"``, ``"high"`` or ``"auto"`` for every image.
        system: a system prompt.
        retry, timeout: as for :class:`AsyncClient`.
        skip: resume keys of rows answered before; those rows are dropped.
        response_format: an attrs class or dataclass to read each answer into
            (its JSON goes in the ``parsed`` column; a misfit is the row's
            ``OutputValidationError``), or a ready mapping sent as is.
        params: request fields (``temperature``, ``max_tokens``, ...).

    Raises:
        InvalidRequestError: ``params`` that no request could carry (raised here,
            on the driver, before any actor starts).
    """

    def __init__(
        self,
        *,
        prompt: str,
        model: str = DEFAULT_MODEL,
        image_column: str = "image",
        api_key: str | None = None,
        base_url: str | None = None,
        max_in_flight: int = 16,
        limit: ClusterLimit | None = None,
        detail: Literal["low", "high", "auto"] | None = None,
        system: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = None,
        skip: frozenset[str] | ray.ObjectRef | None = None,  # type: ignore[type-arg]
        response_format: type[Any] | Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        self._parse_as: type[Any] | None = None
        if isinstance(response_format, type):
            self._parse_as = response_format
        elif response_format is not None:
            params["response_format"] = response_format
        ChatRequest(model=model, messages=[UserMessage([TextPart(prompt)])], **params)
        self.prompt = prompt
        self.model = model
        self.image_column = image_column
        self.detail = detail
        self.system = system
        self.params: Mapping[str, Any] = params
        self._client_options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "max_connections": max_in_flight,
            "max_concurrency": max_in_flight,
            "retry": retry,
        }
        if timeout is not None:
            self._client_options["timeout"] = timeout
        self._limit = limit
        self._skip = skip
        asked = {**params, "detail": detail, "system": system}
        if self._parse_as is not None:  # a new class is a new question
            asked["parse_as"] = json_schema(self._parse_as)
        self._question = question_digest(prompt, model, asked)
        self._client: AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fatal: DoubaoVisionError | None = None
        self._max_in_flight = max_in_flight
        # Our own bound on calls in flight (the client has one too): a call checks
        # for a fatal error after its turn comes, so a 401 stops the rest unsent.
        self._slots: asyncio.Semaphore | None = None

    # -- the batch -------------------------------------------------------------

    async def __call__(self, batch: Any) -> Any:
        """Answer every row of ``batch`` (a ``pyarrow.Table``); returns its rows with results.

        Rows skipped for resume are left out. The added columns have fixed
        types (strings and int64, null where empty), whatever the batch holds.
        """
        if not isinstance(batch, pa.Table):
            raise TypeError(
                f"AskImages takes pyarrow batches, not {type(batch).__name__}: "
                'pass batch_format="pyarrow" to map_batches'
            )
        if self._fatal is not None:  # another batch of this actor hit it: do not spend more
            raise _unwrapped(self._fatal)
        try:
            client = self._bind()
        except DoubaoVisionError as error:  # a client that cannot be made, for no row
            self._fatal = error
            raise _unwrapped(error) from None
        skip = self._skipped()
        values = _values(batch.column(self.image_column))
        prepared = await asyncio.to_thread(self._prepare, values, skip)
        results = await asyncio.gather(
            *(self._ask(client, item) for key, item in prepared if key is not None),
            return_exceptions=True,
        )
        for result in results:  # a bug or a dead budget actor: fail the job with it
            if isinstance(result, BaseException) and not isinstance(result, DoubaoVisionError):
                raise result
        if self._fatal is not None:
            raise _unwrapped(self._fatal)
        keep = pa.array([key is not None for key, _ in prepared], type=pa.bool_())
        out = batch.filter(keep)
        rows = [_row(result) for result in results]  # type: ignore[arg-type]
        for index, (name, kind) in enumerate(_OUTPUT_TYPES[:-1]):
            out = out.append_column(name, pa.array([row[index] for row in rows], type=kind))
        keys = [key for key, _ in prepared if key is not None]
        return out.append_column(KEY_COLUMN, pa.array(keys, type=pa.string()))

    def _prepare(
        self, values: list[Any], skip: frozenset[str]
    ) -> list[tuple[str | None, ChatRequest | DoubaoVisionError]]:
        """(resume key or None to skip the row, request or the error that replaces it)."""
        prepared: list[tuple[str | None, ChatRequest | DoubaoVisionError]] = []
        for value in values:
            key = row_key(image_identity(value), self._question)
            if key in skip:
                prepared.append((None, _SKIPPED))
                continue
            try:
                prepared.append((key, self._request(to_image(value))))
            except DoubaoVisionError as error:
                prepared.append((key, error))
        return prepared

    def _request(self, image: Image) -> ChatRequest:
        part = ImagePart(ImageURL(image, self.detail))
        messages: list[Any] = [SystemMessage(self.system)] if self.system else []
        messages.append(UserMessage([TextPart(self.prompt), part]))
        request = ChatRequest(model=self.model, messages=messages, **self.params)
        if self._parse_as is not None:
            request = with_response_format(request, self._parse_as)
        return request

    async def _ask(
        self, client: AsyncClient, item: ChatRequest | DoubaoVisionError
    ) -> tuple[ChatCompletion, str | None] | DoubaoVisionError:
        if isinstance(item, DoubaoVisionError):
            return item
        assert self._slots is not None
        async with self._slots:
            if self._fatal is not None:  # the job is stopping: send nothing more
                return self._fatal
            try:
                completion = await client.send(item)
            except DoubaoVisionError as error:
                if self._fatal is None and is_fatal(error):
                    self._fatal = error
                return error
        if self._parse_as is None:
            return completion, None
        try:
            parsed = parsed_from(completion, self._parse_as)
        except DoubaoVisionError as error:
            return error
        return completion, orjson.dumps(to_json_data(parsed)).decode()

    def _skipped(self) -> frozenset[str]:
        skip = self._skip
        if skip is None:
            return frozenset()
        if isinstance(skip, ray.ObjectRef):  # resolved once per actor, on first use
            skip = self._skip = ray.get(skip)
        return skip

    # -- the client ------------------------------------------------------------

    def _bind(self) -> AsyncClient:
        if self._client is None:
            limiter = ClusterRateLimiter(self._limit) if self._limit is not None else None
            options = {k: v for k, v in self._client_options.items() if v is not None}
            self._client = AsyncClient(rate_limiter=limiter, **options)
            self._loop = asyncio.get_running_loop()
            self._slots = asyncio.Semaphore(self._max_in_flight)
        return self._client

    def close(self) -> None:
        """Close this actor's client (Ray Data calls ``__del__``, which calls this)."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is None or loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # cannot wait for our own loop from inside it
            loop.create_task(client.aclose())
        elif loop.is_running():  # Ray's UDF loop, in its own thread
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(_CLOSE_TIMEOUT)
        else:
            loop.run_until_complete(client.aclose())

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # nothing sensible to do in a finaliser
            self.close()


_SKIPPED = DoubaoVisionError("skipped: answered in an earlier run")


def _unwrapped(error: DoubaoVisionError) -> DoubaoVisionError:
    """``error``, to be raised as itself rather than inside Ray Data's ``UserCodeException``.

    Ray Data raises ``UserCodeException(...) from error`` in the actor, and the
    ``__cause__`` does not survive pickling to the driver, so the typed error
    would be lost. Ray Data's ``raise_original_map_exception`` setting makes it
    raise the error itself; it is set here, in this actor process's copy of the
    job's ``DataContext``, only when the job is about to stop anyway. The
    driver then gets ``RayTaskError(AuthenticationError)``, which is an
    ``AuthenticationError`` (``except AuthenticationError`` works).
    """
    ray.data.DataContext.get_current().raise_original_map_exception = True
    return error


def _row(result: tuple[ChatCompletion, str | None] | DoubaoVisionError) -> tuple[Any, ...]:
    if isinstance(result, DoubaoVisionError):
        request_id = result.request_id if isinstance(result, APIStatusError) else None
        return (None, None, None, None, request_id, type(result).__name__, str(result), None)
    completion, parsed = result
    usage = completion.usage
    return (
        completion.text,
        completion.finish_reason,
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
        completion.request_id,
        None,
        None,
        parsed,
    )


def _values(column: Any) -> list[Any]:
    """A column's values as Python objects; tensor columns (``read_images``) as arrays."""
    values: list[Any] = []
    for chunk in column.chunks:
        if isinstance(chunk.type, pa.ExtensionType):  # Ray's tensor types, Arrow's own
            to_numpy = getattr(chunk, "to_numpy_ndarray", None)
            values.extend(to_numpy() if to_numpy else chunk.to_numpy(zero_copy_only=False))
        else:
            values.extend(chunk.to_pylist())
    return values
