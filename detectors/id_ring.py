"""The most recent ids seen, as 64-bit digests in memory allocated once.

A join that must tell "already joined" or "already dropped" from "never seen"
remembers the last ``capacity`` ids. Kept as Python strings in an ordered dict
that costs ~150 bytes per id (a 100k bound: ~14 MiB), and the memory grows
with traffic until the bound is reached, minutes into a run. :class:`IdRing`
keeps an 8-byte digest per id instead, in two arrays sized at construction: the
ids in arrival order (a ring: the oldest is overwritten), and an
open-addressing hash table over them (linear probing, deletion by backward
shift, so no tombstones build up). Its memory is fixed from the first id on:
``capacity x 8`` bytes for the ring and at most ``capacity x 32`` for the table
(~3 MiB for 100k ids).

Digests are BLAKE2b of the id, 64 bits: two of 100k remembered ids collide with
probability ~3e-10, and a collision only makes a label count as ``duplicate``
or ``late`` instead of ``unmatched``.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b

_EMPTY = 0  # a table slot with no digest; no id is given this digest (see _digest)


def _digest(event_id: str) -> int:
    value = int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "little")
    return value or 1


class IdRing:
    """The last ``capacity`` distinct ids added; older ones are forgotten.

    Adding an id already remembered changes nothing (it keeps its place in the
    ring), as an insertion-ordered dict that drops its oldest key would.

    Examples
    --------
    >>> ring = IdRing(2)
    >>> for event_id in ("a", "b", "c"):
    ...     ring.add(event_id)
    >>> ("a" in ring, "b" in ring, "c" in ring, len(ring))
    (False, True, True, 2)
    """

    __slots__ = ("capacity", "_ring", "_next", "_size", "_table", "_mask")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._ring = array("Q", bytes(8 * capacity))
        self._next = 0  # where the next id goes (the oldest, once full)
        self._size = 0
        slots = 1 << max(3, (2 * capacity - 1).bit_length())  # load factor <= 1/2
        self._mask = slots - 1
        self._table = array("Q", bytes(8 * slots))

    def __len__(self) -> int:
        return self._size

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and self._slot(_digest(event_id)) >= 0

    @property
    def nbytes(self) -> int:
        """Bytes of the two arrays: fixed at construction."""
        return self._ring.itemsize * len(self._ring) + self._table.itemsize * len(self._table)

    def add(self, event_id: str) -> None:
        """Remember ``event_id``; beyond ``capacity`` the oldest id is forgotten."""
        digest = _digest(event_id)
        if self._slot(digest) >= 0:
            return
        if self._size == self.capacity:
            self._delete(self._slot(self._ring[self._next]))
        else:
            self._size += 1
        self._ring[self._next] = digest
        self._next = (self._next + 1) % self.capacity
        table, mask = self._table, self._mask
        i = digest & mask
        while table[i] != _EMPTY:
            i = (i + 1) & mask
        table[i] = digest

    def clear(self) -> None:
        """Forget every id (the memory stays allocated)."""
        self._ring = array("Q", bytes(8 * self.capacity))
        self._table = array("Q", bytes(8 * len(self._table)))
        self._next = self._size = 0

    def _slot(self, digest: int) -> int:
        table, mask = self._table, self._mask
        i = digest & mask
        while True:
            found = table[i]
            if found == digest:
                return i
            if found == _EMPTY:
                return -1
            i = (i + 1) & mask

    def _delete(self, i: int) -> None:
        """Empty slot ``i``, shifting back later entries of its probe run (no tombstones)."""
        table, mask = self._table, self._mask
        j = i
        while True:
            j = (j + 1) & mask
            found = table[j]
            if found == _EMPTY:
                break
            home = found & mask
            # Entry j may move to i unless its home lies cyclically in (i, j].
            if (i < j and i < home <= j) or (i > j and (home > i or home <= j)):
                continue
            table[i] = found
            i = j
        table[i] = _EMPTY
