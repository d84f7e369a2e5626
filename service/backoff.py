"""Bounded exponential backoff with full jitter, for every place Guardian retries.

The n-th retry (n = 0, 1, ...) waits a uniformly random time in
``[0, min(cap, base * 2**n))`` ("full jitter", AWS Architecture Blog, *Exponential
Backoff And Jitter*): replicas that lost Kafka or a receiver at the same moment
do not retry in lock step, and no wait exceeds ``cap``. The random source is a
parameter so tests are deterministic.

>>> b = Backoff(base=0.5, cap=4.0, rand=lambda: 1.0)   # the upper bound of each draw
>>> [b.delay(n) for n in range(5)]
[0.5, 1.0, 2.0, 4.0, 4.0]
>>> Backoff(base=0.5, cap=4.0, rand=lambda: 0.25).delay(2)
0.5
>>> r = Retrying(Backoff(1.0, 10.0, rand=lambda: 1.0))
>>> r.next(), r.next(), r.next()
(1.0, 2.0, 4.0)
>>> r.reset(); r.next()
1.0
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

#: Exponents beyond this are capped anyway; it keeps 2**n small.
_MAX_EXPONENT = 32


@dataclass(frozen=True)
class Backoff:
    """Delays of a retry schedule: ``rand() * min(cap, base * 2**attempt)``.

    Parameters
    ----------
    base
        Upper bound of the first retry's delay, in seconds.
    cap
        Upper bound of every delay, in seconds.
    rand
        A source of floats in ``[0, 1)``; ``random.random`` unless a test injects one.
    """

    base: float
    cap: float
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap <= 0:
            raise ValueError("backoff needs base > 0 and cap > 0")

    def ceiling(self, attempt: int) -> float:
        """The largest delay of retry ``attempt`` (0-based)."""
        return min(self.cap, self.base * (1 << min(max(attempt, 0), _MAX_EXPONENT)))

    def delay(self, attempt: int) -> float:
        """A random delay for retry ``attempt`` (0-based), within ``[0, ceiling(attempt)]``."""
        return self.rand() * self.ceiling(attempt)


@dataclass
class Retrying:
    """A backoff schedule with its own attempt count: ``next()`` after a failure, ``reset()``
    after a success."""

    backoff: Backoff
    attempt: int = 0

    def next(self) -> float:
        delay = self.backoff.delay(self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
