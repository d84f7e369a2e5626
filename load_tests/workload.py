"""Seeded event streams for the benchmarks, and the stage chain driven without Kafka.

``demo_records`` reuses the demo serving system (``service/demo/stream.py``):
structured events are ``credit-risk`` and ``fraud-detect`` events with no free
text and no PII; the *mix* adds ``support-chat``, so a third of the events
carry a prompt and an answer (30% of those with PII).

``wide_events`` builds events of any number of models and features, to measure
how cost and memory grow with them.

:class:`StageDriver` runs a Guardian's stages and its output/metrics steps on
batches in-process, exactly as :class:`~service.pipeline.worker.PipelineWorker`
does between poll and write, so the memory and cost benchmarks can push a
million events in seconds; what it leaves out is the Kafka I/O.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from service.demo.stream import DemoConfig, DemoStream

STRUCTURED_MODELS = ("credit-risk", "fraud-detect")
MIX_MODELS = ("credit-risk", "fraud-detect", "support-chat")


def demo_records(n: int, *, mix: bool = False, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) demo events: structured only, or a third with prompt text."""
    config = DemoConfig(
        seed=seed,
        models=MIX_MODELS if mix else STRUCTURED_MODELS,
        pii_fraction=0.3 if mix else 0.0,
    )
    out: list[tuple[bytes, bytes]] = []
    for record in itertools.islice(DemoStream(config), n):
        assert record.value is not None
        out.append((record.key, record.value))
    return out


def wide_event(
    rng: random.Random, index: int, models: int, features: int, start: datetime
) -> dict[str, Any]:
    """One structured event of model ``m<index % models>`` with ``features`` features.

    Two features in ten are categorical (a few values each), the rest numeric.
    """
    feats: dict[str, Any] = {}
    for j in range(features):
        if j % 5 == 4:
            feats[f"c{j}"] = rng.choice(("a", "b", "c", "d"))
        else:
            feats[f"f{j}"] = round(rng.gauss(j, 1.0), 3)
    score = rng.random()
    return {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": (start + timedelta(milliseconds=index)).isoformat(timespec="milliseconds")[:-6]
        + "Z",
        "model": {"name": f"m{index % models:04d}", "version": "1"},
        "inputs": {"features": feats},
        "outputs": {"prediction": int(score >= 0.5), "score": round(score, 4)},
        "subject": {"protected": {"gender": rng.choice(("f", "m", "x"))}},
    }


def wide_events(
    n: int | None, *, models: int, features: int, seed: int = 11
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) events of :func:`wide_event`; endless when ``n`` is None."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    for i in itertools.count() if n is None else range(n):
        event = wide_event(rng, i, models, features, start)
        yield event["model"]["name"].encode(), orjson.dumps(event)


class StageDriver:
    """Run a started :class:`~service.runtime.Guardian`'s batch work without Kafka.

    Per batch: build the contexts, run every stage, build the output records
    (serialisation included) and record the metrics, as the worker does.
    """

    def __init__(self, guardian: Any) -> None:
        from service.composition import tune_gc

        tune_gc()  # as Guardian.start() does in the service (service.composition)
        self.guardian = guardian
        self.worker = guardian.worker
        self.topic = guardian.settings.kafka.topics.events
        self.outputs = 0
        self.rejected = 0
        self._offset = 0

    async def run_batch(self, records: list[tuple[bytes, bytes]]) -> None:
        from service.pipeline.context import EventContext

        started = time.perf_counter()
        base = self._offset
        self._offset += len(records)
        batch = [
            EventContext(self.topic, 0, base + i, value, key)
            for i, (key, value) in enumerate(records)
        ]
        for stage in self.worker.stages:
            await stage.process(batch)
        out = self.worker._outputs(batch, [], [])
        self.worker._pending.clear()
        self.outputs += len(out)
        self.rejected += sum(1 for ctx in batch if not ctx.ok)
        self.worker._record(batch, [], 1, started)
