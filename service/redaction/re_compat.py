"""The stdlib's private regex parser, the one place Guardian reads it, behind a check.

The prefilter (:mod:`service.redaction.pattern_conditions`) derives necessary
conditions from a pattern's parse tree, which only ``re._parser`` gives: its
opcodes (``re._constants``) and the shape of each item are CPython internals.
They are used only on a Python minor version they were verified on
(:data:`VERIFIED_PYTHON`) and when a probe pattern still parses to the tree
recorded here (:data:`PROBE_TREE`), checked on first use (:func:`internals`).
Otherwise the prefilter derives no conditions: every recognizer runs on every text,
which costs time, not findings. ``tests/unit/test_redaction_re_compat.py`` fails
when either check fails on the Python the project runs on.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)

#: Python minor versions whose ``re._parser`` trees the prefilter was verified against.
VERIFIED_PYTHON: frozenset[tuple[int, int]] = frozenset({(3, 11)})

#: A pattern with every construct the prefilter models, and its tree on a verified Python.
PROBE = r"^a[^b][^cd]+?(?:ef|gh)(i)(?>j)k++(?=l)(?!m)\d."
PROBE_TREE = (
    "[(AT, AT_BEGINNING), (LITERAL, 97), (NOT_LITERAL, 98), (MIN_REPEAT, (1, MAXREPEAT, "
    "[(IN, [(NEGATE, None), (LITERAL, 99), (LITERAL, 100)])])), (BRANCH, (None, "
    "[[(LITERAL, 101), (LITERAL, 102)], [(LITERAL, 103), (LITERAL, 104)]])), "
    "(SUBPATTERN, (1, 0, 0, [(LITERAL, 105)])), (ATOMIC_GROUP, [(LITERAL, 106)]), "
    "(POSSESSIVE_REPEAT, (1, MAXREPEAT, [(LITERAL, 107)])), (ASSERT, (1, [(LITERAL, 108)])), "
    "(ASSERT_NOT, (1, [(LITERAL, 109)])), (IN, [(CATEGORY, CATEGORY_DIGIT)]), (ANY, None)]"
)


@dataclass(frozen=True)
class ReInternals:
    """``re._constants`` and ``re._parser``, or why they are not used here."""

    constants: Any = None
    parser: Any = None
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.parser is not None


@cache
def internals() -> ReInternals:
    """The checked internals of this interpreter (checked once; a fallback is logged once)."""
    found = _load()
    if not found.available:
        logger.warning(
            "redaction prefilter off (%s): every recognizer runs on every text, slower, "
            "same findings",
            found.reason,
        )
    return found


def _load() -> ReInternals:
    version = sys.version_info[:2]
    if version not in VERIFIED_PYTHON:
        return ReInternals(reason=f"Python {version[0]}.{version[1]} is not a verified version")
    try:
        from re import _constants as constants  # type: ignore[attr-defined]
        from re import _parser as parser  # type: ignore[attr-defined]

        tree = str(list(parser.parse(PROBE, 0)))
    except Exception as exc:  # noqa: BLE001  # any failure of an internal means: do not use it
        return ReInternals(reason=f"re._parser failed on the probe ({type(exc).__name__})")
    if tree != PROBE_TREE:
        return ReInternals(reason="re._parser gives another tree for the probe pattern")
    return ReInternals(constants, parser)
