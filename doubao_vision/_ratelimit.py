"""Client-side rate limits: requests and tokens per minute, and one cool-down after 429s.

Why our own buckets rather than ``aiolimiter`` (which we would otherwise use):

- one FIFO queue must wait for a request slot, the request's tokens *and* the
  cool-down gate together; two ``AsyncLimiter`` objects acquired in turn hold a
  request slot while waiting for tokens, and know nothing of the gate;
- ``AsyncLimiter`` wakes waiters smallest amount first (a heap on the amount),
  so with token weights a large image request can starve behind small ones;
- it raises ``ValueError`` for an amount above its capacity, while one request
  may well estimate more tokens than a second's budget; here it waits for a
  full bucket and then runs the bucket into debt, so the long-run rate holds.

The buckets are plain leaky buckets refilled continuously (a few lines each).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections import deque
from typing import TYPE_CHECKING

from ._facts import HIGH_DETAIL_TOKEN_CAP, image_tokens
from ._images import Image
from ._messages import (
    AssistantMessage,
    ImagePart,
    ImageURL,
    TextPart,
    VideoPart,
)

if TYPE_CHECKING:
    from ._request import ChatRequest

__all__ = ["DEFAULT_ANSWER_TOKENS", "Budget", "RateLimiter", "estimate_tokens"]

#: Tokens counted for the answer when a request sets neither max_tokens nor
#: max_completion_tokens (a vision answer is a few hundred tokens).
DEFAULT_ANSWER_TOKENS = 512
_CHARS_PER_TOKEN = 4
_VIDEO_TOKENS = HIGH_DETAIL_TOKEN_CAP  # unknowable from the URL; count a high-detail frame
# A bucket holds one second of budget: smooth pacing, no minute-sized burst at start.
_BURST_SECONDS = 1.0
_EPSILON = 1e-9

# (limiter, generation) of the last admission in this task's context: a 429 on
# a request admitted before the current cool-down began is an echo of the same
# burst, not news (see RateLimiter.cool_down).
_ADMITTED: contextvars.ContextVar[tuple[RateLimiter, int] | None] = contextvars.ContextVar(
    "doubao_vision_admitted", default=None
)


def estimate_tokens(request: ChatRequest | None) -> int:
    """Tokens a request is likely to cost, before it is sent (for ``tpm``).

    Heuristic: text is ``ceil(characters / 4)`` over every message (right for
    English; Chinese runs closer to one token per character, so leave margin in
    ``tpm`` for CJK prompts). Each image is ``min(ceil(w * h / 784), cap)`` with
    cap 1312 for low/auto/unset detail and 5120 for high, as Ark counts them; an
    ``image_pixel_limit`` takes precedence over detail and clamps the pixels to
    ``[min_pixels, max_pixels]``. An image of unknown size (a remote URL) counts
    the cap. Then the answer: ``max_tokens`` or ``max_completion_tokens`` if
    set, else :data:`DEFAULT_ANSWER_TOKENS`.
    """
    if request is None:
        return 0
    chars = 0
    media = 0
    for message in request.messages:
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        elif content is not None:
            for part in content:
                if isinstance(part, TextPart):
                    chars += len(part.text)
                elif isinstance(part, ImagePart):
                    media += _image_tokens(part.image_url)
                elif isinstance(part, VideoPart):
                    media += _VIDEO_TOKENS
        if isinstance(message, AssistantMessage) and message.tool_calls:
            chars += sum(len(call.function.arguments) for call in message.tool_calls)
    if request.tools:
        chars += sum(len(str(tool)) for tool in request.tools)
    answer = request.max_tokens
    if answer is None:
        answer = request.max_completion_tokens
    if answer is None:
        answer = DEFAULT_ANSWER_TOKENS
    return math.ceil(chars / _CHARS_PER_TOKEN) + media + answer


def _image_tokens(image_url: ImageURL) -> int:
    url = image_url.url
    pixels = url.width * url.height if isinstance(url, Image) and url.width and url.height else None
    limit = image_url.image_pixel_limit
    if limit is None:
        return image_tokens(pixels, image_url.detail)
    return image_tokens(pixels, image_url.detail, limit.min_pixels, limit.max_pixels)


class _Bucket:
    """A leaky bucket of ``per_minute`` units that holds one second's worth.

    The level may go negative: a cost above the capacity waits for a full
    bucket, then leaves a debt that later callers wait out.
    """

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate * _BURST_SECONDS, 1.0)
        self.level = self.capacity
        self.stamp: float | None = None

    def wait(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` can be taken (0.0: now)."""
        if self.stamp is not None:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        missing = min(cost, self.capacity) - self.level
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def take(self, cost: float) -> None:
        self.level -= cost


