"""River's binary (error-rate) detectors: their checkpoint state through River's internals.

The second half of :mod:`detectors.river_compat` (same rules, same verified
version, same tests): DDM, EDDM, FHDDM, HDDM_A and HDDM_W.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

from river import stats
from river.drift.binary.hddm_w import SampleInfo

from detectors.base import StateValue, as_float, decode_float, encode_float
from detectors.river_compat import (
    export_rust,
    flag,
    import_rust,
    load_mean,
    mean_state,
    set_flags,
)

_HDDM_W_SAMPLES = ("_total", "_s1_decr", "_s1_incr", "_s2_decr", "_s2_incr")


# -- DDM ------------------------------------------------------------------------------------


def ddm_error_rate(d: Any) -> float:
    return float(d._p.get())


def export_ddm(d: Any) -> dict[str, StateValue]:
    return {
        "fired": d.drift_detected,
        "warning": d.warning_detected,
        "p": mean_state(d._p),
        "p_min": [] if d._p_min is None else [float(d._p_min)],
        "s_min": [] if d._s_min is None else [float(d._s_min)],
        "ps_min": encode_float(d._ps_min),
    }


def import_ddm(d: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.binary.DDM``."""
    set_flags(d, flag(state["fired"]), flag(state["warning"]))
    load_mean(d._p, state["p"])
    d._p_min = decode_float(state["p_min"][0]) if state["p_min"] else None
    d._s_min = decode_float(state["s_min"][0]) if state["s_min"] else None
    d._ps_min = decode_float(state["ps_min"])


# -- EDDM -----------------------------------------------------------------------------------


def eddm_mean_distance(d: Any) -> float:
    return float(d._error_distances.mean.get())


def export_eddm(d: Any) -> dict[str, StateValue]:
    var = d._error_distances
    return {
        "fired": d.drift_detected,
        "warning": d.warning_detected,
        "dist_mean": mean_state(var.mean),
        "dist_s": float(var._S),
        "n": d._n,
        "last_error": d._last_error,
        "n_errors": d._n_errors,
        "p2s_prime_max": float(d._p2s_prime_max),
    }


def import_eddm(d: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.binary.EDDM``."""
    set_flags(d, flag(state["fired"]), flag(state["warning"]))
    load_mean(d._error_distances.mean, state["dist_mean"])
    d._error_distances._S = as_float(state["dist_s"])
    d._n = int(state["n"])
    d._last_error = int(state["last_error"])
    d._n_errors = int(state["n_errors"])
    d._p2s_prime_max = as_float(state["p2s_prime_max"])


# -- FHDDM ----------------------------------------------------------------------------------


def fhddm_error_rate(d: Any) -> float:
    """Share of zeros (wrong predictions, as Guardian feeds FHDDM) in the sliding window."""
    window = d._sliding_window
    return 1.0 - sum(window) / len(window) if window else 0.0


def export_fhddm(d: Any) -> dict[str, StateValue]:
    return {
        "fired": d.drift_detected,
        "window": [int(v) for v in d._sliding_window],
        "n_one": int(d.n_one),
        "u_max": float(d._u_max),
        "u_short_max": float(getattr(d, "_u_short_max", 0.0)),
    }


def import_fhddm(d: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.binary.FHDDM``."""
    window = [int(v) for v in state["window"]]
    if len(window) > d.sliding_window_size or any(v not in (0, 1) for v in window):
        raise ValueError("window does not fit sliding_window_size")
    d._sliding_window = collections.deque(window, maxlen=d.sliding_window_size)
    d.n_one = int(state["n_one"])
    d._u_max = as_float(state["u_max"])
    if d.short_window_size is not None:
        d._u_short_max = as_float(state["u_short_max"])
    set_flags(d, flag(state["fired"]))


# -- HDDM_A ---------------------------------------------------------------------------------


def hddm_a_error_rate(d: Any) -> float:
    return float(d._z.get())


def export_hddm_a(d: Any) -> dict[str, StateValue]:
    return {
        "fired": d.drift_detected,
        "warning": d.warning_detected,
        "x_min": mean_state(d._x_min),
        "x_max": mean_state(d._x_max),
        "z": mean_state(d._z),
    }


def import_hddm_a(d: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.binary.HDDM_A``."""
    set_flags(d, flag(state["fired"]), flag(state["warning"]))
    d._x_min = load_mean(stats.Mean(), state["x_min"])
    d._x_max = load_mean(stats.Mean(), state["x_max"])
    d._z = load_mean(stats.Mean(), state["z"])


# -- HDDM_W ---------------------------------------------------------------------------------


def hddm_w_error_rate(d: Any) -> float:
    return float(d._total.ewma)


def export_hddm_w(d: Any) -> dict[str, StateValue]:
    samples: list[Any] = []
    for name in _HDDM_W_SAMPLES:
        s: SampleInfo = getattr(d, name)
        samples.append([export_rust(s._ewma._ewmean), s.is_init, float(s.ibc)])
    return {
        "fired": d.drift_detected,
        "warning": d.warning_detected,
        "samples": samples,
        "incr_cutpoint": encode_float(d._incr_cutpoint),
        "decr_cutpoint": encode_float(d._decr_cutpoint),
    }


def import_hddm_w(d: Any, state: Mapping[str, Any]) -> None:
    """Into a fresh ``river.drift.binary.HDDM_W``."""
    samples = state["samples"]
    if len(samples) != len(_HDDM_W_SAMPLES):
        raise ValueError("expected five samples")
    for name, (blob, is_init, ibc) in zip(_HDDM_W_SAMPLES, samples, strict=True):
        s = SampleInfo(d.lambda_val)
        import_rust(s._ewma._ewmean, blob)
        s._is_init = flag(is_init)
        s._ibc = as_float(ibc)
        setattr(d, name, s)
    d._incr_cutpoint = decode_float(state["incr_cutpoint"])
    d._decr_cutpoint = decode_float(state["decr_cutpoint"])
    set_flags(d, flag(state["fired"]), flag(state["warning"]))
