"""One client-side rate limit for a whole Ray cluster, handed out in small leases.

A named Ray actor (:class:`_Budget`) holds the requests-per-minute and
tokens-per-minute buckets and the cool-down gate after 429s. Every map actor's
:class:`AsyncClient` gets a :class:`ClusterRateLimiter` instead of its local
limiter; it queues its callers and asks the budget for permits for the first
few of them at once (a *lease*), so one actor round trip is shared by up to
``lease_size`` calls. Permits are used the moment they are granted (each one
was asked for a caller that is waiting), so leases never pile up into a burst.

The buckets and the cool-down are the ones :class:`doubao_vision.RateLimiter`
uses (the same ``Budget`` object; read RateLimiter's docstring): one second of
budget at most, debt for costs above it, one cool-down per burst of 429s (a 429
on a request admitted before the current cool-down began only extends it), then
a half-open ramp of 1, 2, 4, ... requests per ``probe_interval``.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs
import ray

from doubao_vision import estimate_tokens
from doubao_vision._ratelimit import Budget

if TYPE_CHECKING:
    from doubao_vision import ChatRequest

__all__ = ["ClusterLimit", "ClusterRateLimiter", "cluster_limit"]

#: Calls one lease may cover: enough to amortise the round trip, small enough
#: that no actor hoards the budget.
DEFAULT_LEASE_SIZE = 8

# (limiter, generation) of this task's last admission; see cool_down.
_ADMITTED: contextvars.ContextVar[tuple[ClusterRateLimiter, int] | None] = contextvars.ContextVar(
    "doubao_vision_ray_admitted", default=None
)


class _Budget:
    """The cluster's budget, run as an async Ray actor (one event loop, so no thread locks).

    ``lease`` serves its callers first come, first served (an ``asyncio.Lock``
    wakes waiters in order) and grants a prefix of the costs it is given:
    it waits for the first, then adds the next ones while they fit at once.
    """

    def __init__(self, rpm: float | None, tpm: float | None, probe_interval: float) -> None:
        self._lock = asyncio.Lock()
        self._budget = Budget(rpm, tpm, probe_interval)
        self.leases = 0

    @property
    def admitted(self) -> int:
        return self._budget.admitted

    @property
    def cooldowns(self) -> int:
        return self._budget.cooldowns

    def configure(self, rpm: float | None, tpm: float | None, probe_interval: float) -> None:
        """Set new limits (the latest ``cluster_limit`` call for a name wins)."""
        self._budget.configure(rpm, tpm, probe_interval)

    def stats(self) -> dict[str, int]:
        return {"admitted": self.admitted, "leases": self.leases, "cooldowns": self.cooldowns}

    async def lease(self, costs: list[int]) -> tuple[int, int]:
        """Grant permits for a prefix of ``costs`` (at least one): ``(granted, generation)``."""
        budget = self._budget
        async with self._lock:
            while True:
                wait = budget.wait(costs[0], time.monotonic())
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            granted = 0
            for cost in costs:
                now = time.monotonic()
                if granted and budget.wait(cost, now) > 0:
                    break
                budget.take(cost, now)
                granted += 1
            self.leases += 1
            return granted, budget.generation

    def cool_down(self, seconds: float, admitted: int | None) -> None:
        """A 429 came back for a request admitted under generation ``admitted``."""
        self._budget.cool_down(seconds, admitted, time.monotonic())


@attrs.frozen
class ClusterLimit:
    """A handle on a cluster-wide budget; pickles into Ray tasks and actors.

    Make one with :func:`cluster_limit`; give it to :class:`AskImages` (or to
    ``ClusterRateLimiter(limit)`` for your own clients).
    """

    actor: Any = attrs.field(repr=False)
    name: str
    rpm: float | None
    tpm: float | None

    def stats(self) -> dict[str, int]:
        """``admitted`` requests, ``leases`` granted and ``cooldowns`` begun so far."""
        result: dict[str, int] = ray.get(self.actor.stats.remote())
        return result


def cluster_limit(
    *,
    rpm: float | None = None,
    tpm: float | None = None,
    name: str = "default",
    probe_interval: float = 0.25,
) -> ClusterLimit:
    """The named budget actor for this Ray job: created on first use, then shared.

    Call it on the driver after ``ray.init``. The same ``name`` gives the same
    budget; calling again with other limits changes them for everyone.

    Args:
        rpm: requests per minute for the whole cluster (None: unlimited).
        tpm: estimated tokens per minute (see :func:`doubao_vision.estimate_tokens`).
        name: which budget; one per API key and gateway is the usual choice.
        probe_interval: seconds between ramp steps after a cool-down.

    Raises:
        ValueError: a limit or interval that is not > 0.
    """
    for what, value in (("rpm", rpm), ("tpm", tpm)):
        if value is not None and not value > 0:
            raise ValueError(f"{what} must be > 0 or None, got {value!r}")
    if not probe_interval > 0:
        raise ValueError(f"probe_interval must be > 0, got {probe_interval!r}")
    # num_cpus=0: the budget is a few microseconds per lease and must not take a
    # CPU slot that a map actor needs on a small cluster.
    remote: Any = ray.remote(num_cpus=0)(_Budget)
    actor = remote.options(
        name=f"doubao_vision.budget.{name}", get_if_exists=True, max_concurrency=1000
    ).remote(rpm, tpm, probe_interval)
    ray.get(actor.configure.remote(rpm, tpm, probe_interval))
    return ClusterLimit(actor, name, rpm, tpm)


class ClusterRateLimiter:
    """A per-process stand-in for :class:`doubao_vision.RateLimiter` that asks the cluster.

    It has the two methods an :class:`AsyncClient` calls: ``await
    acquire(request)`` before each attempt and ``cool_down(seconds)`` after a
    429. Callers wait in arrival order; one task at a time asks the budget
    actor for a lease covering the first ``lease_size`` callers.

    Args:
        limit: from :func:`cluster_limit`.
        lease_size: most calls covered by one round trip to the budget.
    """

    def __init__(self, limit: ClusterLimit, *, lease_size: int = DEFAULT_LEASE_SIZE) -> None:
        if lease_size < 1:
            raise ValueError(f"lease_size must be >= 1, got {lease_size!r}")
        self.limit = limit
        self.lease_size = lease_size
        self.admitted = 0
        self.leases = 0
        self.cooldowns = 0  # 429s reported (the budget counts bursts)
        self._waiters: deque[tuple[asyncio.Future[int], int]] = deque()
        self._pump: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"<ClusterRateLimiter {self.limit.name!r} rpm={self.limit.rpm} "
            f"tpm={self.limit.tpm} waiting={self.waiting}>"
        )

    @property
    def waiting(self) -> int:
        """Callers queued in this process right now."""
        return sum(1 for future, _ in self._waiters if not future.done())

    async def acquire(self, request: ChatRequest | None) -> None:
        """Wait until the cluster's budget admits ``request``."""
        loop = asyncio.get_running_loop()
        cost = estimate_tokens(request) if self.limit.tpm is not None else 0
        future: asyncio.Future[int] = loop.create_future()
        self._waiters.append((future, cost))
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._lease_loop())
        try:
            generation = await future
        except asyncio.CancelledError:
            future.cancel()  # a no-op if a permit was already granted: that one is spent
            raise
        _ADMITTED.set((self, generation))

    def cool_down(self, seconds: float) -> None:
        """Report a 429 to the budget; it closes the gate for the whole cluster."""
        self.cooldowns += 1
        admitted = _ADMITTED.get()
        generation = admitted[1] if admitted is not None and admitted[0] is self else None
        self.limit.actor.cool_down.remote(seconds, generation)  # fire and forget

    async def _lease_loop(self) -> None:
        waiters = self._waiters
        try:
            while True:
                while waiters and waiters[0][0].done():  # cancelled while queued
                    waiters.popleft()
                if not waiters:
                    return
                live = (cost for future, cost in waiters if not future.done())
                costs = list(itertools.islice(live, self.lease_size))
                granted, generation = await self.limit.actor.lease.remote(costs)
                self.leases += 1
                while granted and waiters:
                    future, _ = waiters.popleft()
                    if not future.done():
                        future.set_result(generation)
                        self.admitted += 1
                    granted -= 1
        except asyncio.CancelledError:
            for future, _ in waiters:
                future.cancel()
            waiters.clear()
            raise
        except Exception as exc:  # the budget actor died: fail the waiters, do not hang them
            for future, _ in waiters:
                if not future.done():
                    future.set_exception(exc)
            waiters.clear()
