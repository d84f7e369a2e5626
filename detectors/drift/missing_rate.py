"""Missing-value rate of one feature, watched with ADWIN on a 0/1 stream."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from detectors.base import InputType
from detectors.drift.adwin import AdwinDetector, AdwinParams


class MissingRateParams(AdwinParams):
    """ADWIN parameters for the missing indicator; a longer grace period by default."""

    delta: float = Field(default=1e-5, gt=0.0, lt=1.0)
    grace_period: int = Field(default=100, ge=1, le=1_000_000)


class MissingRateDetector(AdwinDetector):
    """Fires when the share of events missing a feature changes.

    ``update`` takes a boolean (or 0/1) for "missing in this event" (the registry
    feeds ``value is None`` for every known feature of every event, including
    features absent from the event). The statistic is the current missing rate.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(5)
    >>> det = MissingRateDetector()
    >>> before = [rng.random() < 0.01 for _ in range(5000)]
    >>> stream = before + [rng.random() < 0.2 for _ in range(2000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> len(hits) == 1 and 5000 < hits[0] < 5300
    True
    """

    kind = "missing_rate"
    input_type: ClassVar[InputType] = "binary"
    Params = MissingRateParams

    __slots__ = ()
