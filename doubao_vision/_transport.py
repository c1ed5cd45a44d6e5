"""The only module that talks to aiohttp: the session, the requests, the errors.

Like httpx's transport boundary: everything above this module sees our
:class:`Timeout`, plain status/headers/bytes (:class:`RawResponse`), a small
:class:`StreamBody` for streamed answers, and our own errors. aiohttp's
exceptions are mapped in one place (:func:`map_transport_errors`) and never
carry request headers (the key) into our exception chain.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import attrs
from aiohttp.helpers import get_env_proxy_for_url
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._config import Limits, Timeout
from ._exceptions import APIConnectionError, APITimeoutError
from ._version import __version__

__all__ = [
    "READ_SIZE",
    "RawResponse",
    "StreamBody",
    "Transport",
    "aiohttp_timeout",
    "map_transport_errors",
    "read_failure",
]

USER_AGENT = f"doubao-vision/{__version__} aiohttp/{aiohttp.__version__}"
READ_SIZE = 2**16  # a stream's reads: up to 64 KiB as they arrive
_MAX_REDIRECTS = 5
_URL_CACHE = 64  # URLs whose proxy is remembered
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@attrs.frozen(slots=True)
class RawResponse:
    """A whole HTTP answer: status, headers (case-insensitive, read-only), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@functools.lru_cache(maxsize=64)
def aiohttp_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """One attempt's limits. ``sock_connect``, not ``connect``: aiohttp's ``connect``
    also counts waiting for a pool slot, and our own semaphore queues callers first."""
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


