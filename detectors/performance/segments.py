"""Performance per segment: one model version's windows by tenant, metadata key or attribute.

A drop in one region or one protected group is averaged away in the whole
version's estimate. With ``segments`` in ``config/performance.yaml`` (the drift
segments' form, :class:`detectors.drift.segments.SegmentSpec`)::

    segments:
      - {by: metadata.region, top_k: 5}
      - {by: protected.age_band, min_count: 200}

every scored event of a binary classifier also enters the window of its
segment, named ``<by>=<value>`` (``metadata.region=eu``). Cardinality is the
drift segments' (:class:`~detectors.drift.segments.Segmenter`): the first
``top_k`` values seen ``min_count`` times get a segment, every other value
``__other__``. A segment window holds the last ``window`` events of that
segment and is evaluated every ``evaluate_every`` of its own events and labels
(so the cost per event does not grow with the number of segments), through the
version's calibrator:
CBPE assumes P(label | score) holds across segments (it is the model's
calibration, fitted on every joined label), and the segment's realized values
show where it does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.performance import cbpe
from detectors.performance.calibration import Calibrator
from detectors.performance.config import ModelPerformanceConfig
from detectors.performance.verdicts import Hysteresis, dump, load
from detectors.performance.window import ScoreWindow

#: The ``segment`` of a whole model version (metrics, results).
ALL = "all"


@dataclass(slots=True)
class Segment:
    """One segment's window, its verdict state and its last evaluation."""

    window: ScoreWindow
    hysteresis: dict[str, Hysteresis] = field(default_factory=dict)
    view: dict[str, Any] | None = None


class SegmentWindows:
    """The segment windows of one model version (``name -> Segment``)."""

    __slots__ = ("size", "segments")

    def __init__(self, size: int) -> None:
        self.size = size
        self.segments: dict[str, Segment] = {}

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[tuple[str, Segment]]:
        return iter(list(self.segments.items()))

    def add(
        self, name: str, event_id: str, score: float, predicted: int, ts: float, create: bool
    ) -> Segment | None:
        """Add an event to segment ``name``'s window; a new window only with ``create``."""
        segment = self.segments.get(name)
        if segment is None:
            if not create:
                return None
            segment = self.segments[name] = Segment(ScoreWindow(self.size, 0))
        segment.window.add(event_id, score, predicted, ts)
        return segment

    def add_label(self, event_id: str, label: int) -> list[tuple[str, Segment]]:
        """Join a label to the event in whichever segment windows hold it."""
        return [(n, s) for n, s in self.segments.items() if s.window.add_label(event_id, label)]

    @staticmethod
    def evaluate(
        segment: Segment, calibrator: Calibrator, z: float, scheduled: bool
    ) -> tuple[dict[str, cbpe.Estimate], dict[str, cbpe.Estimate]]:
        """Evaluate one segment window through the version's ``calibrator``.

        Segments run on their own schedule (``evaluate_every`` of their own
        events and labels), so the cost per event does not grow with their number.
        """
        window = segment.window
        estimated, realized, labelled = window.evaluate(calibrator, z)
        if scheduled:
            window.since_eval = window.labels_since_eval = 0
        segment.view = {
            "window": {"events": len(window), "labelled": labelled},
            "estimated": {m: e.as_dict() for m, e in estimated.items()},
            "realized": {m: e.as_dict() for m, e in realized.items()},
        }
        return estimated, realized

    def views(self) -> dict[str, dict[str, Any]]:
        """The last evaluation of each segment with its alert state, for the API."""
        return {
            name: {**(s.view or {}), "alerts": dump(s.hysteresis)}
            for name, s in sorted(self.segments.items())
        }

    # ------------------------------------------------------------------ state
    def export_state(self, version_ids: Sequence[int]) -> dict[str, Any]:
        """Segment membership of the version window's events, and each segment's verdicts.

        The rows themselves are in the version window's state: per ``by``, one
        index into ``names`` per version-window event (-1: in none of its
        segments' windows), so segments add bytes per event, not a window each,
        and the checkpoint stays under the message size. Events of a segment
        that already left the version window are not kept (a small segment's
        window refills from traffic after a restore).
        """
        names = sorted(self.segments)
        where: dict[str, dict[int, int]] = {}
        for i, name in enumerate(names):
            column = where.setdefault(name.partition("=")[0], {})
            for key in self.segments[name].window.entries.keys():
                column[key] = i
        return {
            "names": names,
            "members": {by: [m.get(k, -1) for k in version_ids] for by, m in where.items()},
            "hysteresis": {name: dump(self.segments[name].hysteresis) for name in names},
        }

    @classmethod
    def from_state(
        cls,
        cfg: ModelPerformanceConfig,
        saved: Mapping[str, Any],
        keep: set[str],
        version_ids: Sequence[int],
        version: ScoreWindow,
    ) -> SegmentWindows:
        """Rebuild the segments whose ``by`` is in ``keep`` from the restored version window
        (``version_ids``: its saved ids, in order); raises on a malformed record."""
        out = cls(cfg.window)
        names = [str(n) for n in saved.get("names", [])]
        hysteresis = saved.get("hysteresis", {})
        for name in names:
            if name.partition("=")[0] in keep:
                out.segments[name] = Segment(ScoreWindow(cfg.window, 0))
                out.segments[name].hysteresis = load(hysteresis.get(name, {}), cfg)
        for by, column in saved.get("members", {}).items():
            if by not in keep:
                continue
            if len(column) != len(version_ids):
                raise ValueError("performance segments state: members and ids differ in length")
            for key, index in zip(version_ids, column, strict=True):
                at = version.entries.slot(int(key))
                if at is None or index == -1:
                    continue
                segment = out.segments[names[int(index)]]  # IndexError/KeyError: malformed
                segment.window.entries.add(int(key), version.entries.data[at].tolist())
        return out
