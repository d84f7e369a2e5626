"""The aiokafka internals Guardian relies on, in one place, checked against aiokafka 0.14.0.

Nothing else in ``service/`` touches a private attribute of an aiokafka object.
Four seams live here:

- :func:`guard_undecodable`: a batch that cannot be decoded stops in front of it
  instead of stalling the partition (below);
- :func:`wait_after_empty_fetch`: the local-broker work-around (the consumer
  waits after an empty fetch);
- :func:`leave_group_on_close`: a static member leaves the group on a stop we chose;
- :func:`transaction_ready`: whether a transactional producer can take the next
  transaction.

aiokafka has no public seam for a record batch it cannot decode: the error
(``UnsupportedCodecError`` for a codec whose library is missing or unknown,
``CorruptRecordException`` for a bad CRC, or whatever a decompressor raises)
leaves ``getmany()``, the records decoded before it in the same fetch are
dropped, and the consumer's position stays in front of the batch, so the next
fetch brings the same batch and the same error: the partition stalls for good.

:func:`guard_undecodable` makes the consumer's own fetcher decode each fetched
partition with :func:`_unpack_guarded`, a copy of aiokafka 0.14.0's
``PartitionRecords._unpack_records`` that decodes one batch at a time and,
when a batch raises, stops in front of it and reports it
(:class:`UndecodableBatch`) instead of raising. ``getmany()`` then returns
everything before the batch, the position stays at the batch's first offset,
and the caller decides: fetch again (the next fetch starts at that batch),
skip past it with ``seek``, or pause the partition.

``tests/unit/test_aiokafka_compat.py`` fails when the pinned aiokafka changes the
copied function, the functions whose behaviour the others rely on, or the
attributes used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiokafka
from aiokafka.errors import CorruptRecordException, KafkaError
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)

#: The aiokafka release whose internals this module copies and touches.
AIOKAFKA_VERSION = "0.14.0"
#: Attributes of aiokafka's ``PartitionRecords`` that :func:`_unpack_guarded` uses.
PARTITION_RECORDS_ATTRIBUTES = (
    "_tp",
    "_records",
    "_check_crcs",
    "_isolation_level",
    "_aborted_producers",
    "_records_iterator",
    "_consume_aborted_up_to",
    "_contains_abort_marker",
    "_consumer_record",
    "next_fetch_offset",
)
_GUARDED = "_guardian_guarded"


@dataclass(frozen=True, slots=True)
class UndecodableBatch:
    """A record batch of ``tp`` that could not be decoded: offsets ``first..last`` inclusive.

    ``last`` equals ``first`` when the batch header itself was unreadable (its
    length is then unknown). ``error`` is the exception type, plus aiokafka's
    own message for its errors (codec names, CRC): never record contents.
    """

    tp: TopicPartition
    first: int
    last: int
    error: str

    @property
    def where(self) -> str:
        return f"{self.tp.topic}[{self.tp.partition}]@{self.first}..{self.last}"


class UndecodableBatches:
    """What one consumer's fetcher could not decode since the last :meth:`take`.

    One ``getmany()`` may fetch the same bad batch many times (it waits for
    records until its timeout, and each fetch brings the batch again): each
    batch is reported once per :meth:`take`, with the number of fetches.
    """

    def __init__(self) -> None:
        self._found: dict[tuple[TopicPartition, int], tuple[UndecodableBatch, int]] = {}

    def add(self, batch: UndecodableBatch) -> None:
        key = (batch.tp, batch.first)
        _, fetches = self._found.get(key, (batch, 0))
        self._found[key] = (batch, fetches + 1)

    def take(self) -> list[tuple[UndecodableBatch, int]]:
        """Each batch found since the last call, with how many fetches found it."""
        found, self._found = self._found, {}
        return list(found.values())


def check_supported() -> None:
    """Refuse an aiokafka whose internals differ; warn about an untested version."""
    from aiokafka.consumer.fetcher import Fetcher, PartitionRecords
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    missing = [a for a in ("_proc_fetch_request",) if not hasattr(Fetcher, a)]
    missing += [
        a
        for a in ("_consume_aborted_up_to", "_contains_abort_marker", "_consumer_record")
        if not hasattr(PartitionRecords, a)
    ]
    missing += [a for a in ("_maybe_leave_group",) if not hasattr(GroupCoordinator, a)]
    if missing:
        raise RuntimeError(
            f"aiokafka {aiokafka.__version__} lacks {', '.join(missing)}: "
            f"service/kafka/aiokafka_compat.py supports aiokafka {AIOKAFKA_VERSION}"
        )
    if aiokafka.__version__ != AIOKAFKA_VERSION:
        log.warning(
            "aiokafka %s is not the pinned %s: undecodable-batch handling is untested with it",
            aiokafka.__version__,
            AIOKAFKA_VERSION,
        )


def guard_undecodable(consumer: Any) -> UndecodableBatches:
    """Make a started consumer report undecodable batches instead of raising them forever.

    Wraps the consumer's fetcher's ``_proc_fetch_request`` (composes with
    :func:`service.kafka.clients.wait_after_empty_fetch`): after each fetch,
    every new partition result is decoded by :func:`_unpack_guarded`.
    """
    check_supported()
    from aiokafka.consumer.fetcher import FetchResult

    found = UndecodableBatches()
    fetcher = consumer._fetcher
    if not isinstance(getattr(fetcher, "_records", None), dict):
        raise RuntimeError("aiokafka's fetcher has no _records dict: see aiokafka_compat.py")
    fetch = fetcher._proc_fetch_request

    async def fetch_guarded(assignment: Any, node_id: int, request: Any) -> bool:
        got_records: bool = await fetch(assignment, node_id, request)
        # No await from here on: nothing iterates the new results before they are guarded.
        for result in list(fetcher._records.values()):
            if type(result) is FetchResult:
                records = result._partition_records
                if records is not None and not getattr(records, _GUARDED, False):
                    guard_partition_records(records, found)
        return got_records

    fetcher._proc_fetch_request = fetch_guarded
    return found


def wait_after_empty_fetch(consumer: Any, backoff_ms: int) -> None:
    """Make a started consumer wait ``backoff_ms`` after a fetch that brought no records.

    Only for a broker that answers an empty fetch at once (``kafka.empty_fetch_backoff_ms``,
    0 by default; the local-broker profile turns it on). A Kafka broker holds a fetch
    for up to ``fetch.max.wait.ms`` (500 ms by default) while the partitions in it
    have no data, so a caught-up consumer sends about two fetches a second. The local
    noida-db broker answers at once (as some brokers have: redpanda-data/redpanda#1115),
    and aiokafka's fetcher then sends the next fetch right away: an idle Guardian
    burned a whole core, and under load about a quarter of its CPU went on empty
    fetches for the labels topic and idle partitions. This emulates the broker's
    wait on the client: after an empty answer, the next fetch to that broker waits
    ``backoff_ms`` (data that arrives meanwhile is fetched then). Against a real
    broker, whose empty answers already took ``fetch.max.wait.ms``, it only adds
    latency: leave it off there.

    aiokafka 0.14 has no option for it: this wraps the consumer's own fetcher's
    ``_proc_fetch_request``, which returns whether new records arrived
    (``tests/unit/test_aiokafka_compat.py`` checks that function's source and
    ``tests/integration/test_kafka_clients_io.py`` the wait against a broker).
    """
    if backoff_ms <= 0:
        return
    fetcher = consumer._fetcher
    fetch = fetcher._proc_fetch_request
    backoff_s = backoff_ms / 1000

    async def fetch_then_wait_if_empty(assignment: Any, node_id: int, request: Any) -> bool:
        got_records: bool = await fetch(assignment, node_id, request)
        if not got_records:
            # The node stays "in flight" meanwhile, so no fetch goes to it. A cancel (the
            # consumer stops, or the assignment changed) ends the wait as aiokafka's own
            # cancelled fetch ends: without records, not with an error.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(backoff_s)
        return got_records

    fetcher._proc_fetch_request = fetch_then_wait_if_empty


def leave_group_on_close(consumer: Any) -> None:
    """Make a started static member send LeaveGroup when it stops.

    aiokafka never sends LeaveGroup for a member with a ``group_instance_id``
    (``GroupCoordinator._maybe_leave_group``: it expects the member back within
    the session timeout). For a stop Guardian chose (a hand-over), forgetting
    the instance id on the coordinator makes ``stop()`` leave, so another
    replica takes the partitions at once.
    """
    coordinator = consumer._coordinator
    if coordinator is None:  # not started, or started without a group
        return
    if not hasattr(coordinator, "_group_instance_id"):
        raise RuntimeError(
            "aiokafka's GroupCoordinator has no _group_instance_id: see aiokafka_compat.py"
        )
    coordinator._group_instance_id = None


def transaction_ready(producer: Any) -> bool:
    """Whether a producer can begin its next transaction (always, without transactions).

    After a failed transactional write, an abort that could not reach the broker
    leaves aiokafka's transaction manager outside ``READY``; aiokafka has no public
    accessor for that state.
    """
    from aiokafka.producer.transaction_manager import TransactionState

    txn = producer._txn_manager
    return txn is None or txn.state == TransactionState.READY


def guard_partition_records(records: Any, found: UndecodableBatches) -> None:
    """Decode a not yet iterated ``PartitionRecords`` with :func:`_unpack_guarded`."""
    records._records_iterator = _unpack_guarded(records, found)
    setattr(records, _GUARDED, True)


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, KafkaError):
        text = str(exc)  # aiokafka's str() of its errors starts with the class name
        return (text if text.startswith(name) else f"{name}: {text}")[:240]
    return name


def _unpack_guarded(pr: Any, found: UndecodableBatches) -> Iterator[Any]:
    """aiokafka 0.14.0's ``PartitionRecords._unpack_records``, one whole batch at a time.

    Differences from the original: a batch is decoded completely before any
    of its records is handed out, and an exception while reading or decoding
    a batch ends the iteration in front of that batch (``next_fetch_offset``
    stays at its first offset) and reports it to ``found``.
    """
    from aiokafka.consumer.fetcher import READ_COMMITTED

    tp = pr._tp
    records = pr._records
    while records.has_next():
        start = pr.next_fetch_offset
        try:
            next_batch = records.next_batch()
        except Exception as exc:  # noqa: BLE001 - a batch that cannot be read is the batch's fault
            found.add(UndecodableBatch(tp, start, start, _describe(exc)))
            return
        # Legacy (v0/v1) batches have no base offset; they start where the fetch stands.
        first = max(start, getattr(next_batch, "base_offset", start))
        last = max(first, next_batch.next_offset - 1)
        try:
            if pr._check_crcs and not next_batch.validate_crc():
                raise CorruptRecordException(f"Invalid CRC - {tp}")

            if pr._isolation_level == READ_COMMITTED and next_batch.producer_id is not None:
                pr._consume_aborted_up_to(next_batch.base_offset)

                if next_batch.is_control_batch and pr._contains_abort_marker(next_batch):
                    pr._aborted_producers.discard(next_batch.producer_id)

                if next_batch.is_transactional and next_batch.producer_id in pr._aborted_producers:
                    pr.next_fetch_offset = next_batch.next_offset
                    continue

            # Control batches are skipped whatever the isolation level.
            if next_batch.is_control_batch:
                pr.next_fetch_offset = next_batch.next_offset
                continue

            decoded = [
                pr._consumer_record(tp, record)
                for record in next_batch
                if record.offset >= pr.next_fetch_offset  # a compressed message set's earlier part
            ]
        except Exception as exc:  # noqa: BLE001 - see above
            found.add(UndecodableBatch(tp, first, last, _describe(exc)))
            return
        for consumer_record in decoded:
            pr.next_fetch_offset = consumer_record.offset + 1
            yield consumer_record
        # As upstream: the next fetch starts after the batch's last offset even if compaction
        # removed its last records.
        pr.next_fetch_offset = next_batch.next_offset
