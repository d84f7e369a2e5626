"""kafka.on_undecodable: bounded refetches, then skip or stop; a DLQ record without payload."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.structs import TopicPartition

from service.kafka.aiokafka_compat import UndecodableBatch
from service.pipeline.undecodable import UndecodablePolicy, dlq_body, dlq_headers

BATCH = UndecodableBatch(TopicPartition("events", 2), 10, 14, "UnsupportedCodecError: x")


@pytest.mark.parametrize("action", ["skip", "stop"])
def test_refetched_up_to_the_bound_then_the_action(action: str) -> None:
    policy = UndecodablePolicy(action, retries=3)  # type: ignore[arg-type]
    assert [policy.judge(BATCH).decision for _ in range(3)] == ["retry"] * 3
    assert policy.judge(BATCH).decision == action
    # a later batch of the same partition starts its own count
    assert policy.judge(UndecodableBatch(BATCH.tp, 20, 20, "x")).decision == "retry"


def test_many_fetches_in_one_poll_count_as_many_attempts() -> None:
    policy = UndecodablePolicy("skip", retries=3)
    assert policy.judge(BATCH, fetches=30).decision == "skip"
    assert UndecodablePolicy("skip", retries=0).judge(BATCH).decision == "skip"


def test_dlq_record_names_the_range_and_carries_no_payload() -> None:
    body = orjson.loads(dlq_body(BATCH, "skipped"))
    assert body["reason"] == "undecodable_batch"
    assert body["payload"] is None
    assert body["source"] == {"topic": "events", "partition": 2, "offset": 10, "last_offset": 14}
    headers = dict(dlq_headers(BATCH))
    assert headers["guardian-source"] == b"events[2]@10..14"
    assert headers["guardian-error"] == b"undecodable_batch: UnsupportedCodecError: x"
