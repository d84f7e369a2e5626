"""The detector contract every drift detector of Guardian follows.

Modelled on River's ``river/base/drift_detector.py``: ``update(x)`` returns the
detector, state is private, results are read-only properties. On top of River's
contract a Guardian detector has

- a validated parameter schema (a pydantic ``Params`` model per kind, with
  ``extra="forbid"`` and bounds) so the control plane can reject a bad PATCH
  before anything changes;
- generic guards shared by every kind: ``warm_up`` (first values ignored),
  ``min_samples`` (no detection before that many values) and ``cooldown``
  (values after a detection during which another one is suppressed), so a
  change gives one detection, not one per event after it;
- state export/import as plain JSON numbers and lists (never pickle, never
  text), so checkpoints can be signed and restored safely and carry
  no event value.

Concrete detectors implement ``_learn(x) -> bool`` (did the underlying test
fire), ``_reset_state()``, ``_statistic()``, ``_export()`` and ``_import()``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

InputType = Literal["numeric", "categorical", "binary"]
StateValue = int | float | bool | list[Any] | dict[str, Any] | None

STATE_VERSION = 1


class DetectorStateError(ValueError):
    """A state dict that cannot be imported (wrong version, shape or kind)."""


class DetectorParams(BaseModel):
    """Parameters every detector kind has; kinds subclass this with their own.

    Unknown names and out-of-range values raise ``pydantic.ValidationError``
    naming the offending field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    warm_up: int = Field(
        default=0, ge=0, le=1_000_000, description="Values ignored after creation or reset."
    )
    min_samples: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="No detection before this many values were learnt.",
    )
    cooldown: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="Values after a detection during which none is reported.",
    )


P = TypeVar("P", bound=DetectorParams)


