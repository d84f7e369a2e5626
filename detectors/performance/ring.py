"""A keyed ring of numeric rows: the sliding window under the performance monitor."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


class KeyedRing:
    """The last ``size`` rows of ``width`` floats, each under an integer key.

    Rows live in one preallocated buffer that :attr:`data` views as a numpy
    array: a row is written with plain item stores (cheaper per event than a
    numpy row assignment) and a window is handed to numpy without building it
    from Python objects on every evaluation. The oldest row is overwritten when
    a new key arrives on a full ring.

    >>> ring = KeyedRing(2, 2)
    >>> ring.add(7, (0.1, 1.0)), ring.add(7, (0.9, 0.0)), ring.add(8, (0.2, 0.0))
    (True, False, True)
    >>> _ = ring.add(9, (0.3, 1.0))  # 7 leaves
    >>> ring.keys(), ring.rows().tolist(), ring.slot(7)
    ([8, 9], [[0.2, 0.0], [0.3, 1.0]], None)
    """

    __slots__ = ("size", "width", "data", "_buffer", "_keys", "_index", "_head", "_count")

    def __init__(self, size: int, width: int) -> None:
        if size < 1:
            raise ValueError("a ring holds at least one row")
        self.size, self.width = size, width
        self._buffer = array("d", bytes(8 * size * width))
        self.data: NDArray[np.float64] = np.frombuffer(self._buffer).reshape(size, width)
        self._keys: list[int] = [0] * size
        self._index: dict[int, int] = {}
        self._head = 0  # the slot the next row is written to
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def slot(self, key: int) -> int | None:
        """Where the row of ``key`` is in :attr:`data`, or ``None`` when it is not held."""
        return self._index.get(key)

    def add(self, key: int, row: Sequence[float]) -> bool:
        """Append a row; a key already held keeps its row (``False``)."""
        index = self._index
        if key in index:
            return False
        at = self._head
        if self._count == self.size:
            del index[self._keys[at]]
        else:
            self._count += 1
        self._keys[at] = key
        index[key] = at
        buffer, base = self._buffer, at * self.width
        for i, value in enumerate(row):
            buffer[base + i] = value
        self._head = (at + 1) % self.size
        return True

    def _order(self) -> NDArray[np.intp]:
        if self._count < self.size:
            return np.arange(self._count)
        return (np.arange(self.size) + self._head) % self.size

    def rows(self) -> NDArray[np.float64]:
        """The rows held, oldest first (a copy)."""
        if self._count < self.size:
            return self.data[: self._count].copy()
        return np.concatenate((self.data[self._head :], self.data[: self._head]))

    def keys(self) -> list[int]:
        """The keys held, oldest first."""
        return [self._keys[i] for i in self._order().tolist()]
