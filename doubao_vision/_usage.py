"""Running totals for one client: calls, retries, errors by class, tokens."""

from __future__ import annotations

from collections import Counter

import attrs

from ._models import Usage

__all__ = ["UsageTotals"]


@attrs.define
class UsageTotals:
    """What a client has done so far (``client.usage``); mutated in place as calls finish.

    ``requests`` counts calls (not attempts); ``retries`` counts extra attempts;
    ``errors`` counts calls that finally failed, by exception class name.
    """

    requests: int = 0
    retries: int = 0
    errors: Counter[str] = attrs.field(factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    #: Structured output's repair rounds (``client.parse``), counted apart from the
    #: calls that asked first: how many rounds, and the tokens they cost (also
    #: included in the totals above).
    repair_rounds: int = 0
    repair_prompt_tokens: int = 0
    repair_completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_completion(self, usage: Usage | None) -> None:
        if usage is None:
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cached_tokens += usage.cached_tokens
        self.reasoning_tokens += usage.reasoning_tokens

    def add_repair(self, usage: Usage | None) -> None:
        """Count one repair round (its tokens were already added by its call)."""
        self.repair_rounds += 1
        if usage is not None:
            self.repair_prompt_tokens += usage.prompt_tokens
            self.repair_completion_tokens += usage.completion_tokens

    def add_error(self, error: BaseException) -> None:
        self.errors[type(error).__name__] += 1
