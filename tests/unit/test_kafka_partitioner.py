"""MemoPartitioner picks exactly the partitions of aiokafka's default partitioner."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from service.kafka.clients import MemoPartitioner


@given(
    keys=st.lists(st.binary(max_size=200), min_size=1, max_size=30),
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=3),
)
def test_same_partition_as_the_default_for_every_key_and_partition_count(
    keys: list[bytes], counts: list[int]
) -> None:
    memo, default = MemoPartitioner(), DefaultPartitioner()
    for count in counts:
        partitions = list(range(count))
        for key in [*keys, *keys]:  # the second time from the memo
            assert memo(key, partitions, partitions) == default(key, partitions, partitions)


def test_none_key_goes_to_an_available_partition_and_memo_is_bounded() -> None:
    memo = MemoPartitioner()
    assert memo(None, [0, 1, 2], [2]) == 2
    for i in range(MemoPartitioner.MAX_ENTRIES + 10):
        memo(str(i).encode(), [0, 1], [0, 1])
    assert len(memo._memo) <= MemoPartitioner.MAX_ENTRIES
