"""The base class of the detectors whose test is one River drift detector."""

from __future__ import annotations

from typing import Any

from detectors.base import Detector
from detectors.river_compat import drift_flag


class RiverDetector(Detector):
    """A detector whose test is one River drift detector held in ``_river``.

    The hot path is River's ``update(x)``, then its drift flag (read through
    :data:`detectors.river_compat.drift_flag`). What checkpoints need of River's
    internals lives in :mod:`detectors.river_compat` too.
    """

    _river: Any

    def _learn(self, x: Any) -> bool:
        river = self._river
        river.update(x)
        return drift_flag(river)
