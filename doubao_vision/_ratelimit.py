"""Client-side rate limits (placeholder being replaced in this session: cooldown only)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, *, rpm: float | None = None, tpm: float | None = None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._resume_at = 0.0

    async def acquire(self, request: Any) -> None:
        loop = asyncio.get_running_loop()
        wait = self._resume_at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def cool_down(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + seconds)
