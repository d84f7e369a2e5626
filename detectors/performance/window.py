"""One (model, version)'s sliding window of scored events and its calibration pairs."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.fairness.window import event_key
from detectors.performance import cbpe
from detectors.performance.calibration import Calibrator, Method
from detectors.performance.config import CalibrationConfig
from detectors.performance.ring import KeyedRing

NO_LABEL = -1
_DIGITS = 6  # checkpointed scores keep 6 decimals: far below any estimate's resolution


class ScoreWindow:
    """The last ``size`` scored events (raw score, predicted class, label if joined).

    Also keeps the ``(raw score, label)`` pairs of joined labels (bounded by
    ``max_pairs``) that the calibrator is fitted on: they outlive the window,
    because labels often arrive after their events have left it.
    """

    __slots__ = (
        "size",
        "entries",
        "pairs",
        "calibrator",
        "since_fit",
        "since_eval",
        "labels_since_eval",
        "excluded",
        "last_ts",
    )

    def __init__(self, size: int, max_pairs: int) -> None:
        self.size = size
        #: hashed event id -> row [raw score, predicted (0/1), label (0/1 or NO_LABEL)]
        self.entries = KeyedRing(size, 3)
        self.pairs: deque[tuple[float, int]] = deque(maxlen=max_pairs)
        self.calibrator = Calibrator()
        self.since_fit = 0
        self.since_eval = 0
        self.labels_since_eval = 0
        self.excluded: dict[str, int] = {"missing": 0, "out_of_range": 0}
        self.last_ts = -math.inf

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, event_id: str, score: float, predicted: int, ts: float) -> None:
        # a redelivered event keeps its first values and label
        if not self.entries.add(event_key(event_id), (score, float(predicted), NO_LABEL)):
            return
        if ts > self.last_ts:
            self.last_ts = ts
        self.since_eval += 1

    def add_label(self, event_id: str, label: int) -> bool:
        """Join a label to an event in the window; a second label replaces the first."""
        at = self.entries.slot(event_key(event_id))
        if at is None:
            return False
        row = self.entries.data[at]
        first = row[2] == NO_LABEL
        row[2] = label
        if first:
            self.pairs.append((float(row[0]), label))
            self.since_fit += 1
        self.labels_since_eval += 1
        return True

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.int8]]:
        """Raw scores, predicted classes and labels (``NO_LABEL`` where none) of the window."""
        data = self.entries.rows()
        return data[:, 0], data[:, 1] > 0.5, data[:, 2].astype(np.int8)

    def evaluate(
        self, calibrator: Calibrator, z: float
    ) -> tuple[dict[str, cbpe.Estimate], dict[str, cbpe.Estimate], int]:
        """CBPE estimates (scores through ``calibrator``), realized values, labelled count."""
        raw, predicted, labels = self.arrays()
        estimated = cbpe.estimate(calibrator.apply(raw), raw, predicted, z)
        known = labels != NO_LABEL
        realized = cbpe.realized(labels[known] == 1, predicted[known], raw[known], z)
        return estimated, realized, int(known.sum())

    def pair_arrays(self) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        if not self.pairs:
            return np.empty(0), np.empty(0, dtype=bool)
        data = np.array(self.pairs, dtype=np.float64)
        return data[:, 0], data[:, 1] > 0.5

    # ------------------------------------------------------------------ calibration
    def refit(self, cal: CalibrationConfig) -> None:
        """Refit the calibrator on the pairs kept, when both classes have enough of them."""
        raw, labels = self.pair_arrays()
        self.since_fit = 0
        n_pos = int(labels.sum())
        if len(raw) < cal.min_labels or min(n_pos, len(raw) - n_pos) < cal.min_per_class:
            return
        self.calibrator = Calibrator.fit(raw, labels, _method(cal))

    def calibration_view(self, cal: CalibrationConfig) -> dict[str, Any]:
        calibrator = self.calibrator
        view: dict[str, Any] = {
            "method": calibrator.method,
            "fitted_on": calibrator.n_labels,
            "labels_available": len(self.pairs),
        }
        if calibrator.method == "identity":
            positives = sum(label for _, label in self.pairs)
            view["note"] = "scores taken as calibrated" + (
                " (calibration disabled)"
                if cal.method == "none"
                else f": a fit needs {cal.min_labels} joined labels with "
                f"{cal.min_per_class} of each class (have {positives} positive, "
                f"{len(self.pairs) - positives} negative)"
            )
        return view

    # ------------------------------------------------------------------ state
    def export_state(self) -> dict[str, Any]:
        return {
            "ids": self.entries.keys(),
            "rows": [
                [round(s, _DIGITS), int(p), int(y)] for s, p, y in self.entries.rows().tolist()
            ],
            "pairs": [[round(s, _DIGITS), y] for s, y in self.pairs],
            "calibrator": self.calibrator.as_dict(),
            "since_fit": self.since_fit,
            "since_eval": self.since_eval,
            "labels_since_eval": self.labels_since_eval,
            "excluded": dict(self.excluded),
            "last_ts": self.last_ts if math.isfinite(self.last_ts) else None,
        }

    @classmethod
    def from_state(cls, size: int, max_pairs: int, saved: Mapping[str, Any]) -> ScoreWindow:
        window = cls(size, max_pairs)
        ids, rows = saved["ids"], saved["rows"]
        if len(ids) != len(rows):
            raise ValueError("performance window state: ids and rows differ in length")
        for key, (score, predicted, label) in list(zip(ids, rows, strict=True))[-size:]:
            score = float(score)
            if not 0.0 <= score <= 1.0 or int(label) not in (NO_LABEL, 0, 1):
                raise ValueError("performance window state holds an invalid row")
            window.entries.add(int(key), (score, float(int(predicted)), float(int(label))))
        for score, label in saved.get("pairs", []):
            window.pairs.append((float(score), int(label)))
        window.calibrator = Calibrator.from_dict(saved.get("calibrator", {}))
        window.since_fit = int(saved.get("since_fit", 0))
        window.since_eval = int(saved.get("since_eval", 0))
        window.labels_since_eval = int(saved.get("labels_since_eval", 0))
        for reason, count in saved.get("excluded", {}).items():
            if reason in window.excluded:
                window.excluded[reason] = int(count)
        last_ts = saved.get("last_ts")
        window.last_ts = -math.inf if last_ts is None else float(last_ts)
        return window


def _method(cal: CalibrationConfig) -> Method:
    """The fit to use: ``auto`` is isotonic."""
    if cal.method == "none":
        return "identity"
    if cal.method in ("auto", "isotonic"):
        return "isotonic"
    return "platt"
