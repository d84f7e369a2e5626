"""Text statistics of LLM traffic: values, PII from the redaction stage, n-gram drift, streams."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from scipy.spatial.distance import jensenshannon

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import LabelJoin
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from detectors.text.config import TextConfig
from detectors.text.ngrams import ReferenceProfile, js_divergence, profile
from detectors.text.statistics import TextStatistics
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.detect import DetectStage

MODEL = "chat-bot"
#: buckets of " abc " (3 trigrams); a change here would orphan every checkpointed reference
STABLE_BUCKETS_OF_ABC = [306, 535, 735]


def _stats(**entry: Any) -> TextStatistics:
    return TextStatistics(TextConfig.from_mapping({"models": [{"model": "chat-*", **entry}]}))


def _event(prompt: Any = None, answer: Any = None, redactions: Any = ()) -> dict[str, Any]:
    event: dict[str, Any] = {"inputs": {}, "outputs": {}, "guardian": {"redactions": redactions}}
    if prompt is not None:
        event["inputs"]["text"] = prompt
    if answer is not None:
        event["outputs"]["text"] = answer
    return event


@pytest.mark.parametrize(
    "answer, refusal",
    [
        ("I'm sorry, but I can't help with that request.", True),
        ("I cannot assist with that.", True),
        ("As an AI language model, I do not have opinions.", True),
        ("That would violate our policies.", True),
        ("Sure! Here is the recipe you asked for.", False),
        # a crude heuristic: an apology opening counts, whatever follows
        ("I'm sorry to hear that your cat is ill; here is what to do.", True),
        ("The sorry state of the economy is explained below.", False),
    ],
)
def test_refusal_like_outputs(answer: str, refusal: bool) -> None:
    out = _stats(statistics=["refusal"]).features(MODEL, "1", _event("hi", answer))
    assert out == {"text.output.refusal": 1000.0 if refusal else 0.0}


@pytest.mark.parametrize(
    "text, chars, tokens, empty",
    [
        ("", 0, 0, 1000.0),
        ("   \n", 4, 0, 1000.0),
        ("Hello, world!", 13, 4, 0.0),
        ("naïve café", 10, 2, 0.0),
    ],
)
def test_lengths_and_empty(text: str, chars: int, tokens: int, empty: float) -> None:
    out = _stats(statistics=["chars", "tokens", "empty"]).features(MODEL, "1", _event(text))
    assert out == {
        "text.input.chars": chars,
        "text.input.tokens": tokens,
        "text.input.empty": empty,
    }


def test_pii_rates_come_from_the_redaction_findings_per_field() -> None:
    stats = _stats(statistics=["pii"])
    found = [
        {"path": "inputs.text", "entity": "EMAIL_ADDRESS", "operator": "replace"},
        {"path": "inputs.text", "entity": "EMAIL_ADDRESS", "operator": "replace"},
        {"path": "outputs.text", "entity": "API_KEY", "operator": "replace"},
        {"path": "metadata.note", "entity": "PHONE_NUMBER", "operator": "replace"},
        "not a finding",
    ]
    assert stats.features(MODEL, "1", _event("<EMAIL_ADDRESS>", "<API_KEY>", found)) == {
        "text.input.pii.EMAIL_ADDRESS": 1000.0,
        "text.output.pii.API_KEY": 1000.0,
    }
    # once seen on a field, the entity's stream gets a value for every text of that field
    assert stats.features(MODEL, "1", _event("clean", "clean")) == {
        "text.input.pii.EMAIL_ADDRESS": 0.0,
        "text.output.pii.API_KEY": 0.0,
    }
    # a malformed guardian block from a publisher never raises
    assert stats.features(MODEL, "1", {"inputs": {"text": "x"}, "guardian": "nope"}) == {
        "text.input.pii.EMAIL_ADDRESS": 0.0
    }


def test_language_codes_and_short_texts() -> None:
    stats = _stats(statistics=["language"])
    stats.load()
    cases = {
        "Could you please summarise the attached quarterly report for the board?": "en",
        "Pourriez-vous résumer le rapport trimestriel ci-joint pour le conseil?": "fr",
        "Könnten Sie bitte den beigefügten Quartalsbericht für den Vorstand zusammenfassen?": "de",
        "ok": "und",
    }
    for text, code in cases.items():
        assert stats.features(MODEL, "1", _event(text)) == {"text.input.language": code}


def test_models_without_config_and_non_text_fields_produce_nothing() -> None:
    stats = _stats()
    assert stats.features("credit-risk", "1", _event("hello")) == {}
    assert stats.features(MODEL, "1", _event(42, {"nested": "x"})) == {}


def test_js_divergence_agrees_with_scipy() -> None:
    rng = np.random.default_rng(2)
    buckets = 256
    reference = rng.random(buckets) * (rng.random(buckets) < 0.7)
    reference /= reference.sum()
    for text in ("the quick brown fox", "zzzz", "Grüße aus München", "a"):
        counts = profile(text, buckets)
        assert counts.sum() == len(f" {text.lower()} ".encode()) - 2  # one per byte trigram
        expected = jensenshannon(counts / counts.sum(), reference, base=2) ** 2
        assert js_divergence(counts, reference) == pytest.approx(expected, abs=1e-12)
    assert profile("", buckets).sum() == 0.0  # shorter than a trigram
    assert js_divergence(np.zeros(buckets), reference) == 0.0


def test_trigram_hashes_are_stable_across_processes() -> None:
    # the reference profile is checkpointed: the hash must not depend on PYTHONHASHSEED
    counts = profile("abc", 1024)
    assert [int(i) for i in np.flatnonzero(counts)] == STABLE_BUCKETS_OF_ABC


def test_ngram_distance_rises_when_the_topic_or_language_changes() -> None:
    stats = _stats(statistics=["ngram_js"], reference_texts=50)
    english = [
        f"Please help me plan a trip to the coast for {n} days with my family." for n in range(60)
    ]
    for text in english[:50]:  # the reference: no value yet
        assert stats.features(MODEL, "1", _event(text)) == {}
    same = [stats.features(MODEL, "1", _event(t))["text.input.ngram_js"] for t in english[50:]]
    other = [
        stats.features(MODEL, "1", _event(f"Wie koche ich Spätzle mit Käse für {n} Personen?"))[
            "text.input.ngram_js"
        ]
        for n in range(10)
    ]
    assert max(same) < min(other)
    assert all(0.0 <= v <= 1.0 for v in same + other)


def test_reference_profiles_survive_a_checkpoint() -> None:
    stats = _stats(statistics=["ngram_js", "pii"], reference_texts=10)
    finding = [{"path": "inputs.text", "entity": "EMAIL_ADDRESS"}]
    for n in range(10):
        stats.features(MODEL, "1", _event(f"question number {n}", redactions=finding))
    restored = _stats(statistics=["ngram_js", "pii"], reference_texts=10)
    restored.import_state(MODEL, stats.export_state(MODEL))
    text = _event("a new question")
    assert restored.features(MODEL, "1", text) == stats.features(MODEL, "1", text)
    with pytest.raises(ValueError):
        ReferenceProfile.from_state(10, 1024, {"texts": 3, "counts": [1.0, math.nan]})


def _ctx(i: int, prompt: str, answer: str) -> EventContext:
    ctx = EventContext(topic="inference.events", partition=0, offset=i, raw=b"")
    ctx.event = {
        "event_id": f"e{i}",
        "timestamp": "2026-12-01T00:00:00+00:00",
        "inputs": {"text": prompt},
        "outputs": {"text": answer},
        "guardian": {"redactions": []},
    }
    ctx.model, ctx.version, ctx.ts = MODEL, "1", 1_000_000.0 + i
    return ctx


async def test_text_streams_reach_the_drift_registry_and_its_metrics() -> None:
    registry = CollectorRegistry()
    metrics = GuardianMetrics(registry)
    drift = DetectorRegistry(DetectorSpecs.load(), metrics)
    stage = DetectStage(
        drift,
        FairnessMonitor(FairnessConfig(), metrics),
        LabelJoin(max_size=100, ttl_s=60.0, metrics=None),
        alerts=None,
        text=_stats(statistics=["chars", "refusal", "language"]),
    )
    stage.text.load()  # type: ignore[union-attr]
    batch = [
        _ctx(i, "Tell me a story about a dragon " * 2, "Once upon a time.") for i in range(300)
    ]
    await stage.process(batch)
    features = {d.feature for d in drift.list_detectors(model=MODEL)}
    assert {"text.input.chars", "text.output.refusal", "text.input.language"} <= features
    value = registry.get_sample_value(
        "guardian_drift_statistic",
        {"model": MODEL, "feature": "text.input.chars", "detector": "rank_window"},
    )
    assert value is not None
