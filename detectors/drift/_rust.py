"""Explicit, pickle-free state transfer for River's Rust-backed helpers.

River 0.26 implements ADWIN (``AdaptiveWindowing``) and ``EWMean`` in Rust. Their
``__getstate__`` returns the serde/bincode encoding of the Rust struct: a flat
sequence of numbers (floats, counters, bucket sums), not a Python pickle, and
``__setstate__`` decodes only that struct. We carry those bytes as a list of
ints so a checkpoint stays plain JSON. Malformed bytes make the Rust side panic
(``pyo3_runtime.PanicException``, a ``BaseException``); we turn that into a
:class:`~detectors.base.DetectorStateError` instead of letting it escape.
"""

from __future__ import annotations

from typing import Any

from detectors.base import DetectorStateError, decode_bytes, encode_bytes


def export_rust(obj: Any) -> list[int]:
    """The Rust object's serde state as a list of byte values."""
    blob = obj.__getstate__()
    if not isinstance(blob, bytes):
        raise DetectorStateError("Rust helper did not return bytes")
    return encode_bytes(blob)


def import_rust(obj: Any, value: Any) -> None:
    """Load a list of byte values into a freshly built Rust object of the same type."""
    blob = decode_bytes(value)
    try:
        obj.__setstate__(blob)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise DetectorStateError("Rust helper refused the state bytes") from None
