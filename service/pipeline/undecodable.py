"""What the consume loop does with an input batch that cannot be decoded (``kafka.on_undecodable``).

Nothing a publisher sends may stop the records after it. A record batch the
consumer cannot decode (a codec whose library is missing or unknown, a corrupt
batch) is fetched again ``kafka.undecodable_retries`` times, since a fetch can
be corrupted on the way; after that:

- ``skip`` (default): the offset range goes to the DLQ as one record with
  reason ``undecodable_batch`` and no payload, is committed with the batch
  being written, and consumption continues after it. The records in the range
  are lost to monitoring: the DLQ record names them so an operator can replay
  them from the input topic once the cause is fixed (``docs/resilience.md``).
- ``stop``: the partition is paused, readiness fails with the reason, and the
  range stays uncommitted (the next owner meets it again).

Either way ``guardian_undecodable_batches_total{topic,action}`` counts it and
the alert ``GuardianUndecodableBatch`` names topic, partition and offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson
from aiokafka.structs import TopicPartition

from service.kafka.aiokafka_compat import UndecodableBatch

log = logging.getLogger(__name__)

REASON = "undecodable_batch"
Decision = Literal["retry", "skip", "stop"]
#: Attempts remembered at most (one entry per failing batch; a stuck fleet of them is a bug).
_MAX_TRACKED = 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    batch: UndecodableBatch
    decision: Decision
    attempt: int


class UndecodablePolicy:
    """Counts the fetches of each undecodable batch and decides, per ``kafka.on_undecodable``."""

    def __init__(self, on_undecodable: Literal["skip", "stop"], retries: int) -> None:
        self.action: Literal["skip", "stop"] = on_undecodable
        self.retries = retries
        self._attempts: dict[tuple[TopicPartition, int], int] = {}

    def judge(self, batch: UndecodableBatch, fetches: int = 1) -> Verdict:
        """Count ``fetches`` more failed fetches of ``batch``; retry until they exceed the bound."""
        key = (batch.tp, batch.first)
        if len(self._attempts) >= _MAX_TRACKED and key not in self._attempts:
            self._attempts.clear()
        attempt = self._attempts.get(key, 0) + fetches
        self._attempts[key] = attempt
        if attempt <= self.retries:
            log.warning(
                "cannot decode %s (%s); fetching it again (%d of %d)",
                batch.where,
                batch.error,
                attempt,
                self.retries,
            )
            return Verdict(batch, "retry", attempt)
        del self._attempts[key]
        return Verdict(batch, self.action, attempt)


def dlq_body(batch: UndecodableBatch, action: str) -> bytes:
    """The DLQ record of a skipped range: where it was and why, no payload (there is none)."""
    return orjson.dumps(
        {
            "reason": REASON,
            "detail": batch.error,
            "source": {
                "topic": batch.tp.topic,
                "partition": batch.tp.partition,
                "offset": batch.first,
                "last_offset": batch.last,
            },
            "action": action,
            "payload": None,
        }
    )


def dlq_headers(batch: UndecodableBatch) -> list[tuple[str, bytes]]:
    return [
        ("guardian-error", f"{REASON}: {batch.error}".encode()[:1024]),
        ("guardian-source", batch.where.encode()),
        ("guardian-source-topic", batch.tp.topic.encode()),
        ("guardian-source-partition", str(batch.tp.partition).encode()),
        ("guardian-first-offset", str(batch.first).encode()),
        ("guardian-last-offset", str(batch.last).encode()),
    ]


#: Called once per batch that was skipped or stopped, with the action taken.
UndecodableHook = Callable[[UndecodableBatch, str], None]