def _describe(exc: BaseException) -> str:
    """Our words for a transport failure; never aiohttp's repr (it may hold headers)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return (
            f"cannot connect to {exc.host}:{exc.port} ({exc.strerror or exc.os_error}); "
            "check base_url and that the server is up"
        )
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection closed mid-response: the answer is incomplete"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    if isinstance(exc, aiohttp.ClientResponseError):
        # Its message is aiohttp's; its request_info holds our headers: keep neither.
        return f"the response could not be read ({type(exc).__name__})"
    return f"connection failed: {type(exc).__name__}: {exc}"


# What the mapping catches: timeouts (asyncio's is the builtin TimeoutError, an
# OSError, so it is told apart first), aiohttp's errors and socket errors.
# Cancellation is a BaseException and never caught.
_TRANSPORT_ERRORS = (asyncio.TimeoutError, aiohttp.ClientError, OSError)


def _mapped(exc: BaseException, client_request_id: str | None) -> APIConnectionError:
    """Our error for a transport failure (the caller raises it ``from exc``)."""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return APITimeoutError(
            f"timed out ({type(exc).__name__}); raise Timeout(...) or check the network",
            client_request_id=client_request_id,
        )
    _scrub(exc)
    return APIConnectionError(_describe(exc), client_request_id=client_request_id)


class map_transport_errors:  # lower case: used like a function, as contextlib.suppress is
    """aiohttp and socket failures become :class:`APIConnectionError` or :class:`APITimeoutError`.

    Like httpx's ``map_httpcore_exceptions``: one place, ``raise ... from``.
    aiohttp errors that carry the request (``request_info``, with our
    Authorization header) have it scrubbed before they join our chain.
    Cancellation is never caught.

    A class, not a ``@contextmanager`` generator: it runs on every request, and a
    generator-based one costs a generator, its frame and two resumptions each time.
    A stream's per-read loop maps its reads' failures with :func:`read_failure`.
    """

    __slots__ = ("_client_request_id",)

    def __init__(self, client_request_id: str | None) -> None:
        self._client_request_id = client_request_id

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Returns None: nothing is ever swallowed, only replaced by our error.
        if exc is not None and isinstance(exc, _TRANSPORT_ERRORS):
            raise _mapped(exc, self._client_request_id) from exc


def _scrub(exc: BaseException) -> None:
    """Drop the Authorization header from what an aiohttp error remembers of the request."""
    if not isinstance(exc, aiohttp.ClientResponseError):
        return
    info = exc.request_info
    if info is not None and "Authorization" in info.headers:
        headers = CIMultiDict(info.headers)
        headers["Authorization"] = "[redacted]"
        info = info._replace(headers=CIMultiDictProxy(headers))
    exc.request_info = info
    exc.history = ()
    exc.args = (info, ())


def read_failure(exc: BaseException, client_request_id: str | None) -> APIConnectionError | None:
    """Our error for a failure of :meth:`StreamBody.read_raw` (None: not a transport
    failure, so the caller lets it go as it is). Raise it ``from exc``."""
    if isinstance(exc, _TRANSPORT_ERRORS):
        return _mapped(exc, client_request_id)
    return None


class StreamBody:
    """A response whose body is read piece by piece (a stream); closes on request.

    :meth:`read_raw` hands over aiohttp's own read for a stream's per-read loop;
    :meth:`read_some` is the same read with failures mapped to ours.
    """

    __slots__ = ("_client_request_id", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, client_request_id: str) -> None:
        self._response = response
        self._client_request_id = client_request_id
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters ("" if none was sent).

        Read from the header here: aiohttp's ``content_type`` parses it into a dict
        it keeps on the response, ~180 bytes for as long as a stream stays open.
        """
        return self.headers.get("Content-Type", "").partition(";")[0].strip().lower()

    async def read(self) -> bytes:
        """The rest of the body."""
        with map_transport_errors(self._client_request_id):
            return await self._response.read()

    def read_raw(self, size: int) -> Awaitable[bytes]:
        """aiohttp's ``read(size)`` itself, to be awaited by the caller: a plain call,
        not a coroutine of ours around it, saves a coroutine level on every read (a
        stream the server writes event by event reads once per chunk). Its failures
        are aiohttp's: map them with :func:`read_failure`."""
        return self._response.content.read(size)

    async def read_some(self) -> bytes:
        """Up to 64 KiB as they arrive; ``b""`` at the end."""
        try:
            return await self.read_raw(READ_SIZE)
        except _TRANSPORT_ERRORS as exc:
            raise _mapped(exc, self._client_request_id) from exc

    def at_eof(self) -> bool:
        return self._response.content.at_eof()

    def stop_read_timer(self) -> None:
        """Stop aiohttp's ``sock_read`` timer for the rest of this response: the caller
        times its reads itself from here on (a stream's idle timer).

        aiohttp re-arms that timer on every socket read: a cancelled TimerHandle left
        in the loop's heap and a new one pushed, ordered by Python-level comparisons.
        With 20 streams of paced events that was about 2.7 of 30 µs of client CPU a
        chunk (benchmarks/, the stream-paced row, an A/B with and without). The next
        read drops the armed handle; the next request on this connection sets its
        own limit again.
        """
        connection = self._response.connection
        protocol = connection.protocol if connection is not None else None
        if protocol is not None:
            protocol.read_timeout = None

    def close(self, *, reusable: bool) -> None:
        """Give the connection back to the pool (``reusable``: fully read) or drop it."""
        if reusable:
            self._response.release()
        else:
            self._response.close()


