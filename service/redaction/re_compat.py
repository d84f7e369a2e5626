"""The stdlib's private regex parser, the one place Guardian reads it.

The prefilter (:mod:`service.redaction.pattern_conditions`) derives necessary
conditions from a pattern's parse tree, which only ``re._parser`` gives.
"""

from __future__ import annotations

from re import _constants as sre  # type: ignore[attr-defined]  # the stdlib parser is the reference
from re import _parser as sre_parse  # type: ignore[attr-defined]

__all__ = ["sre", "sre_parse"]
