"""Run the emulator on a real TCP port and count its connections.

Connections are counted at the transport level, by wrapping the protocol factory
the listening socket uses, so ``peak_connections`` shows what a client's pool really
opened, whatever the requests did.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from aiohttp import web

from ._app import build_app
from ._faults import Fault
from ._state import EmulatorState, RecordedRequest

__all__ = ["Emulator", "create_app", "serve"]

# How long close() lets in-flight handlers finish before cancelling them; stalls and
# slow streams watch the shutdown signal, so this is only a backstop.
_SHUTDOWN_TIMEOUT = 2.0


class _CountingProtocol(asyncio.Protocol):
    """Passes everything to aiohttp's protocol; counts connection_made / connection_lost."""

    __slots__ = ("_inner", "_state")

    def __init__(self, inner: asyncio.Protocol, state: EmulatorState) -> None:
        self._inner = inner
        self._state = state

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._state.connection_made()
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connection_lost()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _CountingSite(web.BaseSite):
    """A TCP site like ``web.TCPSite`` whose connections go through ``_CountingProtocol``."""

    __slots__ = ("_host", "_port", "_state")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, state: EmulatorState) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._state = state

    @property
    def name(self) -> str:
        return f"http://{_url_host(self._host)}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        await super().start()
        handler_factory = self._runner.server
        assert handler_factory is not None
        state = self._state

        def factory() -> asyncio.Protocol:
            return _CountingProtocol(handler_factory(), state)

        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, self._host, self._port, reuse_address=True)
        self._server = server
        self._port = server.sockets[0].getsockname()[1]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Emulator:
    """A local Doubao chat API on ``http://127.0.0.1:<port>/v1``, for tests and demos.

    ``async with Emulator() as base_url:`` starts it on a free port and stops it
    cleanly; ``start()`` / ``close()`` do the same by hand.

    Args:
        api_key: the only key accepted; None accepts any non-empty bearer key.
        host, port: where to listen; port 0 picks a free one.
        chunks: split each streamed answer into exactly this many content pieces
            (default: one piece per word).
        chunk_delay: seconds between stream chunks.
        line_ending: ``"lf"`` or ``"crlf"`` for SSE lines.
        keepalive_comments: ``: keep-alive`` comments before each stream chunk.
        record_bodies: keep request bodies (images summarized) in ``requests``.
        models: model ids to accept besides the known Doubao ones (any other id is
            404 ``InvalidEndpointOrModel.NotFound``, as on Ark).
        latency: seconds every chat answer waits before it starts.
        fault_rate: the share of chat requests (0-1) that fail with ``error_status``,
            unless a fault is scripted for them.
        error_status: the status of those random failures (429 adds ``Retry-After``).
        seed: seeds the fault dice, for a reproducible run.

    Every stream option can also be set per request with ``X-Emulator-*`` headers.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chunks: int | None = None,
        chunk_delay: float = 0.0,
        line_ending: str = "lf",
        keepalive_comments: int = 0,
        record_bodies: bool = True,
        models: Iterable[str] = (),
        latency: float = 0.0,
        fault_rate: float = 0.0,
        error_status: int = 500,
        seed: int | None = None,
    ) -> None:
        self._state = EmulatorState(
            api_key=api_key,
            chunks=chunks,
            chunk_delay=chunk_delay,
            line_ending=line_ending,
            keepalive_comments=keepalive_comments,
            record_bodies=record_bodies,
            models=frozenset(models),
            latency=latency,
            fault_rate=fault_rate,
            error_status=error_status,
            seed=seed,
        )
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"<Emulator {where} requests={len(self._state.requests)}>"

    @property
    def api_key(self) -> str | None:
        """The accepted key (None: any non-empty key)."""
        return self._state.api_key

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/v1``.

        Raises:
            RuntimeError: the emulator is not running.
        """
        if self._base_url is None:
            raise RuntimeError("the emulator is not running; use `async with` or start()")
        return self._base_url

    @property
    def port(self) -> int:
        """The bound port (0 before start with ``port=0``)."""
        return self._port

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order."""
        return self._state.requests

    @property
    def request_count(self) -> int:
        """How many ``POST /v1/chat/completions`` requests arrived."""
        return self._state.chat_requests

    @property
    def open_connections(self) -> int:
        """TCP connections open right now."""
        return self._state.open_connections

    @property
    def peak_connections(self) -> int:
        """The most TCP connections open at once since start (or ``reset()``)."""
        return self._state.peak_connections

    def script(self, *faults: Fault) -> None:
        """Queue faults: each next chat request takes the next one, then all is normal."""
        self._state.faults.extend(faults)

    def reset(self) -> None:
        """Forget requests, queued faults and counters (open connections stay open)."""
        self._state.reset()

    async def start(self) -> str:
        """Start listening; returns :attr:`base_url`.

        Raises:
            RuntimeError: it is already running.
        """
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._state.idle = asyncio.Event()
        if self._state.open_connections == 0:
            self._state.idle.set()
        runner = web.AppRunner(
            build_app(self._state),
            access_log=None,
            handler_cancellation=True,  # a stall ends when its client goes away
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = _CountingSite(runner, self._host, self._port, self._state)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = site.port
        self._base_url = f"http://{_url_host(self._host)}:{site.port}/v1"
        return self._base_url

    async def close(self) -> None:
        """Stop listening, end in-flight requests and close every connection. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._base_url = None
        await runner.cleanup()
        # Transports finish closing on the next loop turns; wait so that no socket
        # outlives close() (the loop may be closed right after).
        idle = self._state.idle
        if idle is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(idle.wait(), _SHUTDOWN_TIMEOUT)

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def create_app(emulator: Emulator | EmulatorState | None = None) -> web.Application:
    """The emulator as an ``aiohttp.web.Application``, to run or mount yourself.

    Args:
        emulator: whose options, script and request log to use. An :class:`Emulator`
            (its ``requests`` then show what this app received), its state, or None
            for a fresh one that accepts any key.
    """
    if emulator is None:
        state = EmulatorState()
    elif isinstance(emulator, EmulatorState):
        state = emulator
    else:
        state = emulator._state
    return build_app(state)


async def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    *,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Serve until SIGINT or SIGTERM (or until ``stop`` is set), then shut down cleanly.

    Prints ``doubao-vision emulator listening on http://HOST:PORT/v1`` once listening.
    ``options`` go to :class:`Emulator`.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            continue
        handled.append(sig)
    try:
        async with Emulator(api_key, host=host, port=port, **options) as base_url:
            print(f"doubao-vision emulator listening on {base_url}", flush=True)
            await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
