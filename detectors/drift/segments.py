"""Drift per segment: a tenant, a metadata key or a protected attribute.

A shift in one tenant is averaged away in the whole stream. With a segment spec
in ``detectors.yaml``::

    segments:
      - {by: tenant, top_k: 10}
      - {by: metadata.region, top_k: 5, model: "credit-*"}
      - {by: protected.age_band}

each event is also fed, for each matching spec, to the streams of its segment:
the model version ``<version>|<by>=<value>`` (so detector ids read
``credit/3.2.0|tenant=acme/age/rank_window`` and alerts carry the segment in
their ``version`` label). Cardinality is bounded: the first ``top_k`` values
seen at least ``min_count`` times get a segment of their own (heavy hitters
arrive early), every other value goes to ``__other__``; counting candidates
holds at most ``20 * top_k`` values per model and spec.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

OTHER = "__other__"
SEPARATOR = "|"
_MAX_VALUE_LEN = 64


class SegmentSpec(BaseModel):
    """One way to split a model's events into segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str = Field(description="tenant, metadata.<key> or protected.<attribute>.")
    top_k: int = Field(default=10, ge=1, le=100)
    min_count: int = Field(default=100, ge=1, le=1_000_000)
    model: str = Field(default="*", description="Glob on the model name.")

    @field_validator("by")
    @classmethod
    def _known(cls, value: str) -> str:
        head, _, key = value.partition(".")
        if value != "tenant" and not (head in ("metadata", "protected") and key):
            raise ValueError("by must be tenant, metadata.<key> or protected.<attribute>")
        return value


def segment_value(event: Mapping[str, Any], by: str) -> str | None:
    """The event's value for ``by`` as a short string, or ``None`` when it has none."""
    if by == "tenant":
        value = event.get("tenant")
    else:
        head, _, key = by.partition(".")
        container = (
            event.get("metadata")
            if head == "metadata"
            else ((event.get("subject") or {}).get("protected"))
        )
        value = container.get(key) if isinstance(container, Mapping) else None
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:_MAX_VALUE_LEN].replace(SEPARATOR, "_").replace("/", "_")


class _Labels:
    """Bounded label assignment for one (model, spec)."""

    __slots__ = ("admitted", "counts", "spec")

    def __init__(self, spec: SegmentSpec) -> None:
        self.spec = spec
        self.admitted: set[str] = set()
        self.counts: dict[str, int] = {}

    def label(self, value: str) -> str:
        if value in self.admitted:
            return value
        spec = self.spec
        if len(self.admitted) >= spec.top_k:
            return OTHER
        n = self.counts.get(value, 0) + 1
        if n >= spec.min_count:
            self.admitted.add(value)
            self.counts.pop(value, None)
            return value
        if value not in self.counts and len(self.counts) >= 20 * spec.top_k:
            self.counts.clear()  # many rare values: start counting afresh, still bounded
        self.counts[value] = n
        return OTHER


Row = tuple[str, str, Any, Any, float]  # features and outputs as the caller gave them


class Segmenter:
    """Extra drift rows for the segments of each event.

    Examples
    --------
    >>> seg = Segmenter(lambda: [SegmentSpec(by="tenant", top_k=1, min_count=2)])
    >>> ev = {"tenant": "acme"}
    >>> [r[1] for r in seg.rows(ev, "m", "1", {}, {}, 0.0)]
    ['1|tenant=__other__']
    >>> [r[1] for r in seg.rows(ev, "m", "1", {}, {}, 0.0)]
    ['1|tenant=acme']
    >>> [r[1] for r in seg.rows({"tenant": "x"}, "m", "1", {}, {}, 0.0)]
    ['1|tenant=__other__']
    """

    def __init__(self, specs: Callable[[], Sequence[SegmentSpec]]) -> None:
        self._specs = specs
        self._labels: dict[tuple[str, SegmentSpec], _Labels] = {}

    @property
    def active(self) -> bool:
        """Whether any segment spec is configured (without one, :meth:`rows` is always empty)."""
        return bool(self._specs())

    def assign(self, event: Mapping[str, Any], model: str) -> list[tuple[SegmentSpec, str]]:
        """The bounded segment label of ``event`` under each spec that applies to ``model``.

        Specs the event has no value for are left out. Every call counts the
        value towards admission (``min_count``), so call it once per event.
        """
        out: list[tuple[SegmentSpec, str]] = []
        for spec in self._specs():
            if spec.model != "*" and not fnmatch.fnmatchcase(model, spec.model):
                continue
            value = segment_value(event, spec.by)
            if value is None:
                continue
            labels = self._labels.get((model, spec))
            if labels is None:
                labels = self._labels[(model, spec)] = _Labels(spec)
            out.append((spec, labels.label(value)))
        return out

    def admit(self, model: str, spec: SegmentSpec, value: str) -> bool:
        """Give ``value`` its own segment at once (a restored checkpoint's segments keep
        theirs); False when the spec's ``top_k`` is taken or ``value`` is ``__other__``."""
        labels = self._labels.get((model, spec))
        if labels is None:
            labels = self._labels[(model, spec)] = _Labels(spec)
        if value == OTHER or (value not in labels.admitted and len(labels.admitted) >= spec.top_k):
            return False
        labels.admitted.add(value)
        labels.counts.pop(value, None)
        return True

    def rows(
        self,
        event: Mapping[str, Any],
        model: str,
        version: str,
        features: Mapping[str, Any],
        outputs: Mapping[str, Any],
        ts: float,
    ) -> list[Row]:
        return [
            (model, f"{version}{SEPARATOR}{spec.by}={label}", features, outputs, ts)
            for spec, label in self.assign(event, model)
        ]


def split_version(version: str) -> tuple[str, str]:
    """``(model version, segment)`` of a stream's version; the segment is ``all`` if none."""
    base, sep, segment = version.partition(SEPARATOR)
    return (base, segment) if sep else (version, "all")
