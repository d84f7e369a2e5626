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


#: Every atom a gate holds, numbered once: gates keep the numbers, so a text's checks
#: are looked up by a small int rather than by hashing an atom (tuples do not cache
#: their hash, and the gates are read for every recognizer of every text).
_ATOM_IDS: dict[Atom, int] = {}
_ATOMS: list[Atom] = []
#: How each numbered atom is checked (its :data:`_PLANS` entry, found once).
_NUMBERED_PLANS: list[tuple[int, Any, Any] | None] = []


def _atom_id(atom: Atom) -> int:
    number = _ATOM_IDS.get(atom)
    if number is None:
        number = _ATOM_IDS[atom] = len(_ATOMS)
        _ATOMS.append(atom)
        _NUMBERED_PLANS.append(None)
    return number


@dataclass(frozen=True)
class PatternGate:
    """All conditions one regex needs; an empty tuple means "always run"."""

    conditions: tuple[Condition, ...]
    #: ``conditions`` as tuples of atom numbers (what :class:`AtomChecker` reads).
    ids: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = tuple(tuple(_atom_id(atom) for atom in cond) for cond in self.conditions)
        object.__setattr__(self, "ids", ids)


@dataclass
class RecognizerGate:
    """A recognizer may match a text only if one of its pattern gates opens."""

    patterns: tuple[PatternGate, ...]
    #: No pattern has a condition (or there is no pattern): nothing to check. Set once,
    #: not a property: it is read for every recognizer of every text.
    always: bool = field(init=False)

    #: Each pattern's :attr:`PatternGate.ids`.
    ids: tuple[tuple[tuple[int, ...], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.always = any(not p.conditions for p in self.patterns) or not self.patterns
        self.ids = tuple(p.ids for p in self.patterns)

    def prepare(self) -> None:
        """Decide how every atom is checked now, not on the first text that needs it.

        Planning an atom compiles its regex (``regex``'s parser is pure Python, ~1 ms
        each); a worker process would otherwise pay that inside the first texts.
        """
        for conditions in self.ids:
            for cond in conditions:
                for number in cond:
                    if _NUMBERED_PLANS[number] is None:
                        atom = _ATOMS[number]
                        _NUMBERED_PLANS[number] = _PLANS.get(atom) or _plan(atom)


@dataclass
class AtomChecker:
    """Checks atoms against one text, each atom at most once."""

    text: str
    _seen: dict[Atom, bool] = field(default_factory=dict)
    _seen_ids: dict[int, bool] = field(default_factory=dict)
    _compiled: dict[Atom, Any] = field(default_factory=dict)

    _lowered: str | None = None
    _ascii: bool | None = None
    _longest_run: int | None = None

    def __post_init__(self) -> None:
        # Most atoms are ASCII literals: decided up front, so the checks can be inlined.
        self._ascii = self.text.isascii()
        if self._ascii:
            self._lowered = self.text.lower()

    def holds(self, atom: Atom) -> bool:
        found = self._seen.get(atom)
        if found is None:
            found = self._seen[atom] = self._check(_PLANS.get(atom) or _plan(atom))
        return found

    def _holds_number(self, number: int) -> bool:
        """:meth:`holds` for atom ``_ATOMS[number]``, its plan found by number too."""
        plan = _NUMBERED_PLANS[number]
        if plan is None:
            plan = _NUMBERED_PLANS[number] = _PLANS.get(_ATOMS[number]) or _plan(_ATOMS[number])
        if plan[0] == _LIT_CS and self._ascii:
            found = self._seen_ids[number] = plan[1] in self.text
        else:
            found = self._seen_ids[number] = self._check(plan)
        return found

    def _check(self, plan: tuple[int, Any, Any]) -> bool:
        mode, needle, compiled = plan
        text = self.text
        if mode <= _LIT_CS:
            if self._ascii is None:
                self._ascii = text.isascii()
            if not self._ascii:
                return compiled.search(text) is not None
            if mode == _LIT_CS:
                return needle in text
            # ASCII text and literal: a case-insensitive regex match of the literal
            # is exactly a substring match of the lowercased forms (no other code
            # point folds onto an ASCII letter inside ASCII text).
            if self._lowered is None:
                self._lowered = text.lower()
            return needle in self._lowered
        if mode == _DIGITS:
            if self._longest_run is None:
                self._longest_run = max(map(len, _DIGIT_RUN.findall(text)), default=0)
            return bool(self._longest_run >= needle)
        # any digit, a class run, a non-ASCII literal: the regex engine decides
        return compiled.search(text) is not None

    def _ascii_text(self) -> bool:
        if self._ascii is None:
            self._ascii = self.text.isascii()
        return self._ascii

    def opens(self, gate: RecognizerGate) -> bool:
        """Whether one of the recognizer's regexes may match (:meth:`opens_pattern`, inlined).

        A case-insensitive ASCII literal in ASCII text (most checks) is tested here, as
        :meth:`_check` would: a substring of the lowercased text.
        """
        seen = self._seen_ids
        lowered = self._lowered  # ASCII text only
        plans = _NUMBERED_PLANS
        for conditions in gate.ids:
            for cond in conditions:
                for number in cond:
                    found = seen.get(number)
                    if found is None:
                        plan = plans[number]
                        if lowered is not None and plan is not None and plan[0] == _LIT_CI:
                            found = seen[number] = plan[1] in lowered
                        else:
                            found = self._holds_number(number)
                    if found:
                        break
                else:
                    break  # no atom of this condition holds: the regex cannot match
            else:
                return True  # every condition holds
        return False

    def opens_pattern(self, gate: PatternGate) -> bool:
        """Whether every condition of one regex holds (so the regex may match)."""
        seen = self._seen_ids
        for cond in gate.ids:
            for number in cond:
                found = seen.get(number)
                if found is None:
                    found = self._holds_number(number)
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
