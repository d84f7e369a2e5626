"""Every touch of River's private internals, in one place, for one verified River version.

River's public contract (``update(x)``, ``drift_detected``, ``estimation``,
``p_value``, ``window``, ``n``, ``stats.Mean.get/update``) is what the hot path
uses, but for :data:`drift_flag`, which reads the attribute behind
``drift_detected`` without the property's Python call. Checkpoints need more:
River offers no state export other than pickle, which Guardian refuses (a
checkpoint must be plain JSON numbers, safe to load).
So the functions below (and those of :mod:`detectors.river_compat_binary` for the
binary detectors) read and write the private attributes that hold each
detector's learnt state, listed per class in :data:`PRIVATE_ATTRIBUTES`.

Those attributes are not River's API and may change in any release.
:func:`check_river` logs when the installed River is not :data:`VERIFIED_RIVER`,
and ``tests/unit/test_river_compat.py`` fails loudly when an attribute listed here
is gone, or when a round trip through these functions no longer restores a
River object whole (a new attribute River added to its state).

ADWIN and HDDM_W's ``EWMean`` are implemented in Rust; their ``__getstate__``
returns the serde encoding of the Rust struct (a flat sequence of numbers, not
a Python pickle) and ``__setstate__`` decodes only that struct. The bytes travel
as a list of ints. Malformed bytes make the Rust side panic
(``pyo3_runtime.PanicException``, a ``BaseException``), which becomes a
:class:`~detectors.base.DetectorStateError`.
"""

from __future__ import annotations

import collections
import functools
import importlib.metadata
import logging
import random
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from river import stats

from detectors.base import (
    DetectorStateError,
    StateValue,
    as_float,
    decode_bytes,
    decode_float,
    encode_bytes,
    encode_float,
)
from detectors.river_compat_imports import VERIFIED_RIVER as VERIFIED_RIVER

log = logging.getLogger(__name__)

"""The River release whose internals this module was written and tested against."""

#: River class -> the private attributes of its instances read or written here.
PRIVATE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "river.drift.ADWIN": ("_drift_detected", "_helper"),
    "river.drift.KSWIN": ("_drift_detected", "_rng"),
    "river.drift.PageHinkley": (
        "_drift_detected",
        "_x_mean",
        "_sum_increase",
        "_sum_decrease",
        "_min_increase",
        "_max_decrease",
    ),
    "river.drift.binary.DDM": (
        "_drift_detected",
        "_warning_detected",
        "_p",
        "_p_min",
        "_s_min",
        "_ps_min",
    ),
    "river.drift.binary.EDDM": (
        "_drift_detected",
        "_warning_detected",
        "_error_distances",
        "_n",
        "_last_error",
        "_n_errors",
        "_p2s_prime_max",
    ),
    "river.drift.binary.FHDDM": ("_drift_detected", "_sliding_window", "_u_max", "_u_short_max"),
    "river.drift.binary.HDDM_A": ("_drift_detected", "_warning_detected", "_x_min", "_x_max", "_z"),
    "river.drift.binary.HDDM_W": (
        "_drift_detected",
        "_warning_detected",
        "_total",
        "_s1_decr",
        "_s1_incr",
        "_s2_decr",
        "_s2_incr",
        "_incr_cutpoint",
        "_decr_cutpoint",
    ),
    "river.drift.binary.hddm_w.SampleInfo": ("_ewma", "_is_init", "_ibc"),
    "river.stats.EWMean": ("_ewmean",),
    "river.stats.Var": ("_S",),
}

drift_flag: Callable[[Any], bool] = attrgetter("_drift_detected")
"""``detector.drift_detected`` without the Python frame of River's property.

The per-value hot path reads River's flag after each ``update``; River's public
property costs a Python call there, this C-level getter does not. Same value.
"""


def river_version() -> str:
    """The installed River's version, from its distribution metadata."""
    return importlib.metadata.version("river")


@functools.cache
def check_river() -> bool:
    """Whether the installed River is the verified one; logs once per process when not.

    Detectors still work on another River (the hot path is public API); what is
    untested is their checkpoint state, which may then fail to restore (a
    refused record) or restore incompletely.
    """
    installed = river_version()
    if installed == VERIFIED_RIVER:
        return True
    log.warning(
        "river %s is not the verified %s: detector checkpoints rely on its internals "
        "(detectors/river_compat.py) and are untested with it",
        installed,
        VERIFIED_RIVER,
    )
    return False


# -- shared pieces --------------------------------------------------------------------------


