"""How the registry hands the model-level alarm budget to the detectors that spend one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from detectors.base import Detector
from detectors.drift.budget import AlarmBudget


@runtime_checkable
class Budgeted(Protocol):
    """A detector whose threshold is set from a false-alarm budget."""

    def join_family(
        self,
        budget: AlarmBudget,
        family_size: Callable[[], int],
        clock: Callable[[], float] | None = None,
    ) -> None: ...


def join_family(
    detector: Detector,
    budget: AlarmBudget,
    family_size: Callable[[], int],
    clock: Callable[[], float],
) -> None:
    """Give ``detector`` the budget, its family's size and the stream's event clock."""
    if isinstance(detector, Budgeted):
        detector.join_family(budget, family_size, clock)
