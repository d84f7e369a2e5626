"""Provably safe prefilters: skip a recognizer on a text where it cannot match.

For every regex of a pattern recognizer we derive, from the parsed pattern, a
set of *necessary* conditions: literal runs every match contains (``AKIA``,
``@``, ``-----BEGIN``), or a digit. A condition is an OR of atoms (one per
branch of an alternation); a pattern can match only if all its conditions
hold, and a recognizer only if one of its patterns can. Atoms are checked with
the same regex engine and the same flags the recognizer uses, so case folding
cannot make the prefilter stricter than the recognizer. Where a pattern uses
syntax we do not model, no condition is derived and the recognizer always runs.

The differential tests compare findings with plain Presidio, span for span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import regex

# (kind, literal, flags): "lit" a literal run, "digit" any digit, "digits" a run of
# int(literal) digits, "rx" a short regex of consecutive character classes.
Atom = tuple[str, str, int]
Condition = frozenset[Atom]

_DIGIT = regex.compile(r"\d")
# Plain ints, not RegexFlag members: atoms are hashed and tested per text, and enum
# hashing and ``&`` run in Python.
_IGNORECASE = int(regex.IGNORECASE)
_VERBOSE = int(regex.VERBOSE)


@dataclass(frozen=True)
class PatternGate:
    """All conditions one regex needs; an empty tuple means "always run"."""

    conditions: tuple[Condition, ...]


@dataclass
class RecognizerGate:
    """A recognizer may match a text only if one of its pattern gates opens."""

    patterns: tuple[PatternGate, ...]

    @property
    def always(self) -> bool:
        return any(not p.conditions for p in self.patterns) or not self.patterns


@dataclass
class AtomChecker:
    """Checks atoms against one text, each atom at most once."""

    text: str
    _seen: dict[Atom, bool] = field(default_factory=dict)
    _compiled: dict[Atom, Any] = field(default_factory=dict)

    _lowered: str | None = None
    _ascii: bool | None = None
    _longest_run: int | None = None

    def holds(self, atom: Atom) -> bool:
        found = self._seen.get(atom)
        if found is None:
            mode, needle, compiled = _PLANS.get(atom) or _plan(atom)
            text = self.text
            if mode <= _LIT_CS:
                if self._ascii is None:
                    self._ascii = text.isascii()
                if not self._ascii:
                    found = compiled.search(text) is not None
                elif mode == _LIT_CS:
                    found = needle in text
                else:
                    # ASCII text and literal: a case-insensitive regex match of the literal
                    # is exactly a substring match of the lowercased forms (no other code
                    # point folds onto an ASCII letter inside ASCII text).
                    if self._lowered is None:
                        self._lowered = text.lower()
                    found = needle in self._lowered
            elif mode == _DIGITS:
                if self._longest_run is None:
                    self._longest_run = max(map(len, _DIGIT_RUN.findall(text)), default=0)
                found = self._longest_run >= needle
            else:  # any digit, a class run, a non-ASCII literal: the regex engine decides
                found = compiled.search(text) is not None
            self._seen[atom] = found
        return found

    def _ascii_text(self) -> bool:
        if self._ascii is None:
            self._ascii = self.text.isascii()
        return self._ascii

    def opens(self, gate: RecognizerGate) -> bool:
        for pattern in gate.patterns:
            if self.opens_pattern(pattern):
                return True
        return False

    def opens_pattern(self, gate: PatternGate) -> bool:
        """Whether every condition of one regex holds (so the regex may match)."""
        seen = self._seen
        for cond in gate.conditions:
            for atom in cond:
                found = seen.get(atom)
                if found is None:
                    found = self.holds(atom)
                if found:
                    break
            else:
                return False
        return True


_LITERAL_CACHE: dict[tuple[str, int], Any] = {}

# How an atom is checked, decided once per atom: (mode, needle, compiled regex).
_LIT_CI, _LIT_CS, _DIGITS, _REGEX = 0, 1, 2, 3
_PLANS: dict[Atom, tuple[int, Any, Any]] = {}


def _plan(atom: Atom) -> tuple[int, Any, Any]:
    kind, literal, flags = atom
    plan: tuple[int, Any, Any]
    if kind == "digit":
        plan = (_REGEX, None, _DIGIT)
    elif kind == "digits":
        plan = (_DIGITS, int(literal), None)
    elif kind == "rx":
        plan = (_REGEX, None, _compile_class_run(literal, flags))
    elif literal.isascii():
        compiled = _compile_literal(literal, flags)
        if flags & _IGNORECASE:
            plan = (_LIT_CI, literal.lower(), compiled)
        else:
            plan = (_LIT_CS, literal, compiled)
    else:
        plan = (_REGEX, None, _compile_literal(literal, flags))
    _PLANS[atom] = plan
    return plan


_DIGIT_RUN = regex.compile(r"\d+")


def _compile_class_run(text: str, flags: int) -> Any:
    key = ("rx:" + text, flags)
    compiled = _LITERAL_CACHE.get(key)
    if compiled is None:
        compiled = regex.compile(text, flags & ~_VERBOSE)
        _LITERAL_CACHE[key] = compiled
    return compiled


def _compile_literal(literal: str, flags: int) -> Any:
    key = (literal, flags)
    compiled = _LITERAL_CACHE.get(key)
    if compiled is None:
        compiled = regex.compile(regex.escape(literal), flags & ~regex.VERBOSE)
        _LITERAL_CACHE[key] = compiled
    return compiled


#: Phone numbers: python-phonenumbers' matcher pattern requires a ``\\d`` digit
#: sequence in every candidate, so a text without a digit cannot hold one.
PHONE_GATE = RecognizerGate((PatternGate((frozenset({("digit", "", 0)}),)),))


#: Fewest digits a valid phone number can have: libphonenumber's shortest national
#: significant number in any region (checked against its metadata in the tests).
MIN_PHONE_DIGITS = 4


def phone_may_match(text: str, searched: dict[int, tuple[int, str] | None] | None = None) -> bool:
    """Whether Presidio's phone recognizer can find anything in ``text``, for any region.

    Replays the candidate scan of ``phonenumbers.PhoneNumberMatcher._find`` (same
    pattern, same trimming, same advance) and stops at the first candidate with
    at least :data:`MIN_PHONE_DIGITS` characters that can become digits (decimal
    digits, and letters, which libphonenumber maps to digits in vanity numbers).
    A valid number's national significant number is drawn from its candidate's
    digits and has at least that many, and every inner match libphonenumber tries
    is a substring of a candidate, so a text whose candidates are all shorter
    cannot produce a match under any region or leniency. One regex scan replaces
    a full matcher pass per region.

    ``searched``, when given, receives ``search index -> (start, candidate)`` for
    the scan done here (``None``: no candidate from that index on), which is what
    :class:`service.redaction.phone.PhoneScan` computes first, so it does not redo it.
    """
    if not _PHONE:
        # The matcher's own candidate pattern and trimming (phonenumbers is pinned).
        from phonenumbers.phonenumbermatcher import _PATTERN
        from phonenumbers.phonenumberutil import _SECOND_NUMBER_START_PATTERN

        _PHONE.extend((_PATTERN, _SECOND_NUMBER_START_PATTERN))
    pattern, second_number = _PHONE
    index = 0
    match = pattern.search(text, 0)
    while match is not None:
        start = match.start()
        candidate = text[start : match.end()]
        trailing = second_number.search(candidate)
        if trailing:
            candidate = candidate[: trailing.start()]
        if not candidate:
            return True  # not modelled: let the recognizer decide
        if searched is not None:
            searched[index] = (start, candidate)
        if sum(1 for ch in candidate if ch.isdigit() or ch.isalpha()) >= MIN_PHONE_DIGITS:
            return True
        index = start + len(candidate)
        match = pattern.search(text, index)
    if searched is not None:
        searched[index] = None
    return False


_PHONE: list[Any] = []
