"""Breach and clear decisions on estimates: the threshold, the interval and the hysteresis.

An evaluation counts as a breach of a metric's threshold when the estimate is
below it even at the upper end of its interval (with at least ``min_events``
scored events), as "within" when it is at or above ``threshold + clear_margin``;
``breach_after`` / ``clear_after`` consecutive evaluations change the state,
anything else resets both runs (the fairness monitor's hysteresis). A model
version and each of its segments keep their own :class:`Hysteresis` per metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from detectors.performance.cbpe import Estimate
from detectors.performance.config import ModelPerformanceConfig

State = Literal["ok", "breach"]


@dataclass(slots=True)
class Hysteresis:
    state: State = "ok"
    breach_run: int = 0
    clear_run: int = 0


def judge(
    cfg: ModelPerformanceConfig,
    hysteresis: dict[str, Hysteresis],
    estimated: Mapping[str, Estimate],
    n: int,
) -> list[tuple[str, Literal["breach", "clear"], float, float]]:
    """Advance each thresholded metric's hysteresis by one evaluation.

    Returns ``(metric, "breach" | "clear", estimate, threshold)`` for each
    metric whose state changed.
    """
    changed: list[tuple[str, Literal["breach", "clear"], float, float]] = []
    for metric, threshold in cfg.thresholds.items():
        est = estimated[metric]
        hyst = hysteresis.setdefault(metric, Hysteresis())
        if est.value is None or est.upper is None or n < cfg.min_events:
            hyst.breach_run = hyst.clear_run = 0
            continue
        if est.upper < threshold:  # below even at the favourable end of the interval
            hyst.breach_run, hyst.clear_run = hyst.breach_run + 1, 0
        elif est.value >= threshold + cfg.clear_margin:
            hyst.breach_run, hyst.clear_run = 0, hyst.clear_run + 1
        else:
            hyst.breach_run = hyst.clear_run = 0
        if hyst.state == "ok" and hyst.breach_run >= cfg.breach_after:
            hyst.state = "breach"
            changed.append((metric, "breach", est.value, threshold))
        elif hyst.state == "breach" and hyst.clear_run >= cfg.clear_after:
            hyst.state = "ok"
            changed.append((metric, "clear", est.value, threshold))
    return changed


def dump(hysteresis: Mapping[str, Hysteresis] | None) -> dict[str, dict[str, Any]]:
    return {metric: asdict(h) for metric, h in (hysteresis or {}).items()}


def load(saved: Mapping[str, Any], cfg: ModelPerformanceConfig) -> dict[str, Hysteresis]:
    """Saved hysteresis of the metrics the config still thresholds (raises on malformed)."""
    return {
        metric: Hysteresis(h["state"], int(h["breach_run"]), int(h["clear_run"]))
        for metric, h in saved.items()
        if metric in cfg.thresholds and h.get("state") in ("ok", "breach")
    }
