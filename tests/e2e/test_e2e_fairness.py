"""Issue 6, must show: fairness through Kafka agrees with Fairlearn; only the biased model breaches.

Models stream the same kind of traffic with ground truth on ``inference.labels``:
``fair-e2e`` treats every gender alike, ``biased-e2e`` and ``late-biased-e2e``
approve ``f`` half as often and with a lower true-positive rate. Labels of the
biased model arrive first (a replay), so its window is labelled as events enter;
labels of the other two arrive after their events (the usual order), so their
label-based metrics are computed by the periodic, time-driven evaluation, whose
breaches must reach the alert engine too. The fairness window is larger than the
stream, so the window holds exactly the events sent and Fairlearn on those
events is the reference.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
)

from service.alerting.engine import AlertFilter
from tests.e2e_streams import event, label, sample, wait_for
from tests.kafka_helpers import make_settings, produce

pytestmark = pytest.mark.integration

FAIR, BIASED, LATE = "fair-e2e", "biased-e2e", "late-biased-e2e"
N = 4_000
GENDERS = ("f", "m", "x")
#: P(prediction = 1 | label, gender) per model: (true-positive rate, false-positive rate)
RATES = {
    FAIR: {"f": (0.8, 0.2), "m": (0.8, 0.2), "x": (0.8, 0.2)},
    BIASED: {"f": (0.4, 0.1), "m": (0.8, 0.2), "x": (0.8, 0.2)},
    LATE: {"f": (0.4, 0.1), "m": (0.8, 0.2), "x": (0.8, 0.2)},
}
FAIRLEARN = {
    "demographic_parity_ratio": demographic_parity_ratio,
    "demographic_parity_difference": demographic_parity_difference,
    "equalized_odds_difference": equalized_odds_difference,
}


def fairness_config(path: Path) -> Path:
    common: dict[str, Any] = {
        "attributes": {"gender": list(GENDERS)},
        "prediction": {"positive": [1]},
        "label": {"positive": [1]},
        "window": {"size": 10 * N},  # holds the whole stream
        "evaluate_every": {"events": 100, "seconds": 1},
        "min_group_size": 30,
        "confidence": 0.95,
        "metrics": {
            "demographic_parity_ratio": 0.8,
            "demographic_parity_difference": 0.1,
            "equal_opportunity_difference": 0.1,
            "equalized_odds_difference": 0.1,
        },
        "clear_after": 3,
    }
    config = {
        "models": [
            # one confident evaluation declares a breach here: the periodic evaluation that sees
            # the late labels runs only every 5 s, and the test should not wait for three
            {"model": LATE, **common, "breach_after": 1},
            {"model": "*-e2e", **common, "breach_after": 3},
        ]
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def stream(model: str, rng: np.random.Generator) -> dict[str, Any]:
    """Events, labels and the arrays Fairlearn needs, for one model."""
    gender = rng.choice(GENDERS, size=N, p=[0.4, 0.4, 0.2])
    y_true = (rng.random(N) < 0.5).astype(int)
    tpr = np.array([RATES[model][g][0] for g in gender])
    fpr = np.array([RATES[model][g][1] for g in gender])
    y_pred = (rng.random(N) < np.where(y_true == 1, tpr, fpr)).astype(int)
    t0 = time.time()
    events = [
        event(
            model,
            {"amount": float(rng.normal(100, 20))},
            ts=t0 + i * 1e-3,
            outputs={"prediction": int(y_pred[i])},
            protected={"gender": str(gender[i])},
        )
        for i in range(N)
    ]
    return {
        "events": [orjson.dumps(e) for e in events],
        "labels": [
            label(model, e["event_id"], int(y)) for e, y in zip(events, y_true, strict=True)
        ],
        "y_true": y_true,
        "y_pred": y_pred,
        "gender": gender,
    }


async def test_fairness_values_match_fairlearn_and_only_the_biased_model_breaches(
    kafka_bootstrap: str, guardian_factory: Any, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_bootstrap,
        redaction={"workers": 0},
        fairness={"config_file": fairness_config(tmp_path / "fairness.yaml")},
    )
    guardian = await guardian_factory(settings)
    registry = guardian.metrics.registry
    topics = settings.kafka.topics
    rng = np.random.default_rng(6)
    data = {model: stream(model, rng) for model in (FAIR, BIASED, LATE)}

    # the biased model's labels come first: they wait in the join for their events
    await produce(kafka_bootstrap, topics.labels, data[BIASED]["labels"], key=BIASED.encode())
    await wait_for(lambda: guardian.label_join.pending == N, within=20, what="early labels")
    for model, d in data.items():
        await produce(kafka_bootstrap, topics.events, d["events"], key=model.encode())
    await wait_for(
        lambda: all(
            sample(registry, "guardian_events_processed_total", model=m) == N for m in data
        ),
        within=20,
        what="events processed",
    )
    # the other labels come after their events, as ground truth usually does
    for model in (FAIR, LATE):
        await produce(kafka_bootstrap, topics.labels, data[model]["labels"], key=model.encode())
    await wait_for(
        lambda: sample(registry, "guardian_labels_total", outcome="matched") == len(data) * N,
        within=20,
        what="every label joined",
    )

    expected = {
        (model, metric): float(
            fn(d["y_true"], d["y_pred"], sensitive_features=d["gender"])  # type: ignore[operator]
        )
        for model, d in data.items()
        for metric, fn in FAIRLEARN.items()
    }
    assert expected[(BIASED, "demographic_parity_ratio")] < 0.6
    assert expected[(LATE, "equalized_odds_difference")] > 0.3
    assert expected[(FAIR, "demographic_parity_ratio")] > 0.85

    def exported() -> dict[tuple[str, str], float]:
        return {
            key: sample(
                registry, "guardian_fairness_value", model=key[0], attribute="gender", metric=key[1]
            )
            for key in expected
        }

    def agrees() -> bool:
        return all(math.isclose(v, expected[k], abs_tol=1e-9) for k, v in exported().items())

    # the periodic evaluation (every few seconds) picks up the late labels
    try:
        await wait_for(agrees, within=15, what="gauges equal to Fairlearn")
    except AssertionError:
        assert exported() == expected  # shows the difference
        raise

    breaches = {
        (labels["model"], labels["metric"]): value
        for labels, value in [
            (dict(s.labels), s.value)
            for family in registry.collect()
            for s in family.samples
            if s.name == "guardian_fairness_breaches_total" and s.labels["attribute"] == "gender"
        ]
    }
    for metric in FAIRLEARN:
        assert breaches.get((BIASED, metric), 0) == 1, (metric, breaches)
        assert breaches.get((LATE, metric), 0) == 1, (metric, breaches)
    assert not any(v for (model, _), v in breaches.items() if model == FAIR), breaches

    fairness_alerts = guardian.alerts.list_alerts(AlertFilter(alertname="GuardianFairnessBreach"))
    alerted = {(a.labels["model"], a.labels["metric"]) for a in fairness_alerts}
    assert {(m, metric) for m in (BIASED, LATE) for metric in FAIRLEARN} <= alerted
    assert all(a.labels["attribute"] == "gender" for a in fairness_alerts)
    assert not any(model == FAIR for model, _ in alerted)