class Budget:
    """The state of one rate limit, with the clock passed in: the rpm/tpm buckets,
    the cool-down gate after 429s and the half-open ramp after it.

    No event loop, no locks: :class:`RateLimiter` drives one on a client's loop,
    and ``doubao_vision.ray`` drives one inside its cluster-wide budget actor,
    so both follow the same rules (see :class:`RateLimiter` for them).

    Attributes:
        generation: bumped by every cool-down; an admission is tagged with it.
        resume_at: when the gate reopens (clock time of the caller's clock).
        cooldowns: cool-downs begun (a burst of 429s counts once).
        admitted: admissions so far.
    """

    __slots__ = (
        "_allowance",
        "_requests",
        "_step_end",
        "_tokens",
        "_used",
        "admitted",
        "cooldowns",
        "generation",
        "probe_interval",
        "resume_at",
    )

    def __init__(self, rpm: float | None, tpm: float | None, probe_interval: float) -> None:
        self.configure(rpm, tpm, probe_interval)
        self.admitted = 0
        self.cooldowns = 0
        self.generation = 0
        self.resume_at = 0.0
        self._allowance = 0  # 0: no ramp; else admissions allowed in this step
        self._used = 0
        self._step_end: float | None = None

    def configure(self, rpm: float | None, tpm: float | None, probe_interval: float) -> None:
        """New limits (full buckets); the gate and the counters stay as they are."""
        self._requests = _Bucket(rpm) if rpm is not None else None
        self._tokens = _Bucket(tpm) if tpm is not None else None
        self.probe_interval = probe_interval

    @property
    def counts_tokens(self) -> bool:
        return self._tokens is not None

    def wait(self, cost: float, now: float) -> float:
        """Seconds until a request of ``cost`` tokens may go (0.0: now)."""
        wait = self._gate(now)
        if wait > 0:
            return wait
        if self._requests is not None:
            wait = self._requests.wait(1, now)
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait(cost, now))
        return wait

    def take(self, cost: float, now: float) -> None:
        """Admit one request of ``cost`` tokens (after :meth:`wait` said 0)."""
        self.admitted += 1
        if self._requests is not None:
            self._requests.take(1)
        if self._tokens is not None:
            self._tokens.take(cost)
        if self._allowance:
            self._used += 1
            if self._step_end is None:
                self._step_end = now + self.probe_interval

    def cool_down(self, seconds: float, admitted: int | None, now: float) -> bool:
        """A 429 came back for a request admitted under generation ``admitted``
        (None: unknown). Returns True if that began a new cool-down; an echo of
        the current burst only extends the cool-down while it lasts."""
        until = now + max(0.0, seconds)
        if admitted is not None and admitted != self.generation:
            if now < self.resume_at < until:
                self.resume_at = until
            return False
        self.generation += 1
        self.cooldowns += 1
        self.resume_at = max(self.resume_at, until)
        self._allowance, self._used, self._step_end = 1, 0, None
        return True

    def _gate(self, now: float) -> float:
        """Seconds until the cool-down gate lets one more through (0.0: now)."""
        if now < self.resume_at:
            return self.resume_at - now
        if not self._allowance:
            return 0.0
        end = self._step_end
        if end is None or (self._used < self._allowance and now < end):
            return 0.0
        if now < end:
            return end - now
        if self._used < self._allowance:  # demand fell below the step: ramp over
            self._allowance = 0
        else:
            self._allowance *= 2
            self._used, self._step_end = 0, None
        return 0.0


