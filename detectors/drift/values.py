"""Which event values a detector may learn, and which count as missing.

Publishers send what they send: ``NaN`` and ``±inf`` (from pandas or a divide by
zero), a string or a boolean in a numeric feature, an integer too large for a
float. One such value fed to a mean-based detector poisons it for good (a
``NaN`` mean never compares), so they are turned away at the door and counted
as *missing*: the missing-rate detector of the feature sees them, which is the
signal an operator needs ("the share of unusable ages went from 0 to 30 %").
"""

from __future__ import annotations

import sys
from typing import Any

_FLOAT_MAX = sys.float_info.max


def usable(value: Any, numeric: bool) -> Any:
    """``value`` if a detector of this stream may learn it, else ``None`` (missing).

    Numeric streams take finite ints and floats (not ``bool``, a subclass of
    ``int``); categorical streams take anything but ``None`` and ``NaN``.

    Examples
    --------
    >>> [usable(v, True) for v in (1, 2.5, float("nan"), float("inf"), "3", True, 10**400)]
    [1, 2.5, None, None, None, None, None]
    >>> [usable(v, False) for v in ("DE", True, 3, float("nan"), None)]
    ['DE', True, 3, None, None]
    """
    kind = type(value)
    if kind is float:
        # x - x is 0.0 for finite floats and NaN for NaN and ±inf: one operation, no call.
        return value if value - value == 0.0 else None
    if not numeric:
        return value
    if kind is int:
        return value if -_FLOAT_MAX < value < _FLOAT_MAX else None
    return None
