"""Explicit numeric state of River's small statistics, for pickle-free checkpoints."""

from __future__ import annotations

from typing import Any

from river import stats

from detectors.base import as_float


def mean_state(m: stats.Mean) -> list[float]:
    """``[n, mean]`` of a ``river.stats.Mean``."""
    return [float(m.n), float(m._mean)]


def load_mean(m: stats.Mean, value: Any) -> stats.Mean:
    """Restore :func:`mean_state` into ``m`` and return it."""
    n, mean = value
    m.n = as_float(n)
    m._mean = as_float(mean)
    return m


def flag(value: Any) -> bool:
    """A boolean from a state dict, refusing anything else."""
    if not isinstance(value, bool):
        raise TypeError("expected a boolean")
    return value
