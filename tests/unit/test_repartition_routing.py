"""Routing around the repartition topic (issue 19): what the worker writes, what runs where.

Input events run the front stages and are copied, sanitized, to the repartition
topic keyed by model; labels are forwarded there keyed by their model; records
read back from it run only the back stages (detect, checkpointer) and their
labels reach the join. Every topic's offsets go to the one delivery of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from service.kafka.factory import AiokafkaClients
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.outputs import OutputRecord
from service.pipeline.repartition import HEADER_KIND, HEADER_TS, UNREADABLE, Repartition
from service.pipeline.worker import PipelineWorker
from service.settings import GuardianSettings
from service.state.checkpointer import owner_topic

EVENTS, LABELS, ROUTED, OUT = "inference.events", "inference.labels", "rp", "sanitized"


@dataclass
class _Msg:
    offset: int
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class _Front:
    """Stands for validate → redact → retain: parses, "redacts" the text, routes to OUT."""

    name = "front"

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def process(self, batch: list[EventContext]) -> None:
        for ctx in batch:
            self.seen.append(ctx.where)
            event = orjson.loads(ctx.raw)
            event["inputs"]["text"] = "<EMAIL_ADDRESS>"
            ctx.event, ctx.model, ctx.version = event, event["model"]["name"], "1"
            ctx.ts, ctx.output_topic = 1764504000.125, OUT


class _Back:
    """Stands for detect → checkpointer: records what reached it."""

    name = "detect"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any] | None, float | None, bool]] = []

    async def process(self, batch: list[EventContext]) -> None:
        for ctx in batch:
            self.seen.append((ctx.where, ctx.model, ctx.event, ctx.ts, ctx.ok))


def _event(i: int, model: str = "credit-risk") -> bytes:
    return orjson.dumps(
        {"event_id": f"e{i}", "model": {"name": model}, "inputs": {"text": "a@b.example"}}
    )


def _label(i: int, model: str = "credit-risk") -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"e{i}",
            "model": {"name": model, "version": "1"},
            "label": 1,
            "timestamp": "2026-11-30T12:00:00Z",
        }
    )


def _worker(routed: bool) -> tuple[PipelineWorker, _Front, _Back, list[Any], list[Any]]:
    settings = GuardianSettings.load(None)
    front, back = _Front(), _Back()
    labels: list[Any] = []
    worker = PipelineWorker(
        settings,
        GuardianMetrics(CollectorRegistry()),
        [front, back],
        on_label=labels.append,
        clients=AiokafkaClients(settings),
        repartition=Repartition(ROUTED, detect_from=1) if routed else None,
    )
    delivered: list[Any] = []

    async def deliver(records: list[OutputRecord], offsets: dict[TopicPartition, int]) -> None:
        delivered.append((records, offsets))

    worker.delivery.deliver = deliver  # type: ignore[method-assign]
    return worker, front, back, labels, delivered


async def test_input_events_are_copied_sanitized_and_keyed_by_model() -> None:
    worker, front, back, labels, delivered = _worker(routed=True)
    polled = {
        # One model over two input partitions, unkeyed and keyed otherwise.
        TopicPartition(EVENTS, 0): [_Msg(10, _event(1)), _Msg(11, _event(2, "fraud"))],
        TopicPartition(EVENTS, 3): [_Msg(7, _event(3), key=b"e3")],
        TopicPartition(LABELS, 1): [_Msg(4, _label(1)), _Msg(5, b"not json")],
    }
    await worker.process_batch(polled)

    assert len(front.seen) == 3 and back.seen == [] and labels == []
    ((records, offsets),) = delivered
    assert offsets == {
        TopicPartition(EVENTS, 0): 12,
        TopicPartition(EVENTS, 3): 8,
        TopicPartition(LABELS, 1): 6,
    }
    out = [r for r in records if r.topic == OUT]
    routed = [r for r in records if r.topic == ROUTED]
    assert len(out) == 3
    events = [r for r in routed if dict(r.headers)[HEADER_KIND] == b"event"]
    # The same sanitized bytes as the output, keyed by model, placed by the partitioner.
    assert [(r.key, r.value, r.partition) for r in events] == [(o.key, o.value, None) for o in out]
    assert [r.key for r in events] == [b"credit-risk", b"fraud", b"credit-risk"]
    assert all(b"a@b.example" not in r.value for r in records)
    assert {dict(r.headers)[HEADER_TS] for r in events} == {b"1764504000.125"}
    (label,) = [r for r in routed if dict(r.headers)[HEADER_KIND] == b"label"]
    assert label.key == b"credit-risk" and orjson.loads(label.value)["event_id"] == "e1"
    assert [r.topic for r in records if r.topic not in (OUT, ROUTED)] == ["guardian.dlq"]


async def test_records_read_back_run_only_the_back_stages_and_labels_reach_the_join() -> None:
    worker, front, back, labels, delivered = _worker(routed=True)
    sanitized = orjson.dumps({"event_id": "e1", "model": {"name": "m", "version": "1"}})
    polled = {
        TopicPartition(ROUTED, 2): [
            _Msg(0, sanitized, b"m", [(HEADER_KIND, b"event"), (HEADER_TS, b"12.5")]),
            _Msg(1, _label(1, "m"), b"m", [(HEADER_KIND, b"label")]),
            _Msg(2, b"garbage", b"m", [(HEADER_KIND, b"event")]),
        ]
    }
    await worker.process_batch(polled)

    assert front.seen == []
    assert back.seen == [
        ("rp[2]@0", "m", orjson.loads(sanitized), 12.5, True),
        ("rp[2]@1", "m", None, None, True),  # a label: no event, its model (the checkpointer)
        ("rp[2]@2", "", None, None, False),
    ]
    assert [label["event_id"] for label in labels] == ["e1"]
    ((records, offsets),) = delivered
    assert offsets == {TopicPartition(ROUTED, 2): 3}
    (dead,) = records
    assert dead.topic == "guardian.dlq"
    assert dict(dead.headers)["guardian-error"].startswith(UNREADABLE.encode())
    consumed = worker.metrics.registry.get_sample_value("guardian_events_consumed_total")
    assert consumed == 0  # inference events are counted once, on the way in


async def test_off_runs_the_whole_chain_on_input_events() -> None:
    worker, front, back, labels, delivered = _worker(routed=False)
    polled = {
        TopicPartition(EVENTS, 0): [_Msg(0, _event(1))],
        TopicPartition(LABELS, 0): [_Msg(0, _label(1))],
    }
    await worker.process_batch(polled)
    assert len(front.seen) == 1 and [s[0] for s in back.seen] == ["inference.events[0]@0"]
    assert [label["event_id"] for label in labels] == ["e1"]
    ((records, _),) = delivered
    assert [r.topic for r in records] == [OUT]
    assert worker.input_topics == [EVENTS, LABELS]


def test_the_group_reads_the_repartition_topic_and_state_follows_it() -> None:
    on = GuardianSettings.load(None)
    assert on.kafka.repartition == "model"
    assert owner_topic(on) == on.kafka.topics.repartition == "guardian.repartition"
    off = GuardianSettings.load(None, kafka={"repartition": "off"})
    assert owner_topic(off) == off.kafka.topics.events
    worker, *_ = _worker(routed=True)
    assert worker.input_topics == [EVENTS, LABELS, ROUTED]
    assert [s.name for s in worker.front] == ["front"]
    assert [s.name for s in worker.back] == ["detect"]


def test_the_repartition_topic_is_owned_with_the_input_partition_count() -> None:
    from service.config_files import owned_topics
    from service.retention import RetentionSettings

    policy = RetentionSettings().load_policy()
    on = GuardianSettings.load(None, kafka={"topics": {"partitions": 6}})
    (spec,) = [t for t in owned_topics(on, policy) if t.name == "guardian.repartition"]
    assert spec.partitions == 6
    assert spec.configs == {"retention.ms": "86400000", "cleanup.policy": "delete"}
    off = GuardianSettings.load(None, kafka={"repartition": "off"})
    assert "guardian.repartition" not in {t.name for t in owned_topics(off, policy)}
