"""Metric shapes prometheus-client does not have: renamed metrics and counted observations.

Kept apart from :mod:`service.metrics` (which only declares what Guardian
exports) because they are mechanisms, not metrics:

- :class:`Renamed` writes a metric under its new name (with its unit, as
  Prometheus' naming rules ask) and, for one release, under the old name
  too, so a dashboard or alert a user built on the old name keeps working
  while they move. Callers see one object with the old attribute's API.
- :class:`CountedHistogram` takes ``count`` equal observations in one call.
  Every event of a batch waits for the whole batch, so the per-event latency
  distribution is the batch time observed once per event; observing it 5000
  times in a loop would cost more than the batch's own bookkeeping.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

__all__ = ["CountedHistogram", "Renamed"]


class _Children:
    """The children of the new and the deprecated metric for one label set."""

    __slots__ = ("_current", "_deprecated")

    def __init__(self, current: Any, deprecated: Any) -> None:
        self._current = current
        self._deprecated = deprecated

    def set(self, value: float) -> None:
        self._current.set(value)
        self._deprecated.set(value)

    def inc(self, amount: float = 1.0) -> None:
        self._current.inc(amount)
        self._deprecated.inc(amount)

    def observe(self, amount: float) -> None:
        self._current.observe(amount)
        self._deprecated.observe(amount)


class Renamed:
    """One metric exported under its current name and a deprecated one.

    Both are registered by the caller (they are ordinary prometheus-client
    metrics with the same labels); this object only writes to both.
    ``collect`` reports the current metric alone, so code that reads the
    value back (the health loop) never counts it twice.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry, Gauge
    >>> r = CollectorRegistry()
    >>> new = Gauge("lag_messages", "Lag.", ["p"], registry=r)
    >>> lag = Renamed(new, Gauge("lag", "Old name.", ["p"], registry=r))
    >>> lag.labels("0").set(7)
    >>> r.get_sample_value("lag_messages", {"p": "0"}), r.get_sample_value("lag", {"p": "0"})
    (7.0, 7.0)
    """

    __slots__ = ("current", "deprecated")

    def __init__(self, current: Any, deprecated: Any) -> None:
        self.current = current
        self.deprecated = deprecated

    def labels(self, *values: str) -> _Children:
        return _Children(self.current.labels(*values), self.deprecated.labels(*values))

    def remove(self, *values: str) -> None:
        self.current.remove(*values)
        self.deprecated.remove(*values)

    def set(self, value: float) -> None:
        _Children(self.current, self.deprecated).set(value)

    def observe(self, amount: float) -> None:
        _Children(self.current, self.deprecated).observe(amount)

    def collect(self) -> Iterable[Metric]:
        collected: Iterable[Metric] = self.current.collect()
        return collected


class CountedHistogram:
    """A histogram without labels whose ``observe`` takes a count of equal observations.

    Exposed exactly like a prometheus-client ``Histogram`` (``_bucket`` with
    cumulative ``le`` counts, ``_sum``, ``_count``).

    Examples
    --------
    >>> r = CollectorRegistry()
    >>> h = CountedHistogram("latency_seconds", "Latency.", (0.1, 1.0), registry=r)
    >>> h.observe(0.5, count=3)
    >>> r.get_sample_value("latency_seconds_bucket", {"le": "1.0"})
    3.0
    >>> r.get_sample_value("latency_seconds_sum")
    1.5
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError("buckets must be distinct finite numbers")
        self.name = name
        self.documentation = documentation
        self._bounds = (*bounds, math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe(self, value: float, count: int = 1) -> None:
        """Record ``count`` observations of ``value`` (``count`` <= 0 records nothing)."""
        if count <= 0 or math.isnan(value):
            return
        index = bisect.bisect_left(self._bounds, value)
        with self._lock:
            self._counts[index] += count
            self._sum += value * count

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> list[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, n in zip(self._bounds, counts, strict=True):
            cumulative += n
            buckets.append((floatToGoString(bound), float(cumulative)))  # type: ignore[no-untyped-call]
        return [
            HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)
        ]