class Transport:
    """One pooled aiohttp session, made lazily in the loop that first uses it.

    Args:
        limits: the pool (one ``TCPConnector``).
        session: the user's own session: used as is and never closed by us.
        trust_env: honour ``HTTP(S)_PROXY``/``NO_PROXY`` (and their lower-case
            forms), as openai-python does. Read once per URL, not per request:
            aiohttp's own ``trust_env`` re-reads the environment on every request.
        trace_configs: aiohttp ``TraceConfig`` objects, for connection-level events.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = True,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._limits = limits
        self._session = session
        self._owns_session = session is None
        self._trust_env = trust_env
        self._proxies: dict[str, tuple[Any, Any]] = {}
        self._trace_configs = list(trace_configs) if trace_configs else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The session, once made (for tests and diagnostics)."""
        return self._session

    @property
    def has_open_session(self) -> bool:
        """We made a session that is still open (for the unclosed-client warning)."""
        session = self._session
        return session is not None and self._owns_session and not session.closed

    def bind(self) -> asyncio.AbstractEventLoop:
        """The running loop, checked against the first one; makes the session on first use.

        Raises:
            RuntimeError: the transport is closed, or used from a second event loop.
        """
        if self.closed:
            raise RuntimeError("this client is closed; make a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            if self._loop.is_closed():
                self._abandon()
            raise RuntimeError(
                "this AsyncClient is bound to the event loop it was first used in, and "
                "aiohttp sessions cannot cross loops: make one AsyncClient per event loop "
                "(inside the coroutine you pass to asyncio.run), or use the blocking "
                "doubao_vision.Client, which keeps its own loop"
            )
        if self._session is None:
            limits = self._limits
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections,
                limit_per_host=limits.max_connections_per_host,
                keepalive_timeout=limits.keepalive_expiry,
                ttl_dns_cache=limits.dns_cache_ttl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT},
                trace_configs=self._trace_configs,
            )
        return loop

    def _abandon(self) -> None:
        """Drop a session whose event loop has closed (a module-level client after an
        ``asyncio.run``): it cannot be closed the normal way any more, and aiohttp
        would print "Unclosed client session" at exit. Close its sockets directly
        and mark it closed, so the error we raise is the only thing the user sees."""
        session, self._session = self._session, None
        if session is None or not self._owns_session:
            return
        connector = session.connector
        if connector is not None:
            for conns in list(getattr(connector, "_conns", {}).values()):
                for proto, *_ in conns:
                    transport = getattr(proto, "transport", None)
                    sock = getattr(transport, "_sock", None)
                    if sock is not None:
                        sock.close()
                        transport._sock = None  # type: ignore[union-attr]
            connector._conns.clear()
            connector._closed = True
        session._connector = None

    async def aclose(self) -> None:
        self.closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def _session_or_bind(self) -> aiohttp.ClientSession:
        if self._session is None or self._loop is None:
            self.bind()
        assert self._session is not None
        return self._session

    def _proxy_for(self, url: str) -> tuple[Any, Any]:
        """The environment's proxy for ``url``'s origin (``(None, None)`` for none)."""
        if not self._trust_env:
            return None, None
        # Remembered by URL (a client sends to one or two): a lookup per request,
        # not a URL split and an environment read.
        found = self._proxies.get(url)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(url))
            except LookupError:
                found = (None, None)
            if len(self._proxies) >= _URL_CACHE:  # redirects could add URLs without end
                self._proxies.clear()
            self._proxies[url] = found
        return found

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        headers: Mapping[str, str],
        timeout: Timeout,
        client_request_id: str,
    ) -> RawResponse:
        """One whole exchange: the answer's status, headers and body."""
        answer = await self.open_stream(
            url,
            method=method,
            body=body,
            headers=headers,
            timeout=timeout,
            client_request_id=client_request_id,
        )
        response = answer._response
        with map_transport_errors(client_request_id):
            async with response:
                raw = await response.read()
        return RawResponse(response.status, response.headers, raw)

    async def open_stream(
        self,
        url: str,
        *,
        body: Any,
        headers: Mapping[str, str],
        timeout: Timeout,
        client_request_id: str,
        method: str = "POST",
    ) -> StreamBody:
        """Send, and return once the headers arrived; the caller reads the body.

        Redirects are followed only within the same origin (scheme, host, port): a
        redirect elsewhere would re-send the key and the images to a host nobody
        chose. Another origin's redirect comes back as it is.

        One coroutine, no helper of ours awaited inside it: until its headers
        arrive, every call holds its chain of coroutine frames, and with a
        thousand streams opening at once that peak stays in the process's memory
        (benchmarks/, the hold row).
        """
        session = self._session_or_bind()
        limits = aiohttp_timeout(timeout)
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                proxy, proxy_auth = self._proxy_for(url)
                response = await session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    timeout=limits,
                    allow_redirects=False,
                    proxy=proxy,
                    proxy_auth=proxy_auth,
                )
                location = response.headers.get("Location")
                if response.status not in _REDIRECTS or not location:
                    return StreamBody(response, client_request_id)
                target = urljoin(url, location)
                if _origin(target) != _origin(url):
                    return StreamBody(response, client_request_id)
                response.release()
                url = target
                if response.status == 303:
                    method, body = "GET", None
            response.close()
            raise aiohttp.TooManyRedirects(response.request_info, ())  # scrubbed when mapped
        except _TRANSPORT_ERRORS as exc:
            raise _mapped(exc, client_request_id) from exc


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port
