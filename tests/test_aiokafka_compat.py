"""service/kafka/aiokafka_compat.py against the pinned aiokafka: fails loudly when upstream changes.

The guarded decoder is a copy of aiokafka 0.14.0's
``PartitionRecords._unpack_records``; if a new aiokafka changes that function
(or the ones around it whose behaviour the copy relies on), the hashes below
stop matching and the copy must be reviewed against the new code.
"""

from __future__ import annotations

import hashlib
import inspect
import struct

import aiokafka
import pytest
from aiokafka import codec
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, FetchResult, PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from service.kafka.aiokafka_compat import (
    AIOKAFKA_VERSION,
    PARTITION_RECORDS_ATTRIBUTES,
    UndecodableBatches,
    check_supported,
    guard_partition_records,
)

#: sha256 (first 16 hex digits) of the upstream source the copy was made from.
UPSTREAM = {
    "PartitionRecords._unpack_records": "b803e6d46480732c",
    "PartitionRecords.__init__": "8ec1c2ae6ea1af87",
    "FetchResult.getall": "3e717e30de5068d5",
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