class Detector(abc.ABC):
    """Base class of every Guardian drift detector.

    Parameters
    ----------
    params
        A validated ``Params`` instance of this kind; defaults if omitted.
    **overrides
        Parameter values validated into ``Params`` (convenience for tests and specs).

    Examples
    --------
    >>> from detectors.drift.page_hinkley import PageHinkleyDetector
    >>> det = PageHinkleyDetector(min_instances=10, threshold=5.0, cooldown=100)
    >>> hits = [i for i, x in enumerate([0.0] * 200 + [3.0] * 200) if det.update(x).drift_detected]
    >>> hits
    [201]
    """

    kind: ClassVar[str]
    input_type: ClassVar[InputType]
    Params: ClassVar[type[DetectorParams]] = DetectorParams

    __slots__ = (
        "_params",
        "_warm_up",
        "_min_samples",
        "_cooldown",
        "_n_seen",
        "_n_learnt",
        "_last_detection",
        "_n_detections",
        "_drift_detected",
    )

    _params: DetectorParams
    _warm_up: int
    _min_samples: int
    _cooldown: int
    _n_seen: int
    _n_learnt: int
    _last_detection: int
    _n_detections: int
    _drift_detected: bool

    def __init__(self, params: DetectorParams | None = None, **overrides: Any) -> None:
        if params is None:
            params = self.Params.model_validate(overrides)
        elif overrides:
            params = self.Params.model_validate({**params.model_dump(), **overrides})
        elif not isinstance(params, self.Params):
            params = self.Params.model_validate(params.model_dump())
        self._params = params
        self._apply_params(params)
        self._reset_counters()
        self._reset_state()

    # -- contract ---------------------------------------------------------------------------

    def update(self, x: Any) -> Self:
        """Learn one value; afterwards ``drift_detected`` tells whether it revealed a change."""
        self.feed((x,))
        return self

    def feed(self, values: Sequence[Any], start: int = 0) -> int:
        """Learn ``values[start:]`` in order until one reveals a change; its index, else -1.

        The same as calling :meth:`update` on each value and stopping at the first
        ``drift_detected`` (the caller reads ``statistic`` and ``n_seen`` there, then
        goes on from the next index), in one call instead of one per value. This
        loop is the one place the generic guards run: ``warm_up`` here, then
        ``min_samples`` and ``cooldown`` in :meth:`_admit` on a raw detection.
        """
        self._drift_detected = False
        n = len(values)
        if start >= n:
            return -1
        if self._n_seen < self._warm_up:  # warm-up values are counted, not learnt
            skip = min(n - start, self._warm_up - self._n_seen)
            self._n_seen += skip
            start += skip
        learn = self._learn
        # The counters live in locals inside the loop and are stored before anything reads
        # them (_admit, the caller); a subclass's _learn must not read them.
        seen, learnt = self._n_seen, self._n_learnt
        for i in range(start, n):
            seen += 1
            learnt += 1
            if learn(values[i]):
                self._n_seen, self._n_learnt = seen, learnt
                if self._admit():
                    self._drift_detected = True
                    return i
        self._n_seen, self._n_learnt = seen, learnt
        return -1

    def _admit(self) -> bool:
        """The underlying test fired: report it unless a guard suppresses it.

        Only runs on a raw detection, so the guards cost nothing per value.
        A suppressed detection does not restart the cooldown.
        """
        n = self._n_learnt
        if n < self._min_samples:
            return False
        if self._last_detection and n - self._last_detection <= self._cooldown:
            return False
        self._last_detection = n
        self._n_detections += 1
        return True

    @property
    def drift_detected(self) -> bool:
        """Whether the last ``update`` revealed a change (after the guards)."""
        return self._drift_detected

    @property
    def statistic(self) -> float:
        """The detector's current statistic (estimate, distance, p-value or error rate)."""
        value = self._statistic()
        return value if math.isfinite(value) else 0.0

    @property
    def n_seen(self) -> int:
        """Values given to ``update`` since creation or the last ``reset``."""
        return self._n_seen

    @property
    def n_detections(self) -> int:
        """Detections reported since creation or the last ``reset``."""
        return self._n_detections

    @property
    def params(self) -> DetectorParams:
        """The validated, immutable parameters."""
        return self._params

    def reset(self) -> None:
        """Forget everything learnt; parameters are kept."""
        self._reset_counters()
        self._reset_state()

    def clone(self) -> Self:
        """A fresh detector with the same parameters and no state."""
        return type(self)(self._params)

    def with_params(self, **changes: Any) -> Self:
        """A fresh detector with ``changes`` applied; validated first, ``self`` untouched."""
        params = self.Params.model_validate({**self._params.model_dump(), **changes})
        return type(self)(params)

    def set_params(self, partial: Mapping[str, Any]) -> None:
        """Apply a partial parameter change in place and reset.

        Validation happens before anything changes: on a ``ValidationError``
        the detector keeps its parameters and state.
        """
        params = self.Params.model_validate({**self._params.model_dump(), **dict(partial)})
        self._params = params
        self._apply_params(params)
        self.reset()

    def export_state(self) -> dict[str, StateValue]:
        """Learnt state as JSON numbers, booleans and lists (no text, no pickle)."""
        return {
            "v": STATE_VERSION,
            "n_seen": self._n_seen,
            "n_learnt": self._n_learnt,
            "last_detection": self._last_detection,
            "n_detections": self._n_detections,
            "drift_detected": self._drift_detected,
            "detector": self._export(),
        }

    def import_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`export_state` produced for a detector of the same kind and params.

        Raises
        ------
        DetectorStateError
            On an unknown version or a malformed state; the detector is then reset.
        """
        if state.get("v") != STATE_VERSION:
            raise DetectorStateError(f"unknown detector state version {state.get('v')!r}")
        try:
            counters = (
                _as_int(state["n_seen"]),
                _as_int(state["n_learnt"]),
                _as_int(state["last_detection"]),
                _as_int(state["n_detections"]),
            )
            drift = state["drift_detected"]
            if not isinstance(drift, bool):
                raise DetectorStateError("drift_detected must be a boolean")
            inner = state["detector"]
            if not isinstance(inner, Mapping):
                raise DetectorStateError("detector state must be an object")
            self._import(inner)
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            self.reset()
            raise DetectorStateError(f"malformed {self.kind} state: {exc}") from exc
        self._n_seen, self._n_learnt, self._last_detection, self._n_detections = counters
        self._drift_detected = drift

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params!r}, n_seen={self._n_seen})"

    # -- for subclasses -----------------------------------------------------------------------

    def _apply_params(self, params: DetectorParams) -> None:
        self._warm_up = params.warm_up
        self._min_samples = params.min_samples
        self._cooldown = params.cooldown

    def _reset_counters(self) -> None:
        self._n_seen = 0
        self._n_learnt = 0
        self._last_detection = 0
        self._n_detections = 0
        self._drift_detected = False

    @abc.abstractmethod
    def _learn(self, x: Any) -> bool:
        """Feed one value to the underlying test; return whether it fired."""

    @abc.abstractmethod
    def _reset_state(self) -> None:
        """Rebuild the underlying test from ``self._params``."""

    @abc.abstractmethod
    def _statistic(self) -> float:
        """Current statistic; may be computed on demand (not on the hot path)."""

    @abc.abstractmethod
    def _export(self) -> dict[str, StateValue]:
        """The underlying test's state as numbers and lists."""

    @abc.abstractmethod
    def _import(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`_export`; raise ``ValueError``, ``KeyError`` or ``TypeError``."""


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DetectorStateError(f"expected an integer, got {type(value).__name__}")
    return value


def as_float(value: Any) -> float:
    """Read a number from a state dict; ``inf``/``-inf`` travel as ``None``/lists are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DetectorStateError(f"expected a number, got {type(value).__name__}")
    return float(value)


def encode_float(value: float) -> float | list[int]:
    """JSON has no infinities: encode them as ``[1]`` / ``[-1]`` (and NaN as ``[0]``)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return [0]
    return [1] if value > 0 else [-1]


def decode_float(value: Any) -> float:
    """Inverse of :func:`encode_float`."""
    if isinstance(value, list):
        if value == [1]:
            return math.inf
        if value == [-1]:
            return -math.inf
        if value == [0]:
            return math.nan
        raise DetectorStateError("bad encoded float")
    return as_float(value)


def encode_bytes(blob: bytes) -> list[int]:
    """Bytes (a Rust struct's serde encoding) as a list of ints 0..255."""
    return list(blob)


def decode_bytes(value: Any, *, max_len: int = 1 << 22) -> bytes:
    """Inverse of :func:`encode_bytes`, refusing anything but a bounded list of bytes."""
    if not isinstance(value, list) or len(value) > max_len:
        raise DetectorStateError("expected a bounded list of byte values")
    if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value):
        raise DetectorStateError("byte values must be integers in 0..255")
    return bytes(value)
