"""The control plane's JSON view of one monitored model (no event values)."""

from __future__ import annotations

from typing import Any

from detectors.fairness.config import LABELLED_METRICS, LOWER_IS_WORSE, ModelFairnessConfig
from detectors.fairness.metrics import METRICS, RATE_PARTS, estimate, z_score
from detectors.fairness.model_state import Hysteresis, ModelState, json_float
from detectors.fairness.window import GroupTally


def snapshot(model: str, state: ModelState) -> dict[str, Any]:
    """Per attribute: each metric's Fairlearn value, threshold, state and last evidence;
    per configured group: counts, rates and Wilson intervals.

    Values are those of the last evaluation; counts are live.
    """
    cfg, window = state.config, state.window
    z = z_score(cfg.confidence)
    attributes: dict[str, Any] = {}
    for d, dim in enumerate(window.dimensions):
        groups = window.groups(d)
        metrics_view: dict[str, Any] = {}
        for metric, threshold in cfg.metrics.items():
            hyst = state.hysteresis.get((dim.name, metric), Hysteresis())
            metrics_view[metric] = {
                "value": json_float(METRICS[metric](groups)),
                "threshold": threshold,
                "breach_when": "below" if metric in LOWER_IS_WORSE else "above",
                "needs_labels": metric in LABELLED_METRICS,
                "state": hyst.state,
                "evidence": hyst.evidence,
                "breach_run": hyst.breach_run,
                "clear_run": hyst.clear_run,
            }
        groups_view = {
            label: {"counts": tally.as_dict(), **_rates(tally, cfg, z)}
            for label, tally in groups.items()
        }
        attributes[dim.name] = {"metrics": metrics_view, "groups": groups_view}
    return {
        "model": model,
        "version": state.version,
        "events": len(window),
        "confidence": cfg.confidence,
        "min_group_size": cfg.min_group_size,
        "attributes": attributes,
    }


def _rates(tally: GroupTally, cfg: ModelFairnessConfig, z: float) -> dict[str, Any]:
    rates: dict[str, Any] = {}
    for rate in RATE_PARTS:
        est = estimate(tally, rate, z)
        rates[rate] = (
            {
                "value": est.value,
                "lower": est.lower,
                "upper": est.upper,
                "n": est.total,
                "eligible": est.total >= cfg.min_group_size,
            }
            if est.total
            else None
        )
    return rates
