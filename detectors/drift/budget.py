"""The false-alarm budget: from "alarms per stream per day" to a per-test threshold.

On-call people can say how many false alarms they accept ("one per model per
quarter"); nobody can say what ADWIN's ``delta`` should be. A budget of
``false_alarms_per_stream_per_day`` becomes a per-test false-positive rate
with the stream's event rate and how often the detector tests::

    tests_per_day = events_per_day / check_every
    alpha         = budget_per_stream_per_day / tests_per_day

A model-level family budget (``false_alarms_per_model_per_day``) is split over
the model's budgeted detectors (Bonferroni): each gets ``family / m``, or its
own stream budget if that is smaller. Holm's step-down procedure gives the
same first rejection as Bonferroni (its first step compares the smallest
p-value with ``alpha / m``), and the first rejection is what raises an alarm,
so the simpler split loses nothing here. Overlapping windows make successive
tests positively correlated, which only makes the split conservative.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.base import DetectorParams

#: Never test at a rate so small that float precision decides, nor so large that alarms flood.
ALPHA_MIN = 1e-15
ALPHA_MAX = 0.01


class AlarmBudget(BaseModel):
    """The false-alarm budget of ``detectors.yaml`` (``budget:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    false_alarms_per_stream_per_day: float = Field(
        default=0.01,
        gt=0.0,
        le=100.0,
        description="Expected false alarms of one detector on one stationary stream per day.",
    )
    false_alarms_per_model_per_day: float | None = Field(
        default=0.1,
        gt=0.0,
        le=1000.0,
        description="Family budget of a model version, split over its budgeted detectors; "
        "null to give every stream its own budget only.",
    )
    events_per_day: float | None = Field(
        default=None,
        gt=0.0,
        le=1e12,
        description="Event rate of a stream; null to measure it (wall clock) during warm-up.",
    )


def stream_budget(budget: AlarmBudget, family_size: int) -> float:
    """False alarms per day one detector may raise, after the family split."""
    per_stream = budget.false_alarms_per_stream_per_day
    family = budget.false_alarms_per_model_per_day
    if family is None:
        return per_stream
    return min(per_stream, family / max(1, family_size))


def per_test_alpha(per_day: float, events_per_day: float, check_every: int) -> float:
    """Per-test false-positive rate that spends ``per_day`` alarms at this rate of tests.

    Examples
    --------
    >>> f"{per_test_alpha(0.01, 864_000.0, 25):.2e}"  # 10 events/s, a test every 25 events
    '2.89e-07'
    """
    tests_per_day = max(events_per_day, 1.0) / check_every
    return min(ALPHA_MAX, max(ALPHA_MIN, per_day / tests_per_day))


def z_for(alpha: float, n_statistics: int = 1) -> float:
    """Two-sided standard-normal critical value of ``alpha`` shared by ``n_statistics`` tests."""
    return -NormalDist().inv_cdf(alpha / (2 * n_statistics))


#: Seconds in a day.
SECONDS_PER_DAY = 86_400.0
#: Rate assumed when a first fill took no measurable event time: very fast, so conservative.
FAST_EVENTS_PER_DAY = 1e10
#: Rate assumed without a rate and without an event clock (a detector used alone): 100 events/s.
DEFAULT_EVENTS_PER_DAY = 8.64e6


def measured_rate(t0: float | None, now: float | None, n: int) -> float:
    """Events per day of ``n`` events between event times ``t0`` and ``now``.

    Without an event clock, :data:`DEFAULT_EVENTS_PER_DAY`; when no event time
    passed (a replay without timestamps), very fast, which only makes the
    threshold stricter.
    """
    if t0 is None or now is None:
        return DEFAULT_EVENTS_PER_DAY
    elapsed = now - t0
    if not elapsed > 0:
        return FAST_EVENTS_PER_DAY
    return min(FAST_EVENTS_PER_DAY, max(1, n) * SECONDS_PER_DAY / elapsed)


class BudgetedWindowParams(DetectorParams):
    """What the budgeted window kinds share: the budget, the stream's rate, calibration."""

    reference_size: int = Field(default=2000, ge=20, le=100_000)
    window_size: int = Field(default=200, ge=5, le=20_000)
    check_every: int = Field(default=25, ge=1, le=20_000, description="Values between tests.")
    false_alarms_per_day: float | None = Field(
        default=None,
        gt=0.0,
        le=100.0,
        description="This detector's budget; null for the budget section of detectors.yaml.",
    )
    events_per_day: float | None = Field(
        default=None, gt=0.0, le=1e12, description="Stream rate; null to measure it in warm-up."
    )
    family_size: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Detectors sharing the model budget."
    )
    bootstrap: int = Field(default=200, ge=0, le=5000, description="0: no calibration.")
    block: int = Field(default=50, ge=1, le=10_000, description="Bootstrap block length.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _window_fits(self) -> BudgetedWindowParams:
        if self.window_size > self.reference_size:
            raise ValueError("window_size must not exceed reference_size")
        return self


def spend(
    params: BudgetedWindowParams,
    budget: AlarmBudget | None,
    family_size: Callable[[], int] | None,
    clock: Callable[[], float] | None,
    t0: float | None,
    n_learnt: int,
) -> tuple[float, float]:
    """(events per day, per-test false-positive rate) of a budgeted window detector.

    The parameters override the spec-level ``budget``; without a configured rate,
    the rate is measured over the first fill by event time (``clock`` since ``t0``).
    """
    budget = budget or AlarmBudget()
    rate = params.events_per_day or budget.events_per_day
    if rate is None:
        rate = measured_rate(t0, None if clock is None else clock(), n_learnt)
    family = params.family_size or (family_size() if family_size else 1)
    per_day = params.false_alarms_per_day or stream_budget(budget, family)
    return float(rate), per_test_alpha(per_day, float(rate), params.check_every)
