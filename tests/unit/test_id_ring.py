"""IdRing: the last ``capacity`` ids, in memory fixed at construction."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.id_ring import IdRing


def _reference(capacity: int, ids: list[str]) -> OrderedDict[str, None]:
    """What the ring replaces: an insertion-ordered dict dropping its oldest key."""
    book: OrderedDict[str, None] = OrderedDict()
    for event_id in ids:
        book[event_id] = None
        if len(book) > capacity:
            book.popitem(last=False)
    return book


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 12),
    ids=st.lists(st.sampled_from([f"e{i}" for i in range(30)]), max_size=200),
)
def test_remembers_exactly_what_a_bounded_ordered_dict_would(capacity: int, ids: list[str]) -> None:
    ring = IdRing(capacity)
    for event_id in ids:
        ring.add(event_id)
    book = _reference(capacity, ids)
    assert len(ring) == len(book)
    assert {f"e{i}" for i in range(30) if f"e{i}" in ring} == set(book)


def test_memory_and_table_stay_at_the_bound_however_many_ids_pass() -> None:
    ring = IdRing(1000)
    allocated = ring.nbytes
    for i in range(50_000):
        ring.add(f"event-{i}")
    assert len(ring) == 1000
    assert ring.nbytes == allocated  # nothing grows with traffic
    assert sum(1 for slot in ring._table if slot) == 1000  # deleted digests leave no tombstone
    assert "event-48999" not in ring and "event-49000" in ring and "event-49999" in ring


def test_is_about_3_mib_for_the_shipped_100k_bound() -> None:
    assert IdRing(100_000).nbytes <= 3 * 2**20


def test_clear_forgets_and_a_bad_capacity_is_refused() -> None:
    ring = IdRing(3)
    ring.add("a")
    ring.clear()
    assert "a" not in ring and len(ring) == 0
    assert 1 not in ring  # not an id
    with pytest.raises(ValueError, match="capacity"):
        IdRing(0)
