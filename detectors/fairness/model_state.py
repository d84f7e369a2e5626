"""One monitored model's state: its window, its breach/clear hysteresis, and its checkpoint form.

The hysteresis (see :mod:`detectors.fairness.monitor` for the verdict rule):
``breach_after`` consecutive breach evaluations declare a breach;
``clear_after`` consecutive "within" evaluations clear it; anything else
(inconclusive, too few eligible groups) resets both runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from detectors.fairness.config import ModelFairnessConfig
from detectors.fairness.metrics import Evidence
from detectors.fairness.window import FairnessWindow

STATE_VERSION = 1
_KEY_SEP = "|"


@dataclass(slots=True)
class Hysteresis:
    """Breach state and runs of one (attribute, metric) of one model."""

    state: Literal["ok", "breach"] = "ok"
    breach_run: int = 0
    clear_run: int = 0
    evidence: Evidence = "insufficient"
    value: float = math.nan

    def step(
        self, evidence: Evidence, value: float, cfg: ModelFairnessConfig
    ) -> Literal["breach", "clear"] | None:
        """Record one evaluation; the transition it causes, if any."""
        self.evidence, self.value = evidence, value
        if evidence == "breach":
            self.breach_run += 1
            self.clear_run = 0
        elif evidence == "within":
            self.clear_run += 1
            self.breach_run = 0
        else:
            self.breach_run = self.clear_run = 0
        if self.state == "ok" and self.breach_run >= cfg.breach_after:
            self.state = "breach"
            return "breach"
        if self.state == "breach" and self.clear_run >= cfg.clear_after:
            self.state = "ok"
            return "clear"
        return None


class ModelState:
    """What the monitor holds for one model."""

    __slots__ = (
        "config",
        "window",
        "version",
        "since_eval",
        "labels_since_eval",
        "last_eval",
        "hysteresis",
    )

    def __init__(self, config: ModelFairnessConfig, window: FairnessWindow) -> None:
        self.config = config
        self.window = window
        self.version = ""
        self.since_eval = 0
        #: labels joined since the last evaluation (they drive evaluation too)
        self.labels_since_eval = 0
        self.last_eval = -math.inf
        self.hysteresis: dict[tuple[str, str], Hysteresis] = {}

    def export(self) -> dict[str, Any]:
        """The checkpoint form of this model (JSON)."""
        return {
            "version": self.version,
            "since_eval": self.since_eval,
            "labels_since_eval": self.labels_since_eval,
            "last_eval": self.last_eval if math.isfinite(self.last_eval) else None,
            "window": self.window.export_state(),
            "hysteresis": {
                f"{attr}{_KEY_SEP}{metric}": {**asdict(h), "value": json_float(h.value)}
                for (attr, metric), h in self.hysteresis.items()
            },
        }

    @classmethod
    def restore(cls, cfg: ModelFairnessConfig, saved: Mapping[str, Any]) -> ModelState:
        """Inverse of :meth:`export` under ``cfg``.

        Group ids are remapped by label (see :meth:`FairnessWindow.from_state`);
        breach states of attributes and metrics ``cfg`` still has are kept.
        """
        state = cls(cfg, FairnessWindow.from_state(cfg, saved["window"]))
        state.version = str(saved.get("version", ""))
        state.since_eval = int(saved.get("since_eval", 0))
        state.labels_since_eval = int(saved.get("labels_since_eval", 0))
        last_eval = saved.get("last_eval")
        state.last_eval = -math.inf if last_eval is None else float(last_eval)
        dims = {dim.name for dim in state.window.dimensions}
        for key, h in saved.get("hysteresis", {}).items():
            attr, _, metric = key.rpartition(_KEY_SEP)
            if attr in dims and metric in cfg.metrics:
                value = h.get("value")
                state.hysteresis[(attr, metric)] = Hysteresis(
                    state=h["state"],
                    breach_run=int(h["breach_run"]),
                    clear_run=int(h["clear_run"]),
                    evidence=h["evidence"],
                    value=math.nan if value is None else float(value),
                )
        return state


def json_float(value: float) -> float | None:
    """NaN (no value yet) as JSON ``null``."""
    return None if math.isnan(value) else value
