"""Sliding window of one model's predictions with O(1) per-group tallies.

The window keeps, per event, only numbers: a 63-bit hash of the event id (to
join a late label), the event time, one small group id per protected attribute
(and per configured intersection), the binarised prediction and, once joined,
the binarised label. Raw attribute values and ids never enter it, so exporting
its state cannot leak what a publisher sent.

Every insert, label and eviction updates per-group counters in place, so the
window can be evaluated at any time without a scan.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from detectors.fairness.config import INTERSECTION_SEP, ModelFairnessConfig, group_labels

MISSING = -1  # group id of an event that lacks the attribute
NO_LABEL = -1
STATE_VERSION = 1


@lru_cache(maxsize=4096)  # the fairness and performance windows hash each event id in turn
def event_key(event_id: str) -> int:
    """Hash an event id to a non-negative 63-bit integer (fits JSON and orjson).

    Collisions are negligible at window sizes (birthday bound ~1e-9 at 1e5 events).
    """
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class GroupTally:
    """Counters of one group: events, selected, and the confusion matrix of labelled ones."""

    __slots__ = ("n", "selected", "tp", "fn", "fp", "tn")

    def __init__(self) -> None:
        self.n = 0
        self.selected = 0
        self.tp = 0
        self.fn = 0
        self.fp = 0
        self.tn = 0

    @property
    def label_positives(self) -> int:
        """Labelled events whose label is positive (TPR denominator)."""
        return self.tp + self.fn

    @property
    def label_negatives(self) -> int:
        """Labelled events whose label is negative (FPR denominator)."""
        return self.fp + self.tn

    @property
    def labelled(self) -> int:
        return self.tp + self.fn + self.fp + self.tn

    def add_label(self, selected: int, label: int, sign: int) -> None:
        """Count (``sign=1``) or uncount (``sign=-1``) one labelled outcome."""
        if label:
            if selected:
                self.tp += sign
            else:
                self.fn += sign
        elif selected:
            self.fp += sign
        else:
            self.tn += sign

    def as_dict(self) -> dict[str, int]:
        return {
            "n": self.n,
            "selected": self.selected,
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "tn": self.tn,
        }


@dataclass(frozen=True, slots=True)
class Dimension:
    """One monitored attribute (or intersection of two) and its group labels.

    For an intersection, ``parts`` holds the indices of the two base attributes
    and the id of a pair is ``first_id * len(second labels) + second_id``.
    """

    name: str
    labels: tuple[str, ...]
    parts: tuple[int, int] | None = None


def build_dimensions(config: ModelFairnessConfig) -> tuple[Dimension, ...]:
    """Base attributes in config order, then the configured intersections."""
    names = list(config.attributes)
    dims = [Dimension(name, group_labels(groups)) for name, groups in config.attributes.items()]
    for first, second in config.intersections:
        i, j = names.index(first), names.index(second)
        labels = tuple(f"{a}{INTERSECTION_SEP}{b}" for a in dims[i].labels for b in dims[j].labels)
        dims.append(Dimension(f"{first}{INTERSECTION_SEP}{second}", labels, (i, j)))
    return tuple(dims)


class _Entry:
    __slots__ = ("key", "ts", "groups", "selected", "label")

    def __init__(
        self, key: int | None, ts: float, groups: tuple[int, ...], selected: int, label: int
    ) -> None:
        self.key = key
        self.ts = ts
        self.groups = groups
        self.selected = selected
        self.label = label


class FairnessWindow:
    """Count- and/or time-bounded window of one model's binarised predictions.

    Parameters
    ----------
    config
        The model's fairness config (attributes, groups, window bounds).

    Examples
    --------
    >>> from detectors.fairness.config import ModelFairnessConfig
    >>> cfg = ModelFairnessConfig(attributes={"gender": ("f", "m")}, window={"size": 2})
    >>> w = FairnessWindow(cfg)
    >>> for i, (g, sel) in enumerate([("f", 1), ("m", 0), ("zz", 1)]):
    ...     _ = w.add(f"e{i}", float(i), {"gender": g}, sel)
    >>> [(t.n, t.selected) for t in w.tallies(0)]   # f evicted; zz -> __other__
    [(0, 0), (1, 0), (1, 1)]
    >>> w.add_label("e2", 1)
    True
    >>> w.tallies(0)[2].tp
    1
    """

    def __init__(self, config: ModelFairnessConfig) -> None:
        self.config = config
        self.dimensions = build_dimensions(config)
        self._attributes = tuple(config.attributes)
        self._group_ids = tuple(
            {label: gid for gid, label in enumerate(groups)}
            for groups in config.attributes.values()
        )
        self._tallies: tuple[tuple[GroupTally, ...], ...] = tuple(
            tuple(GroupTally() for _ in dim.labels) for dim in self.dimensions
        )
        self._entries: deque[_Entry] = deque()
        self._by_key: dict[int, _Entry] = {}
        self.watermark = float("-inf")  # latest event time seen

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ updates
    def base_ids(self, protected: Mapping[str, object]) -> tuple[int, ...]:
        """Map raw attribute values to group ids; unknown values -> ``__other__``."""
        ids = []
        for attribute, lookup in zip(self._attributes, self._group_ids, strict=True):
            raw = protected.get(attribute)
            if raw is None:
                ids.append(MISSING)
            else:
                ids.append(lookup.get(raw if isinstance(raw, str) else str(raw), len(lookup)))
        return tuple(ids)

    def _expand(self, base: tuple[int, ...]) -> tuple[int, ...]:
        if len(self.dimensions) == len(base):
            return base  # no intersections configured
        ids = list(base)
        for dim in self.dimensions[len(base) :]:
            assert dim.parts is not None
            i, j = dim.parts
            a, b = base[i], base[j]
            width = len(self.dimensions[j].labels)
            ids.append(MISSING if a == MISSING or b == MISSING else a * width + b)
        return tuple(ids)

    def add(
        self,
        event_id: str | None,
        ts: float,
        protected: Mapping[str, object],
        selected: int,
        label: int = NO_LABEL,
    ) -> bool:
        """Add one event; returns ``False`` for a duplicate id already in the window.

        Duplicates are expected under at-least-once delivery and must not be
        counted twice.
        """
        key = event_key(event_id) if event_id is not None else None
        return self._add_entry(key, ts, self._expand(self.base_ids(protected)), selected, label)

    def _add_entry(
        self, key: int | None, ts: float, groups: tuple[int, ...], selected: int, label: int
    ) -> bool:
        if key is not None and key in self._by_key:
            return False
        entry = _Entry(key, ts, groups, 1 if selected else 0, label)
        self._entries.append(entry)
        if key is not None:
            self._by_key[key] = entry
        self._count(entry, +1)
        if ts > self.watermark:
            self.watermark = ts
        capacity = self.config.window.capacity
        while len(self._entries) > capacity:
            self._drop_oldest()
        return True

    def add_label(self, event_id: str, label: int) -> bool:
        """Join a ground-truth label to an event still in the window.

        Returns ``False`` when the event is unknown or already evicted. A second
        label for the same event replaces the first (a corrected label).
        """
        entry = self._by_key.get(event_key(event_id))
        if entry is None:
            return False
        label = 1 if label else 0
        if entry.label != NO_LABEL:
            self._count_label(entry, -1)
        entry.label = label
        self._count_label(entry, +1)
        return True

    def contains(self, event_id: str) -> bool:
        return event_key(event_id) in self._by_key

    def evict(self, now: float | None = None) -> int:
        """Drop events older than ``window.seconds`` before ``now`` (default: watermark).

        Events leave in arrival order: one that arrived late with an old
        timestamp stays until those before it have gone.
        """
        seconds = self.config.window.seconds
        if seconds is None or not self._entries:
            return 0
        cutoff = (self.watermark if now is None else now) - seconds
        dropped = 0
        while self._entries and self._entries[0].ts < cutoff:
            self._drop_oldest()
            dropped += 1
        return dropped

    def _drop_oldest(self) -> None:
        entry = self._entries.popleft()
        if entry.key is not None:
            del self._by_key[entry.key]
        self._count(entry, -1)

    def _count(self, entry: _Entry, sign: int) -> None:
        for tallies, gid in zip(self._tallies, entry.groups, strict=True):
            if gid == MISSING:
                continue
            tally = tallies[gid]
            tally.n += sign
            tally.selected += sign * entry.selected
            if entry.label != NO_LABEL:
                tally.add_label(entry.selected, entry.label, sign)

    def _count_label(self, entry: _Entry, sign: int) -> None:
        for tallies, gid in zip(self._tallies, entry.groups, strict=True):
            if gid != MISSING:
                tallies[gid].add_label(entry.selected, entry.label, sign)

    # ------------------------------------------------------------------ reads
    def tallies(self, dimension: int) -> tuple[GroupTally, ...]:
        """Live counters of one dimension, indexed like ``dimensions[d].labels``."""
        return self._tallies[dimension]

    def groups(self, dimension: int) -> dict[str, GroupTally]:
        """Configured group label -> live counters, for one dimension."""
        return dict(zip(self.dimensions[dimension].labels, self._tallies[dimension], strict=True))

    def contents(self) -> Iterator[tuple[tuple[int, ...], int, int]]:
        """``(group ids, selected, label)`` of every event, oldest first (for checks)."""
        for entry in self._entries:
            yield entry.groups, entry.selected, entry.label

    # ------------------------------------------------------------------ state
    def export_state(self) -> dict[str, Any]:
        """JSON-serialisable state; group ids are stored with their labels to survive edits."""
        n_base = len(self._attributes)
        return {
            "version": STATE_VERSION,
            "attributes": {dim.name: list(dim.labels) for dim in self.dimensions[:n_base]},
            "watermark": self.watermark if self._entries else None,
            "entries": [
                [e.key, e.ts, list(e.groups[:n_base]), e.selected, e.label] for e in self._entries
            ],
        }

    @classmethod
    def from_state(cls, config: ModelFairnessConfig, state: Mapping[str, Any]) -> FairnessWindow:
        """Rebuild a window under ``config`` from :meth:`export_state` output.

        Group ids are remapped by label: a group no longer configured becomes
        ``__other__`` and an attribute no longer configured is dropped. Values
        that were ``__other__`` stay there (raw values were never kept).
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported fairness window state version {state.get('version')!r}")
        window = cls(config)
        old_attributes: dict[str, list[str]] = dict(state["attributes"])
        old_names = list(old_attributes)
        remaps: list[tuple[int, dict[int, int]] | None] = []
        for name, lookup in zip(window._attributes, window._group_ids, strict=True):
            if name not in old_attributes:
                remaps.append(None)
                continue
            other = len(lookup)
            mapping = {
                old_id: lookup.get(label, other)
                for old_id, label in enumerate(old_attributes[name])
            }
            remaps.append((old_names.index(name), mapping))
        for key, ts, old_ids, selected, label in state["entries"]:
            base = tuple(
                MISSING
                if remap is None or old_ids[remap[0]] == MISSING
                else remap[1][old_ids[remap[0]]]
                for remap in remaps
            )
            window._add_entry(key, float(ts), window._expand(base), int(selected), int(label))
        if state.get("watermark") is not None:
            window.watermark = max(window.watermark, float(state["watermark"]))
        window.evict()
        return window