class RateLimiter:
    """Requests per minute, tokens per minute, and a client-wide cool-down after 429s.

    Every call on a client goes through its limiter (``client.rate_limiter``);
    pass one limiter to several clients to share the budget (on one event loop).
    Callers are served strictly first come, first served: a request waits for
    the cool-down gate, then a request slot (``rpm``) and its estimated tokens
    (``tpm``, see :func:`estimate_tokens`). Budgets refill continuously, at most
    one second's worth at once, so a run never bursts a minute's budget.

    The cool-down, and why 1,000 calls in flight do not cause a retry storm:

    1. The first 429 (the client calls :meth:`cool_down` with the wait its retry
       policy chose, i.e. the server's ``Retry-After``) closes the gate for
       everyone until then. ``cooldowns`` counts these.
    2. The other 429s of the same burst come from requests admitted *before*
       the gate closed (each admission is tagged with the limiter's generation,
       kept in the calling task's context). They only push the reopening later
       if it is still closed; they never start another cool-down.
    3. Half-open: after the cool-down one probe goes first. If no 429 comes back
       from a request admitted since reopening within ``probe_interval``, the
       gate lets 2 through, then 4, 8, ... one doubling per ``probe_interval``
       (and always within ``rpm``/``tpm``), until a step is not used up, which
       ends the ramp. A 429 from such a request (say, the probe's) closes the
       gate again as a new cool-down, so a still-limited server sees one probe
       per cool-down, not a thousand retries. (The client tells the limiter
       only about 429s, not successes, so the ramp is paced by time.)

    Args:
        rpm: requests per minute (None: unlimited).
        tpm: estimated tokens per minute (None: unlimited).
        probe_interval: seconds between ramp steps after a cool-down; long
            enough for a probe's 429 to come back.

    Raises:
        ValueError: a limit or interval that is not > 0.

    Attributes:
        cooldowns: how many cool-downs began (a burst counts once).
        admitted: how many requests were let through.
    """

    def __init__(
        self, *, rpm: float | None = None, tpm: float | None = None, probe_interval: float = 0.25
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value!r}")
        if not probe_interval > 0:
            raise ValueError(f"probe_interval must be > 0, got {probe_interval!r}")
        self.rpm = rpm
        self.tpm = tpm
        self.probe_interval = probe_interval
        self._budget = Budget(rpm, tpm, probe_interval)
        self._waiters: deque[tuple[asyncio.Future[int], int]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return (
            f"<RateLimiter rpm={self.rpm} tpm={self.tpm} waiting={self.waiting} "
            f"cooldowns={self.cooldowns}>"
        )

    @property
    def cooldowns(self) -> int:
        """How many cool-downs began (a burst counts once)."""
        return self._budget.cooldowns

    @property
    def admitted(self) -> int:
        """How many requests were let through."""
        return self._budget.admitted

    @property
    def waiting(self) -> int:
        """Callers queued right now."""
        return sum(1 for future, _ in self._waiters if not future.done())

    @property
    def cooling_down(self) -> bool:
        """True while the gate is shut (not counting the half-open ramp)."""
        return self._now() < self._budget.resume_at

    async def acquire(self, request: ChatRequest | None) -> None:
        """Wait for the gate, a request slot and the request's tokens, in arrival order.

        Args:
            request: what is about to be sent (None for a request without a
                body, such as ``GET /models``: a slot, no tokens).

        Raises:
            RuntimeError: the limiter has callers waiting on another event loop.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._rebind(loop)
        budget = self._budget
        cost = estimate_tokens(request) if budget.counts_tokens else 0
        now = loop.time()
        if not self._waiters and budget.wait(cost, now) <= 0:
            budget.take(cost, now)
            _ADMITTED.set((self, budget.generation))
            return
        future: asyncio.Future[int] = loop.create_future()
        self._waiters.append((future, cost))
        if len(self._waiters) == 1:
            self._pump()
        try:
            generation = await future
        except asyncio.CancelledError:
            future.cancel()  # a no-op if we had been admitted: that slot is spent
            self._pump()
            raise
        _ADMITTED.set((self, generation))

    def cool_down(self, seconds: float) -> None:
        """Pause new attempts on every call for ``seconds`` (a 429 was received).

        Called by the client with the wait its retry policy chose (0.0 when it
        will not retry). A 429 on a request admitted before the current
        cool-down began only extends that cool-down while it lasts; any other
        starts a new one and restarts the half-open ramp.
        """
        admitted = _ADMITTED.get()
        generation = admitted[1] if admitted is not None and admitted[0] is self else None
        if self._budget.cool_down(seconds, generation, self._now()) and self._waiters:
            self._pump()

    # -- internals --------------------------------------------------------

    def _now(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None and not loop.is_closed() else time.monotonic()

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        if any(not future.done() for future, _ in self._waiters):
            raise RuntimeError("this RateLimiter has callers waiting on another event loop")
        self._waiters.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = loop

    def _pump(self) -> None:
        """Admit queued callers from the front while they fit; else set a timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self._loop
        waiters = self._waiters
        while waiters and loop is not None:
            future, cost = waiters[0]
            if future.done():  # cancelled while queued
                waiters.popleft()
                continue
            now = loop.time()
            wait = self._budget.wait(cost, now)
            if wait > 0:
                self._timer = loop.call_at(now + wait, self._pump)
                return
            waiters.popleft()
            self._budget.take(cost, now)
            future.set_result(self._budget.generation)
