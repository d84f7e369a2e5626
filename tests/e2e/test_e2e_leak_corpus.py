"""The leak corpus end to end: no value on any topic Guardian writes, in its log, or on /metrics.

One ``guardian run`` at DEBUG (the shipped config, NER on where installed)
reads every case of :mod:`tests.leak_corpus` from Kafka. Then every message on
every topic it writes (sanitized, DLQ, alerts, audit, config, state: value,
key and headers), its whole log and a ``/metrics`` scrape are searched for
every case's needles, raw and in the escaped forms JSON and ``repr`` give them.
A failure lists the leaking cases per family.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from typing import Any

import httpx
import orjson
import pytest

from tests.kafka_helpers import (
    drain,
    make_settings,
    process_log,
    produce,
    sanitized_topics,
    start_guardian_process,
    wait_ready,
)
from tests.leak_corpus import (
    FAMILIES,
    HELDOUT_SEED,
    TUNING_SEED,
    LeakCase,
    generate,
)


def forms(needle: str) -> set[bytes]:
    """A needle as it can appear in bytes: raw, JSON-escaped (both ways), repr-escaped."""
    out = {needle.encode()}
    out.add(orjson.dumps(needle)[1:-1])
    out.add(json.dumps(needle)[1:-1].encode())
    out.add(repr(needle)[1:-1].encode("utf-8", "backslashreplace"))
    out.add(json.dumps(json.dumps(needle))[3:-3].encode())  # a JSON string inside JSON
    return {f for f in out if f}


def leaked_cases(cases: list[LeakCase], blobs: dict[str, bytes]) -> dict[str, list[str]]:
    """family -> ["case-id in <where>", ...] for every needle found in any blob."""
    found: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        for needle in case.needles:
            hits = [where for where, blob in blobs.items() if any(f in blob for f in forms(needle))]
            if hits:
                found[case.family].append(f"{case.case_id} in {','.join(sorted(set(hits)))}")
                break
    return dict(found)


def _where(message: Any) -> str:
    return message.topic.split(".", 1)[1] if "." in message.topic else message.topic


# --------------------------------------------------------------------------- the corpus itself


@pytest.mark.parametrize("seed", [TUNING_SEED, HELDOUT_SEED])
def test_corpus_is_large_varied_unique_and_seeded(seed: int) -> None:
    cases = generate(seed)
    assert len(cases) >= 400
    assert len(FAMILIES) >= 12 and {c.family for c in cases} == set(FAMILIES)
    values = [c.value for c in cases]
    assert len(set(values)) == len(values)
    assert generate(seed) == cases
    shapes = {t for c in cases if c.family == "person" for t in c.tags}
    assert shapes >= {"title", "hyphen", "apostrophe", "foreign", "lower"}
    assert {c.place for c in cases} >= {"text", "output", "feature", "prediction", "protected"}
    assert max(len(c.text) for c in cases if c.family == "long_string") >= 20_000


def test_heldout_seed_shares_no_value_with_the_tuning_seed() -> None:
    tuning = {c.value for c in generate(TUNING_SEED) if c.family not in ("location", "person")}
    heldout = {c.value for c in generate(HELDOUT_SEED) if c.family not in ("location", "person")}
    assert not tuning & heldout


def test_every_case_event_is_valid_and_carries_its_value() -> None:
    """What is published holds each value (decoded and normalised forms need not)."""
    from service.schema import InferenceEvent

    for case in generate(TUNING_SEED):
        event = case.event()
        InferenceEvent.model_validate(event)
        raw = orjson.dumps(event)
        assert any(f in raw for f in forms(case.value)), case.case_id


def test_the_leak_check_sees_a_leak() -> None:
    cases = generate(TUNING_SEED)[:3]
    blob = b'{"x": "' + orjson.dumps(cases[1].value)[1:-1] + b'"}'
    assert leaked_cases(cases, {"dlq": blob, "log": b"nothing"}) == {
        cases[1].family: [f"{cases[1].case_id} in dlq"]
    }


# --------------------------------------------------------------------------- end to end


@pytest.mark.integration
async def test_no_corpus_value_leaves_guardian(kafka_bootstrap: str) -> None:
    cases = generate(TUNING_SEED)
    settings = make_settings(kafka_bootstrap)
    t = settings.kafka.topics
    # A generous analysis deadline: an event failed closed to the DLQ is scrubbed whole,
    # which would hide a recognizer's miss; every event here must really be analysed.
    proc = start_guardian_process(
        settings,
        GUARDIAN_LOG_LEVEL="DEBUG",
        GUARDIAN_REDACTION__WORKERS="2",
        GUARDIAN_REDACTION__TIMEOUT_S="300",
    )
    try:
        await wait_ready(settings.http.port, timeout_s=90)
        await produce(
            kafka_bootstrap, t.events, [orjson.dumps(c.event(i)) for i, c in enumerate(cases)]
        )
        outputs = [*sanitized_topics(settings), t.dlq]
        out = await drain(kafka_bootstrap, outputs, expect=len(cases), timeout_s=60)
        assert len(out) >= len(cases), f"only {len(out)} of {len(cases)} events came out"
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{settings.http.port}/metrics")).content
        everything = await drain(
            kafka_bootstrap,
            [*outputs, t.alerts, t.audit, t.config, t.state],
            idle_s=1.0,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
    log = process_log(proc)
    assert " DEBUG " in log  # the level really was DEBUG
    dlq = [
        dict(m.headers or ()).get("guardian-error", b"?") for m in everything if m.topic == t.dlq
    ]
    assert dlq == [], f"{len(dlq)} valid events went to the DLQ: {sorted(set(dlq))[:5]}"
    sanitized = {m.topic for m in everything} & set(sanitized_topics(settings))
    assert sum(m.topic in sanitized for m in everything) >= len(cases)
    blobs: dict[str, bytes] = defaultdict(bytes)
    for m in everything:
        parts = [m.value or b"", m.key or b""] + [v or b"" for _k, v in m.headers or ()]
        blobs[_where(m)] += b"\x00".join(parts) + b"\x00"
    blobs["log"] = log.encode()
    blobs["metrics"] = metrics
    leaks = leaked_cases(cases, blobs)
    summary = {family: f"{len(ids)} leaked, e.g. {ids[:2]}" for family, ids in leaks.items()}
    assert leaks == {}, json.dumps(summary, indent=1, ensure_ascii=False)
