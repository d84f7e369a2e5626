"""Realized MAE and RMSE of regression models, per model version, once labels join.

CBPE has no label-free counterpart for regression here, so a regression model's
answer holds realized values only (and says why no estimate exists). The
window keeps the last ``window`` numeric predictions keyed by hashed event id;
labels join to them as they arrive, and the same schedule as classification
(every ``evaluate_every.labels`` labels, and on the periodic tick) evaluates.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from detectors.fairness.window import event_key
from detectors.performance.cbpe import Estimate

METRICS = ("mae", "rmse")
NO_ESTIMATE = "no label-free estimate for regression models: realized values only"


class RegressionWindow:
    """The last ``size`` numeric predictions and the labels joined to them."""

    __slots__ = ("size", "entries", "since_eval", "labels_since_eval", "excluded", "last_ts")

    def __init__(self, size: int) -> None:
        self.size = size
        #: hashed event id -> [prediction, label (NaN until joined)]
        self.entries: OrderedDict[int, list[float]] = OrderedDict()
        self.since_eval = 0
        self.labels_since_eval = 0
        self.excluded: dict[str, int] = {"missing": 0, "label_not_numeric": 0}
        self.last_ts = -math.inf

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, event_id: str, prediction: float, ts: float) -> None:
        key = event_key(event_id)
        if key in self.entries:
            return
        self.entries[key] = [prediction, math.nan]
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        self.last_ts = max(self.last_ts, ts)
        self.since_eval += 1

    def add_label(self, event_id: str, label: object) -> bool:
        entry = self.entries.get(event_key(event_id))
        if entry is None:
            return False
        if type(label) not in (int, float) or not math.isfinite(label):  # type: ignore[arg-type]
            self.excluded["label_not_numeric"] += 1
            return False
        entry[1] = float(label)  # type: ignore[arg-type]
        self.labels_since_eval += 1
        return True

    def realized(self, z: float) -> tuple[dict[str, Estimate], int]:
        """MAE and RMSE over the labelled predictions, with normal-approximation intervals."""
        if not self.entries:
            return _none("no predictions in the window"), 0
        data = np.array(list(self.entries.values()), dtype=np.float64)
        labelled = data[~np.isnan(data[:, 1])]
        n = len(labelled)
        if n == 0:
            return _none("no joined labels in the window"), 0
        errors = labelled[:, 0] - labelled[:, 1]
        absolute, squared = np.abs(errors), errors**2
        mae, mse = float(absolute.mean()), float(squared.mean())
        if n < 2:
            return {"mae": Estimate(mae), "rmse": Estimate(math.sqrt(mse))}, n
        se_mae = float(absolute.std(ddof=1)) / math.sqrt(n)
        se_mse = float(squared.std(ddof=1)) / math.sqrt(n)
        return {
            "mae": Estimate(mae, max(0.0, mae - z * se_mae), mae + z * se_mae),
            "rmse": Estimate(
                math.sqrt(mse), math.sqrt(max(0.0, mse - z * se_mse)), math.sqrt(mse + z * se_mse)
            ),
        }, n

    def export_state(self) -> dict[str, Any]:
        return {
            "ids": list(self.entries),
            "rows": [[p, None if math.isnan(y) else y] for p, y in self.entries.values()],
            "excluded": dict(self.excluded),
            "last_ts": self.last_ts if math.isfinite(self.last_ts) else None,
        }

    @classmethod
    def from_state(cls, size: int, saved: Mapping[str, Any]) -> RegressionWindow:
        window = cls(size)
        ids, rows = saved["ids"], saved["rows"]
        if len(ids) != len(rows):
            raise ValueError("regression window state: ids and rows differ in length")
        for key, (prediction, label) in list(zip(ids, rows, strict=True))[-size:]:
            value = float(prediction)
            if not math.isfinite(value):
                raise ValueError("regression window state holds a non-finite prediction")
            window.entries[int(key)] = [value, math.nan if label is None else float(label)]
        for reason, count in saved.get("excluded", {}).items():
            if reason in window.excluded:
                window.excluded[reason] = int(count)
        last_ts = saved.get("last_ts")
        window.last_ts = -math.inf if last_ts is None else float(last_ts)
        return window


def _none(reason: str) -> dict[str, Estimate]:
    return {m: Estimate(None, reason=reason) for m in METRICS}
