"""End to end through Kafka: no PII or secret survives, and retention is enforced by topics.

Every test publishes real events to a real broker and reads back the raw bytes
(value, key and every header) of every message on every topic Guardian writes.
A value counts as leaked if it appears verbatim or JSON-escaped (a private key's
newlines become ``\\n`` in the JSON body), so the scan sees what a consumer of
the topic would see.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from load_tests.corpus import PII_KINDS
from service.kafka.topics import describe_topic_configs
from service.retention import RetentionSettings
from service.settings import GuardianSettings
from tests.kafka_helpers import (
    drain,
    make_settings,
    process_log,
    produce,
    sanitized_topics,
    start_guardian_process,
    wait_ready,
)

pytestmark = pytest.mark.integration

TS = "2026-03-01T12:00:00.000Z"
HEADERS = ("guardian-retention-class", "guardian-expires-at", "guardian-policy-version")


# --------------------------------------------------------------------------- PII values


PATTERN_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
)
SECRET_ENTITIES = (
    "AWS_ACCESS_KEY",
    "GITHUB_TOKEN",
    "SLACK_TOKEN",
    "JWT",
    "PRIVATE_KEY",
    "SECRET",
)


def _pii() -> list[tuple[str, str, str]]:
    """(entity, value, sentence carrying it): every pattern type and every secret kind."""
    rng = random.Random(20260301)
    out = []
    for entity in (*PATTERN_ENTITIES, *SECRET_ENTITIES):
        make, templates = PII_KINDS[entity]
        value = make(rng)
        out.append((entity, value, templates[0].format(v=value)))
    api_key = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(24))
    out.append(("SECRET", api_key, f'client config: api_key = "{api_key}" in prod'))
    return out


PII = _pii()


def needles() -> list[bytes]:
    """Byte strings that must never appear: each value, raw and JSON-escaped, key lines too."""
    found: set[bytes] = set()
    for entity, value, _ in PII:
        found.add(value.encode())
        found.add(orjson.dumps(value)[1:-1])
        if entity == "PRIVATE_KEY":
            found.update(line.encode() for line in value.splitlines() if "-----" not in line)
    return sorted(found)


def leaks(messages: list[Any]) -> list[str]:
    """Which needles occur in which message (value, key, headers); empty when clean."""
    out = []
    for m in messages:
        blobs = [m.value or b"", m.key or b""] + [v or b"" for _k, v in m.headers or ()]
        blob = b"\x00".join(blobs)
        for needle in needles():
            if needle in blob:
                out.append(f"{m.topic}[{m.partition}]@{m.offset} holds {needle[:12]!r}...")
    return out


# --------------------------------------------------------------------------- events


def event(event_id: str, **parts: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "event_id": event_id,
        "timestamp": TS,
        "model": {"name": "support-chat", "version": "1.0"},
        "inputs": {"features": {"age": 41.0}},
        "outputs": {"prediction": "ok"},
        "metadata": {"region": "eu"},
    }
    for key, value in parts.items():
        if key == "text":
            body["inputs"]["text"] = value
        elif key == "output":
            body["outputs"]["text"] = value
        elif key == "feature":
            body["inputs"]["features"]["note"] = value
        elif key == "metadata":
            body["metadata"].update(value)
    return body


def pii_events() -> list[dict[str, Any]]:
    """Each value in a prompt, an output, nested metadata and a string feature."""
    events = []
    for i, (_entity, _value, sentence) in enumerate(PII):
        events += [
            event(f"p{i}", text=f"Hello there. {sentence} Thanks!"),
            event(f"o{i}", output=f"Sure. {sentence}"),
            event(f"m{i}", metadata={"thread": {"notes": ["first", sentence]}}),
            event(f"f{i}", feature=sentence),
        ]
    email_sentence = PII[0][2]
    events.append(event("k0", metadata={email_sentence: "value under a personal key"}))
    return events


def clean_events() -> list[dict[str, Any]]:
    return [
        event(f"c{i}", text="Summarize the meeting notes in three bullet points.", output="Done.")
        for i in range(5)
    ]


def malformed_with_pii() -> list[tuple[bytes, str]]:
    """Messages the validator rejects, each carrying PII; the expected DLQ reason."""
    email, phone, card = PII[0][2], PII[1][2], PII[2][2]
    ssn, key_block = PII[5][2], PII[10][2]
    wrong_ts = event("bad1", text=email)
    wrong_ts["timestamp"] = 12345
    extra = event("bad2", text=phone)
    # Unknown top-level fields are kept and scanned now (schema.unknown_fields); an input's
    # own `guardian` block is still refused.
    extra["guardian"] = {"comment": card}
    nested_feature = event("bad3")
    nested_feature["inputs"]["features"]["profile"] = {"ssn": ssn, "card": card}
    personal_key = event("bad4")
    personal_key["inputs"]["features"] = {email: {"nested": True}}
    bad_model = event("bad5", output=key_block)
    bad_model["model"]["name"] = email  # not an identifier
    return [
        (b"not json at all: " + email.encode(), "not_json"),
        (phone.encode() + b"\xff\xfe", "invalid_utf8"),
        (orjson.dumps(wrong_ts), "invalid_schema"),
        (orjson.dumps(extra), "invalid_schema"),
        (orjson.dumps(nested_feature), "invalid_schema"),
        (orjson.dumps(personal_key), "invalid_schema"),
        (orjson.dumps(bad_model), "invalid_schema"),
    ]


def all_topics(settings: GuardianSettings) -> list[str]:
    t = settings.kafka.topics
    # guardian.repartition too: the detect stage's copy of every sanitized event (issue 19)
    return [
        *sanitized_topics(settings),
        *(t.dlq, t.alerts, t.audit, t.config, t.state, t.membership, t.repartition),
    ]


def retention_settings(**overrides: Any) -> dict[str, Any]:
    return {"redaction": {"workers": 1, **overrides}}


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await describe_topic_configs(admin, topics)
    finally:
        await admin.close()


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def headers_of(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers or ()}


# --------------------------------------------------------------------------- tests


def test_the_published_messages_really_carry_every_value() -> None:
    """The leak scan would see each value: it is in what we publish."""
    published = [orjson.dumps(e) for e in pii_events()] + [m for m, _ in malformed_with_pii()]
    blob = b"\x00".join(published)
    for entity, value, _ in PII:
        assert value.encode() in blob or orjson.dumps(value)[1:-1] in blob, entity
    key_lines = [n for n in needles() if b"\n" not in n and b"-----" not in n and len(n) == 64]
    assert len(key_lines) == 4 and all(n in blob for n in key_lines)
    # Written out, not PATTERN_ENTITIES: a pattern type dropped from the corpus must show here.
    assert {e for e, _, _ in PII} >= {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "US_SSN",
    } | set(SECRET_ENTITIES)


async def test_no_pii_on_any_topic_and_retention_enforced(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap, **retention_settings())
    guardian = await guardian_factory(settings)
    t = settings.kafka.topics
    valid = pii_events()
    clean = clean_events()
    hold = [
        event("h0", text="Quarterly numbers.", metadata={"legal_hold": True}),
        event("h1", text=PII[0][2], metadata={"legal_hold": True}),
    ]
    malformed = malformed_with_pii()
    values = [orjson.dumps(e) for e in valid + clean + hold] + [m for m, _ in malformed]
    await produce(kafka_bootstrap, t.events, values)

    n_out = len(valid) + len(clean) + len(hold)
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=n_out, timeout_s=40)
    dlq = await drain(kafka_bootstrap, t.dlq, expect=len(malformed), timeout_s=20)
    assert sorted(orjson.loads(m.value)["event_id"] for m in out) == sorted(
        e["event_id"] for e in valid + clean + hold
    )
    assert len(dlq) == len(malformed)
    everything = await drain(kafka_bootstrap, all_topics(settings), idle_s=1.5)
    assert len(everything) >= 2 * n_out + len(malformed)  # each sanitized event twice
    assert leaks(everything) == []

    # Malformed messages reach the DLQ with their reasons, their content replaced.
    reasons = Counter(headers_of(m)["guardian-error"].split(":")[0] for m in dlq)
    assert reasons == Counter(reason for _, reason in malformed)

    # What was redacted is recorded, counted per entity, and the counts agree.
    recorded: Counter[str] = Counter()
    by_id = {}
    for m in out:
        body = orjson.loads(m.value)
        by_id[body["event_id"]] = (m, body)
        for r in body["guardian"]["redactions"]:
            assert set(r) == {"path", "entity", "operator", "count"}
            recorded[r["entity"]] += r["count"]
    registry = guardian.metrics.registry
    for entity in {e for e, _, _ in PII}:
        counted = registry.get_sample_value("guardian_redactions_total", {"entity": entity})
        assert counted == recorded[entity]
        assert counted >= 4  # prompt, output, metadata and feature of each value at least
    for i, (entity, _value, _sentence) in enumerate(PII):
        for prefix in "pomf":
            m, body = by_id[f"{prefix}{i}"]
            assert entity in headers_of(m)["guardian-pii"].split(","), (prefix, entity)

    # Retention: class and expiry in body and headers, the class's topic, Kafka enforcing it.
    policy = RetentionSettings().load_policy()
    configs = await topic_configs(kafka_bootstrap, [*sanitized_topics(settings), t.dlq])
    for event_id, (m, body) in by_id.items():
        h = headers_of(m)
        block = body["guardian"]
        assert h["guardian-retention-class"] == block["retention"]["class"]
        assert h["guardian-policy-version"] == block["policy_version"] == policy.version
        assert m.topic == f"{t.sanitized_prefix}{block['retention']['class']}"
        retention_ms = int(configs[m.topic]["retention.ms"])
        if block["retention"]["class"] == "legal_hold":
            assert h["guardian-expires-at"] == "never" and block["retention"]["expires_at"] is None
            assert retention_ms == -1
        else:
            assert h["guardian-expires-at"] == block["retention"]["expires_at"]
            assert retention_ms == _ms(block["retention"]["expires_at"]) - _ms(body["timestamp"])
        secret = set(h["guardian-pii"].split(",")) & set(SECRET_ENTITIES)
        if event_id.startswith("h"):
            assert block["retention"]["class"] == "legal_hold"
        elif event_id.startswith("c"):
            assert block["retention"]["class"] == "standard" and h["guardian-pii"] == ""
        else:
            assert block["retention"]["class"] == ("ephemeral" if secret else "short")
    # PII is kept shorter than clean data, and the DLQ gets the shortest class's retention.
    ms = {name: c.retention_ms for name, c in policy.classes.items()}
    assert ms["short"] < ms["standard"] and ms["ephemeral"] < ms["standard"]
    finite = min(v for v in ms.values() if v > 0)
    assert int(configs[t.dlq]["retention.ms"]) == finite == ms["ephemeral"]


async def test_redaction_failure_fails_closed_to_the_dlq(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap, **retention_settings(timeout_s=0.000_001))
    guardian = await guardian_factory(settings)
    t = settings.kafka.topics
    valid = pii_events()[:12]
    await produce(kafka_bootstrap, t.events, [orjson.dumps(e) for e in valid])
    dlq = await drain(kafka_bootstrap, t.dlq, expect=len(valid), timeout_s=30)
    out = await drain(kafka_bootstrap, sanitized_topics(settings), idle_s=1.0)
    assert out == []
    assert sorted(orjson.loads(m.value)["payload"]["event_id"] for m in dlq) == sorted(
        e["event_id"] for e in valid
    )
    assert leaks(dlq) == []
    for m in dlq:
        assert headers_of(m)["guardian-error"].startswith("redaction_failed")
        payload = orjson.loads(m.value)["payload"]
        # Every scanned field is replaced by its type and size, identifiers kept.
        for text in (
            payload["inputs"].get("text"),
            payload["outputs"].get("text"),
            payload["inputs"]["features"].get("note"),
        ):
            assert text is None or (text.startswith("<str:") and text.endswith(">"))
        assert payload["event_id"] in {e["event_id"] for e in valid}
    failures = guardian.metrics.registry.get_sample_value("guardian_redaction_failures_total")
    assert failures == len(valid)


async def _create_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=configs)])
    finally:
        await admin.close()


async def test_wrong_retention_of_an_existing_topic_is_corrected_at_start(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap, **retention_settings())
    short = f"{settings.kafka.topics.sanitized_prefix}short"
    await _create_topic(kafka_bootstrap, short, {"retention.ms": "12345"})
    assert (await topic_configs(kafka_bootstrap, [short]))[short]["retention.ms"] == "12345"
    guardian = await guardian_factory(settings)
    assert (await topic_configs(kafka_bootstrap, [short]))[short]["retention.ms"] == str(
        7 * 86_400_000
    )
    assert guardian.worker.topic_mismatches == []
    assert (
        guardian.metrics.registry.get_sample_value(
            "guardian_retention_topic_mismatch", {"topic": short}
        )
        == 0  # corrected: exported as 0, so a dashboard sees the topic is fine
    )


async def test_uncorrectable_retention_is_reported_as_metric_and_log(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """A broker that refuses the change (e.g. no ALTER_CONFIGS permission) is reported."""

    async def refuse(self: AIOKafkaAdminClient, resources: Any, **_: Any) -> None:
        return None

    monkeypatch.setattr(AIOKafkaAdminClient, "alter_configs", refuse)
    settings = make_settings(kafka_bootstrap, **retention_settings())
    short = f"{settings.kafka.topics.sanitized_prefix}short"
    await _create_topic(kafka_bootstrap, short, {"retention.ms": "12345"})
    with caplog.at_level(logging.WARNING, logger="service.kafka.topics"):
        guardian = await guardian_factory(settings)
    value = guardian.metrics.registry.get_sample_value(
        "guardian_retention_topic_mismatch", {"topic": short}
    )
    assert value == 1
    assert (await topic_configs(kafka_bootstrap, [short]))[short]["retention.ms"] == "12345"
    lines = [r.getMessage() for r in caplog.records if short in r.getMessage()]
    assert lines and "retention.ms is 12345" in lines[0] and str(7 * 86_400_000) in lines[0]


async def test_nothing_scanned_reaches_the_log_at_debug(kafka_bootstrap: str) -> None:
    """A `guardian run` at DEBUG over PII events (valid and malformed) logs no value."""
    settings = make_settings(kafka_bootstrap)
    proc = start_guardian_process(
        settings, GUARDIAN_LOG_LEVEL="DEBUG", GUARDIAN_REDACTION__WORKERS="1"
    )
    try:
        await wait_ready(settings.http.port, timeout_s=60)
        t = settings.kafka.topics
        valid = pii_events()
        malformed = malformed_with_pii()
        await produce(
            kafka_bootstrap, t.events, [orjson.dumps(e) for e in valid] + [m for m, _ in malformed]
        )
        await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(valid), timeout_s=40)
        await drain(kafka_bootstrap, t.dlq, expect=len(malformed), timeout_s=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 15)
    log = process_log(proc)
    assert proc.returncode == 0, log[-2000:]
    assert " DEBUG " in log  # the level really was DEBUG
    assert "rejected" in log  # and the per-event debug lines were written
    text = log.encode()
    assert [n[:12] for n in needles() if n in text] == []
    assert " DEBUG presidio" not in log  # Presidio logs analysed text at DEBUG