def flag(value: Any) -> bool:
    """A boolean from a state dict, refusing anything else."""
    if not isinstance(value, bool):
        raise TypeError("expected a boolean")
    return value


def mean_state(m: stats.Mean) -> list[float]:
    """``[n, mean]`` of a ``river.stats.Mean`` (public readers)."""
    return [float(m.n), float(m.get())]


def load_mean(m: stats.Mean, value: Any) -> stats.Mean:
    """Restore :func:`mean_state` into a fresh ``m`` through its public ``update``.

    On a fresh Mean, ``update(mean, w=n)`` sets ``n = n`` and the mean to exactly
    ``mean`` (the weight ratio is 1.0), so no private attribute is needed.
    """
    n, mean = (as_float(v) for v in value)
    if n:
        m.update(mean, w=n)
    return m


def export_rust(obj: Any) -> list[int]:
    """A Rust-backed River helper's serde state as a list of byte values."""
    blob = obj.__getstate__()
    if not isinstance(blob, bytes):
        raise DetectorStateError("Rust helper did not return bytes")
    return encode_bytes(blob)


def import_rust(obj: Any, value: Any) -> None:
    """Load a list of byte values into a freshly built Rust helper of the same type."""
    blob = decode_bytes(value)
    try:
        obj.__setstate__(blob)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise DetectorStateError("Rust helper refused the state bytes") from None


def set_flags(d: Any, fired: bool, warning: bool | None = None) -> None:
    """Restore River's drift (and warning) flag."""
    d._drift_detected = fired
    if warning is not None:
        d._warning_detected = warning


# -- ADWIN ----------------------------------------------------------------------------------


def export_adwin(d: Any) -> dict[str, StateValue]:
    return {"fired": d.drift_detected, "helper": export_rust(d._helper)}


def import_adwin(d: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.ADWIN``."""
    import_rust(d._helper, state["helper"])
    fired = state["fired"]
    if not isinstance(fired, bool):
        raise TypeError("fired must be a boolean")
    set_flags(d, fired)


# -- KSWIN ----------------------------------------------------------------------------------


def export_kswin(ks: Any) -> dict[str, StateValue]:
    version, internal, gauss_next = ks._rng.getstate()
    return {
        "fired": ks.drift_detected,
        "n": ks.n,
        "p_value": float(ks.p_value),
        "window": [float(v) for v in ks.window],
        "rng": [version, list(internal), encode_float(gauss_next) if gauss_next else []],
    }


def import_kswin(ks: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.KSWIN``."""
    window = [as_float(v) for v in state["window"]]
    if len(window) > ks.window_size:
        raise ValueError("window longer than window_size")
    version, internal, gauss = state["rng"]
    if not all(isinstance(v, int) for v in internal):
        raise TypeError("rng state must be integers")
    rng = random.Random()  # noqa: S311 - reproduces River's window sampling, not security
    rng.setstate((int(version), tuple(internal), decode_float(gauss) if gauss else None))
    ks._rng = rng
    ks.window = collections.deque(window, maxlen=ks.window_size)
    ks.n = int(state["n"])
    ks.p_value = as_float(state["p_value"])
    set_flags(ks, bool(state["fired"]))


# -- Page-Hinkley ---------------------------------------------------------------------------


def page_hinkley_statistic(ph: Any) -> float:
    """The larger of the two cumulative deviations from their extremes (0 before any value)."""
    if ph._x_mean.n == 0:
        return 0.0
    return float(max(ph._sum_increase - ph._min_increase, ph._max_decrease - ph._sum_decrease))


def export_page_hinkley(ph: Any) -> dict[str, StateValue]:
    mean_n, mean = mean_state(ph._x_mean)
    return {
        "fired": ph.drift_detected,
        "mean_n": mean_n,
        "mean": mean,
        "sum_increase": encode_float(ph._sum_increase),
        "sum_decrease": encode_float(ph._sum_decrease),
        "min_increase": encode_float(ph._min_increase),
        "max_decrease": encode_float(ph._max_decrease),
    }


def import_page_hinkley(ph: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.PageHinkley``."""
    set_flags(ph, bool(state["fired"]))
    load_mean(ph._x_mean, (state["mean_n"], state["mean"]))
    ph._sum_increase = decode_float(state["sum_increase"])
    ph._sum_decrease = decode_float(state["sum_decrease"])
    ph._min_increase = decode_float(state["min_increase"])
    ph._max_decrease = decode_float(state["max_decrease"])
