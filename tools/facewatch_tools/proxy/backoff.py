"""Restart delays: exponential backoff with jitter, reset once a pipeline has streamed a while."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BackoffPolicy(BaseModel):
    """Delay before restart n (0-based) is drawn from [ceiling/2, ceiling] with
    ceiling = min(maximum, initial * factor**n): never more than ``maximum`` (the bound the
    tests and operators rely on), and never less than half of it, so a camera that keeps
    failing is not hammered (jitter spreads the restarts of cameras that fail together).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    initial: float = Field(default=1.0, gt=0, description="seconds")
    factor: float = Field(default=2.0, ge=1)
    maximum: float = Field(default=60.0, gt=0, description="seconds; the bound on any delay")
    reset_after: float = Field(
        default=30.0,
        ge=0,
        description="seconds of streaming after which the next failure starts again from `initial`",
    )

    @model_validator(mode="after")
    def _ordered(self) -> BackoffPolicy:
        if self.initial > self.maximum:
            raise ValueError("initial backoff must not exceed the maximum")
        return self

    def ceiling(self, attempt: int) -> float:
        # Cap the exponent: factor**attempt overflows a float long before attempt matters.
        return min(self.maximum, self.initial * self.factor ** min(attempt, 64))


@dataclass
class Backoff:
    """The restart state of one camera. ``uniform`` is injectable for deterministic tests."""

    policy: BackoffPolicy
    uniform: Callable[[float, float], float] = field(default=random.uniform)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = self.policy.ceiling(self.attempt)
        self.attempt += 1
        return min(ceiling, max(ceiling / 2, self.uniform(ceiling / 2, ceiling)))

    def streamed_for(self, seconds: float) -> None:
        """Record how long the last run streamed; a long healthy run resets the backoff."""
        if seconds >= self.policy.reset_after:
            self.attempt = 0
