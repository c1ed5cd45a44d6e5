"""What one emulator remembers: its options, the request log, the fault script, counters."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs

from ._faults import Fault

__all__ = ["EmulatorState", "RecordedRequest"]


@attrs.frozen
class RecordedRequest:
    """One request as the emulator received it.

    Attributes:
        method: ``GET`` or ``POST``.
        path: the URL path, without the query.
        headers: header names lowercased.
        body: the parsed JSON body with each data URL replaced by a summary such as
            ``"<data:image/png 1234 bytes sha256:0123456789ab>"``; None when there
            was no JSON body or ``record_bodies`` is off.
        received_at: ``time.monotonic()`` when the handler started.
        fault: the kind of fault applied (``"rate_limited"``, ``"truncate"``, ...), if any.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    fault: str | None = None


def _ids(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _line_ending(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("lf", "crlf"):
        raise ValueError(f"line_ending must be 'lf' or 'crlf', not {value!r}")


@attrs.define
class EmulatorState:
    """Shared by the handlers and the :class:`Emulator` that owns them."""

    api_key: str | None = None
    chunks: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    chunk_delay: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    line_ending: str = attrs.field(default="lf", validator=_line_ending)
    keepalive_comments: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    record_bodies: bool = True
    # Model ids accepted besides the known Doubao ones.
    models: frozenset[str] = attrs.field(default=frozenset(), converter=_ids)
    # Seconds every chat answer waits before it starts (a model's thinking time).
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    # The share of chat requests (without a scripted fault) that fail with error_status.
    fault_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    error_status: int = attrs.field(
        default=500, validator=[attrs.validators.ge(400), attrs.validators.le(599)]
    )
    seed: int | None = None
    requests: list[RecordedRequest] = attrs.field(factory=list)
    faults: deque[Fault] = attrs.field(factory=deque)
    chat_requests: int = 0
    tool_calls: int = 0
    open_connections: int = 0
    peak_connections: int = 0
    # Set when the app shuts down, so stalls and slow streams stop at once.
    closing: asyncio.Event | None = None
    _random: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def next_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else None

    def random_fault(self) -> Fault | None:
        """With probability ``fault_rate``, an error fault (429s carry Retry-After)."""
        if not self.fault_rate or self._random.random() >= self.fault_rate:
            return None
        if self.error_status == 429:
            return Fault.rate_limited("1")
        return Fault.error(self.error_status)

    def next_call_id(self) -> str:
        self.tool_calls += 1
        return f"call_{self.tool_calls}"

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()
        self.chat_requests = 0
        self.tool_calls = 0
        self.peak_connections = self.open_connections

    # Set while no connection is open, so close() can wait for the last one.
    idle: asyncio.Event | None = None

    def connection_made(self) -> None:
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        if self.idle is not None:
            self.idle.clear()

    def connection_lost(self) -> None:
        self.open_connections -= 1
        if self.open_connections == 0 and self.idle is not None:
            self.idle.set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False (at once) if the app starts shutting down."""
        closing = self.closing
        if closing is None:
            await asyncio.sleep(seconds)
            return True
        if closing.is_set():
            return False
        if seconds <= 0:
            return True
        try:
            await asyncio.wait_for(closing.wait(), seconds)
        except asyncio.TimeoutError:
            return True
        return False
