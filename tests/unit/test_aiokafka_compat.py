"""service/kafka/aiokafka_compat.py against the pinned aiokafka: fails loudly when upstream changes.

The guarded decoder is a copy of aiokafka 0.14.0's
``PartitionRecords._unpack_records``; the empty-fetch wait wraps
``Fetcher._proc_fetch_request``; the hand-over relies on
``GroupCoordinator._maybe_leave_group`` skipping LeaveGroup only while
``_group_instance_id`` is set; producer recovery reads ``_txn_manager.state``.
If a new aiokafka changes any of these functions, the hashes below stop
matching and the compat module must be reviewed against the new code.

Every private touch of an aiokafka object in ``service/`` lives in that module:
``test_no_private_aiokafka_access_outside_the_compat_module`` keeps it so.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
import struct
from pathlib import Path
from typing import Any

import aiokafka
import pytest
from aiokafka import AIOKafkaProducer, codec
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, Fetcher, FetchResult, PartitionRecords
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.producer.transaction_manager import TransactionState
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from service.kafka.aiokafka_compat import (
    AIOKAFKA_VERSION,
    PARTITION_RECORDS_ATTRIBUTES,
    UndecodableBatches,
    check_supported,
    guard_partition_records,
    leave_group_on_close,
    transaction_ready,
    wait_after_empty_fetch,
)

#: sha256 (first 16 hex digits) of the upstream source the copy was made from.
UPSTREAM = {
    "PartitionRecords._unpack_records": "b803e6d46480732c",
    "PartitionRecords.__init__": "8ec1c2ae6ea1af87",
    "FetchResult.getall": "3e717e30de5068d5",
    "Fetcher._proc_fetch_request": "59bf948fff47eed5",
    "GroupCoordinator._maybe_leave_group": "016cd88a16e6c4b5",
}
TP = TopicPartition("t", 0)
SNAPPY = 2


def test_pinned_aiokafka_is_the_one_the_compat_module_copies() -> None:
    assert aiokafka.__version__ == AIOKAFKA_VERSION
    check_supported()
    functions = {
        "PartitionRecords._unpack_records": PartitionRecords._unpack_records,
        "PartitionRecords.__init__": PartitionRecords.__init__,
        "FetchResult.getall": FetchResult.getall,
        "Fetcher._proc_fetch_request": Fetcher._proc_fetch_request,
        "GroupCoordinator._maybe_leave_group": GroupCoordinator._maybe_leave_group,
    }
    for name, function in functions.items():
        digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
        assert digest == UPSTREAM[name], (
            f"aiokafka changed {name}: review service/kafka/aiokafka_compat.py against it"
        )
    records = _partition_records(_batch(0, 1))
    for attribute in PARTITION_RECORDS_ATTRIBUTES:
        assert hasattr(records, attribute), attribute


def _batch(base: int, n: int, codec_id: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec_id, 0, -1, -1, 0, 1_000_000)
    for i in range(n):
        builder.append(i, timestamp=None, key=None, value=b"v%d" % (base + i), headers=[])
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base)  # the base offset is outside the CRC
    return bytes(data)


def _partition_records(data: bytes, fetch_offset: int = 0) -> PartitionRecords:
    return PartitionRecords(
        TP, MemoryRecords(data), [], fetch_offset, None, None, True, READ_UNCOMMITTED
    )


def _guarded(data: bytes, fetch_offset: int = 0) -> tuple[PartitionRecords, UndecodableBatches]:
    records = _partition_records(data, fetch_offset)
    found = UndecodableBatches()
    guard_partition_records(records, found)
    return records, found


def test_guarded_decoding_equals_upstream_when_every_batch_decodes() -> None:
    data = _batch(0, 3) + _batch(3, 3, SNAPPY) + _batch(6, 3)
    upstream = [(r.offset, r.value) for r in _partition_records(data, fetch_offset=1)]
    records, found = _guarded(data, fetch_offset=1)
    assert [(r.offset, r.value) for r in records] == upstream
    assert [o for o, _ in upstream] == list(range(1, 9))
    assert records.next_fetch_offset == 9
    assert found.take() == []


def test_a_batch_with_a_missing_codec_stops_the_iteration_in_front_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _batch(0, 3) + _batch(3, 4, SNAPPY) + _batch(7, 3)
    monkeypatch.setattr(codec, "has_snappy", lambda: False)
    # upstream raises, and the records before the batch are lost with the exception
    with pytest.raises(aiokafka.errors.UnsupportedCodecError):
        list(_partition_records(data))
    records, found = _guarded(data)
    assert [r.offset for r in records] == [0, 1, 2]
    assert records.next_fetch_offset == 3  # the next fetch starts at the batch
    [(batch, fetches)] = found.take()
    assert fetches == 1
    assert (batch.tp, batch.first, batch.last) == (TP, 3, 6)
    assert batch.error.startswith("UnsupportedCodecError: Libraries for snappy")
    assert batch.where == "t[0]@3..6"


def test_a_corrupt_batch_is_reported_with_its_offsets() -> None:
    bad = bytearray(_batch(3, 2))
    bad[-1] ^= 0xFF  # a record byte: the CRC no longer matches
    records, found = _guarded(_batch(0, 3) + bytes(bad) + _batch(5, 1))
    assert [r.offset for r in records] == [0, 1, 2]
    [(batch, fetches)] = found.take()
    assert fetches == 1
    assert (batch.first, batch.last) == (3, 4)
    assert batch.error.startswith("CorruptRecordException")


def test_a_fetch_that_starts_inside_the_bad_batch_reports_only_the_rest_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _batch(0, 5, SNAPPY)
    monkeypatch.setattr(codec, "has_snappy", lambda: False)
    records, found = _guarded(data, fetch_offset=2)
    assert list(records) == []
    [(batch, fetches)] = found.take()
    assert fetches == 1
    assert (batch.first, batch.last) == (2, 4)  # 0 and 1 were consumed before


def test_the_attributes_the_other_seams_touch_are_set_where_upstream_sets_them() -> None:
    coordinator_init = inspect.getsource(GroupCoordinator.__init__)
    assert "self._group_instance_id = group_instance_id" in coordinator_init
    producer_init = inspect.getsource(AIOKafkaProducer.__init__)
    assert "self._txn_manager = TransactionManager(" in producer_init
    assert "self._txn_manager = None" in producer_init
    assert TransactionState.READY.name == "READY"


#: ``._name`` read or written on a variable or attribute that holds an aiokafka client.
_PRIVATE_TOUCH = re.compile(
    r"(?<![\w.])(?:\w+\.)?_?(?:consumer|producer|fetcher|coordinator|client|admin)\._[a-z]\w*"
)


def test_no_private_aiokafka_access_outside_the_compat_module() -> None:
    root = Path(__file__).resolve().parents[2] / "service"
    found = [
        f"{path.relative_to(root.parent)}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "aiokafka_compat.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _PRIVATE_TOUCH.search(line)
    ]
    assert found == [], "private aiokafka access belongs in service/kafka/aiokafka_compat.py"


async def test_transaction_ready_reads_the_producers_transaction_state() -> None:
    plain = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")
    transactional = AIOKafkaProducer(
        bootstrap_servers="127.0.0.1:9", transactional_id="t", enable_idempotence=True
    )
    try:
        assert transaction_ready(plain)  # no transactions: always ready
        assert not transaction_ready(transactional)  # not initialised yet
        transactional._txn_manager.state = TransactionState.READY
        assert transaction_ready(transactional)
    finally:
        await plain.stop()
        await transactional.stop()


def test_leave_group_on_close_forgets_the_static_members_instance_id() -> None:
    coordinator = type("Coordinator", (), {"_group_instance_id": "r0"})()
    consumer = type("Consumer", (), {"_coordinator": coordinator})()
    leave_group_on_close(consumer)
    assert coordinator._group_instance_id is None
    leave_group_on_close(type("Consumer", (), {"_coordinator": None})())  # not started: no-op


class _Fetcher:
    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        return self.answers.pop(0)


async def test_the_empty_fetch_wait_follows_only_empty_fetches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    fetcher = _Fetcher([True, False, True])
    consumer = type("Consumer", (), {"_fetcher": fetcher})()
    monkeypatch.setattr(asyncio, "sleep", sleep)
    wait_after_empty_fetch(consumer, 0)  # off: the fetcher is left alone
    assert "_proc_fetch_request" not in vars(fetcher)
    wait_after_empty_fetch(consumer, 25)
    got = [await fetcher._proc_fetch_request(None, 0, None) for _ in range(3)]
    assert got == [True, False, True]
    assert waits == [0.025]
