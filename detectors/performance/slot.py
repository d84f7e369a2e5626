"""One model version's performance state, and its checkpoint form.

A :class:`Slot` holds the version's score window (or, for a regression model,
its prediction window), the verdict state of its thresholds, its last view and
its segment windows. :func:`export_slot` / :func:`restore_slot` turn it into
JSON and back under the current config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detectors.drift.segments import SegmentSpec
from detectors.performance.config import ModelPerformanceConfig
from detectors.performance.regression import RegressionWindow
from detectors.performance.segments import SegmentWindows
from detectors.performance.verdicts import Hysteresis, dump, load
from detectors.performance.window import ScoreWindow


@dataclass(slots=True)
class Slot:
    model: str
    version: str
    config: ModelPerformanceConfig
    window: ScoreWindow
    view: dict[str, Any] | None = None
    hysteresis: dict[str, Hysteresis] | None = None
    #: set for a regression model (realized MAE and RMSE only)
    regression: RegressionWindow | None = None
    task: str | None = None  # "binary" or "regression" once decided
    segments: SegmentWindows | None = None

    def due(self) -> tuple[int, int]:
        """Events and labels since the last evaluation, of whichever window is in use."""
        w = self.regression if self.regression is not None else self.window
        return w.since_eval, w.labels_since_eval


def task_of(cfg: ModelPerformanceConfig, outputs: Mapping[str, Any]) -> str:
    """Binary or regression, from the config or (``auto``) from the first event's outputs."""
    if cfg.task != "auto":
        return cfg.task
    score, prediction = outputs.get("score"), outputs.get("prediction")
    if score is None and type(prediction) is float:
        return "regression"
    return "binary"


def export_slot(slot: Slot) -> dict[str, Any]:
    """The checkpoint form of one model version (segments as membership, see segments.py)."""
    out: dict[str, Any] = {"task": slot.task, "window": slot.window.export_state()}
    if slot.regression is not None:
        out["regression"] = slot.regression.export_state()
    if slot.segments:
        out["segments"] = slot.segments.export_state(slot.window.entries.keys())
    out["hysteresis"] = dump(slot.hysteresis)
    return out


def restore_slot(
    model: str,
    version: str,
    cfg: ModelPerformanceConfig,
    saved: Mapping[str, Any],
    specs: Mapping[str, SegmentSpec],
) -> Slot | None:
    """Rebuild a checkpointed version under ``cfg``; ``None`` when the record is malformed.

    Segments are kept while their ``by`` is among ``specs`` (the current segment
    specs of the model, by ``by``).
    """
    try:
        window = ScoreWindow.from_state(cfg.window, cfg.calibration.max_pairs, saved["window"])
        hysteresis = load(saved.get("hysteresis", {}), cfg)
        regression = (
            RegressionWindow.from_state(cfg.window, saved["regression"])
            if "regression" in saved
            else None
        )
        segments = SegmentWindows.from_state(
            cfg, saved.get("segments", {}), set(specs), saved["window"]["ids"], window
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    slot = Slot(model, version, cfg, window, None, hysteresis, regression)
    task = saved.get("task")
    slot.task = task if task in ("binary", "regression") else None
    if slot.task == "regression" and regression is None:
        slot.regression = RegressionWindow(cfg.window)
    slot.segments = segments or None
    return slot
