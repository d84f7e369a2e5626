"""detectors/ is a library: it imports nothing of service/ and reports metrics through
any object of the :class:`detectors.telemetry.DetectorTelemetry` shape."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from typing import Any

from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from detectors.telemetry import DetectorTelemetry

IMPORT_ALL = """
import importlib, pkgutil, sys
import detectors
for info in pkgutil.walk_packages(detectors.__path__, "detectors."):
    importlib.import_module(info.name)
leaked = sorted(m for m in sys.modules if m == "service" or m.startswith("service."))
print(",".join(leaked))
"""


def test_importing_every_detector_module_loads_nothing_of_service() -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"detectors/ imported: {out.stdout.strip()}"


class _Series:
    def __init__(self, book: Counter[tuple[str, ...]], key: tuple[str, ...]) -> None:
        self._book, self._key = book, key

    def inc(self, amount: float = 1) -> None:
        self._book[self._key] += amount

    def set(self, value: float) -> None:
        self._book[self._key] = value


class _Family:
    def __init__(self, name: str) -> None:
        self.name = name
        self.book: Counter[tuple[str, ...]] = Counter()

    def labels(self, *values: str) -> Any:
        return _Series(self.book, values)

    def remove(self, *values: str) -> None:
        self.book.pop(values, None)


class _Level:
    value = 0.0

    def set(self, value: float) -> None:
        self.value = value


class PlainTelemetry:
    """A backend without prometheus-client: dictionaries."""

    def __init__(self) -> None:
        self.model_label = self.feature_label = self.attribute_label = self.group_label = str
        for name in (
            "drift_detected",
            "drift_statistic",
            "fairness_value",
            "fairness_breaches",
            "fairness_breached",
            "fairness_group_events",
            "fairness_group_rate",
            "detectors_refused",
            "labels_joined",
        ):
            setattr(self, name, _Family(name))
        self.detectors_active = _Level()


def test_a_registry_reports_through_a_backend_that_is_not_prometheus() -> None:
    telemetry = PlainTelemetry()
    backend: DetectorTelemetry = telemetry  # type: ignore[assignment]
    reg = DetectorRegistry(DetectorSpecs.load(), backend)
    rng = random.Random(7)
    hits = []
    for i in range(8000):
        mu = 1.0 if i >= 4000 else 0.0
        features = {"age": rng.gauss(mu, 1.0), "income": rng.gauss(0.0, 1.0)}
        hits += reg.observe("m", "1", features, {"score": rng.random()}, ts=float(i))
    assert [h.feature for h in hits] == ["age"]
    drift = telemetry.drift_detected.book  # type: ignore[attr-defined]
    assert drift[("m", "age", "rank_window")] == 1
    assert drift[("m", "income", "rank_window")] == 0
    assert telemetry.detectors_active.value == len(reg.list_detectors())  # type: ignore[attr-defined]
