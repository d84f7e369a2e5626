"""Issue 7, metric hygiene end to end: 5,000 model names cannot blow up ``/metrics``.

A publisher sends one event for each of 5,000 distinct model names, each with a
feature name of its own and an unconfigured protected-attribute value. Through
Kafka and the whole pipeline (drift detectors, fairness monitor, alert engine),
the ``/metrics`` page of the control plane must keep every data-derived label
(model, feature, entity, attribute, group) to at most ``top_k`` values plus
``__other__``, while counting every event.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import OTHER
from tests.e2e_streams import event, sample, wait_for
from tests.kafka_helpers import make_settings, produce, wait_detected

pytestmark = pytest.mark.integration

MODELS = 5_000
TOP_K = 20
DATA_LABELS = ("model", "feature", "entity", "attribute", "group")


def events() -> list[bytes]:
    t0 = time.time()
    return [
        orjson.dumps(
            event(
                f"tenant-model-{i:05d}",
                {"amount": float(i % 97), f"x_{i}": float(i % 13)},
                ts=t0 + i * 1e-3,
                outputs={"prediction": i % 2, "score": (i % 10) / 10},
                protected={"gender": f"g{i}"},  # not a configured group: __other__
            )
        )
        for i in range(MODELS)
    ]


async def test_label_values_stay_bounded_with_5000_model_names(
    kafka_bootstrap: str, guardian_factory: Any
) -> None:
    settings = make_settings(
        kafka_bootstrap, redaction={"workers": 0}, limits={"top_k_label_values": TOP_K}
    )
    guardian = await guardian_factory(settings)
    registry = guardian.metrics.registry
    await produce(kafka_bootstrap, settings.kafka.topics.events, events())

    def total_processed() -> float:
        return sum(
            s.value
            for family in registry.collect()
            for s in family.samples
            if s.name == "guardian_events_processed_total"
        )

    await wait_for(lambda: total_processed() >= MODELS, within=30, what="5,000 events processed")
    assert total_processed() == MODELS  # folded, not dropped
    await wait_detected(settings)  # the detectors read the events back from the repartition topic
    # the worker's health loop exports how many values were folded
    await wait_for(
        lambda: sample(registry, "guardian_label_values_folded_total", label="model") > 0,
        within=5,
        what="folded-values counter",
    )

    transport = httpx.ASGITransport(app=guardian.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200

    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    series = 0
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            series += 1
            for name in DATA_LABELS:
                if name in s.labels:
                    values[(family.name, name)].add(s.labels[name])

    # the pipeline really produced data-derived series on every path, not just the counter
    assert len(values[("guardian_events_processed", "model")]) == TOP_K + 1
    assert OTHER in values[("guardian_events_processed", "model")]
    # The first TOP_K model names seen anywhere are admitted for good (the front stages see
    # them first); the detect stage reads the models back from the repartition topic in
    # another order, and the drift registry and fairness monitor stop at their max_models
    # (200) of the 5,000: some admitted models may have no detector or window, so those
    # series name at most TOP_K models.
    for family in (
        "guardian_drift_detected",
        "guardian_drift_statistic",
        "guardian_fairness_value",
    ):
        assert 1 < len(values[(family, "model")]) <= TOP_K + 1, family
        assert OTHER in values[(family, "model")]
    assert len(values[("guardian_drift_detected", "feature")]) == TOP_K + 1
    groups = values[("guardian_fairness_group_events", "group")]
    assert OTHER in groups
    assert not any(g.startswith("g") and g[1:].isdigit() for g in groups)  # no raw value
    over = {key: len(v) for key, v in values.items() if len(v) > TOP_K + 1}
    assert over == {}, over
    # every data-derived label is bounded, so the page is too: hundreds of series, not thousands
    assert series < 2_000, series
    assert sample(registry, "guardian_events_processed_total", model=OTHER) == MODELS - TOP_K
