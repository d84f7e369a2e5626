"""Necessary conditions of a regex, derived from its parse tree (the prefilter's input).

For every regex of a pattern recognizer we derive, from the parsed pattern, a
set of *necessary* conditions (:mod:`service.redaction.prefilter`): literal
runs every match contains, a digit, a run of digits, or a short run of
character classes. Where a pattern uses syntax we do not model, no condition is
derived and the recognizer always runs. The stdlib's regex parser is read
through :mod:`service.redaction.re_compat`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from service.redaction.prefilter import Atom, Condition, PatternGate
from service.redaction.re_compat import internals

# Read when the engine is built (this module is imported then); ``None`` where the
# parser is not verified, and then nothing below ``pattern_gate`` runs.
sre: Any = internals().constants

_FLAG_MASK = int(regex.IGNORECASE | regex.MULTILINE | regex.DOTALL | regex.VERBOSE)
_KEEP = regex.compile(r"\\(.)", regex.DOTALL)


def without_keep(pattern: str) -> str:
    """``pattern`` without ``regex``'s ``\\K`` (which the stdlib parser does not know).

    ``\\K`` only moves where a reported match starts; the text still contains the
    whole consumed string, so conditions derived without it remain necessary.
    """
    return str(_KEEP.sub(lambda m: "" if m.group(1) == "K" else m.group(0), pattern))


def pattern_gate(pattern: str, flags: int) -> PatternGate:
    """Necessary conditions of ``pattern`` compiled with ``flags`` (``()`` if unknown)."""
    parser = internals().parser
    if parser is None:
        return PatternGate(())  # the parser is not verified here: no prefilter, same findings
    flags = int(flags) & _FLAG_MASK
    pattern = without_keep(pattern)
    try:
        parsed = parser.parse(pattern, flags & (re.I | re.M | re.S | re.X))
    except (re.error, ValueError, TypeError, RecursionError):
        return PatternGate(())
    # Inline global flags (e.g. a leading "(?i)") change how literals match.
    if parsed.state.flags & re.IGNORECASE and not flags & regex.IGNORECASE:
        return PatternGate(())
    try:
        conditions = _sequence(list(parsed), flags)
    except RecursionError:
        return PatternGate(())
    try:
        conditions += _Chains(flags).sequence(list(parsed)).conds
    except RecursionError:
        pass  # the literal conditions alone are still necessary
    unique = tuple(dict.fromkeys(c for c in conditions if c))
    return PatternGate(unique)


def _strength(cond: Condition) -> int:
    return min(_atom_strength(atom) for atom in cond)


def _atom_strength(atom: Atom) -> int:
    kind, literal, _flags = atom
    if kind == "lit":
        return len(literal)
    if kind == "digits":
        return int(literal)
    if kind == "rx":
        return _RX_POSITIONS.get(literal, 2)
    return 1


# --- adjacency: characters every match has next to each other ------------------------
#
# A position of a match is described by the character class it is drawn from
# (its text in regex syntax, and whether it holds only digits), or None when
# the class is not modelled. ``\d{9}`` gives nine digit positions in a row: the
# text needs a run of nine digits. ``(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}`` gives
# ``[0-9a-f]:[0-9a-f]`` (the end of one group, the start of the next): the text
# needs three such characters in a row. Zero-width items (anchors, look-arounds)
# do not separate positions; anything optional or unmodelled does.

#: Characters an "rx" atom spans (its strength when choosing among alternatives).
_RX_POSITIONS: dict[str, int] = {}
_Pos = tuple[str, bool, str] | None  # (class regex, digits only, the literal or "") or unknown
_CAP = 24  # positions kept at each end of a long item


@dataclass
class _Info:
    """What one item contributes: fixed positions, or known first and last positions."""

    fixed: list[_Pos] | None  # every match of the item is exactly these positions
    prefix: list[_Pos]  # positions every match starts with
    suffix: list[_Pos]  # positions every match ends with
    conds: list[Condition]


class _Chains:
    def __init__(self, flags: int) -> None:
        self.flags = flags

    def sequence(self, items: Sequence[tuple[Any, Any]]) -> _Info:
        conds: list[Condition] = []
        run: list[_Pos] = []
        head: list[_Pos] | None = None  # positions from the start, once an item is not fixed
        for op, av in items:
            info = self.item(op, av)
            conds += info.conds
            if info.fixed is not None:
                run += info.fixed
            else:
                run += info.prefix
                self.emit(run, conds)
                if head is None:
                    head = run[:_CAP]
                run = list(info.suffix)
        self.emit(run, conds)
        if head is None:
            if len(run) <= _CAP:
                return _Info(run, run, run, conds)
            return _Info(None, run[:_CAP], run[-_CAP:], conds)
        return _Info(None, head, run[-_CAP:], conds)

    def item(self, op: Any, av: Any) -> _Info:
        if op is sre.LITERAL:
            char = chr(av)
            return _Info([(regex.escape(char), "0" <= char <= "9", char)], [], [], [])
        if op in (sre.NOT_LITERAL, sre.ANY):
            return _Info([None], [], [], [])
        if op is sre.IN:
            cls = _class_text(av)
            digits = bool(av) and all(_is_digit_item(o, a) for o, a in av)
            return _Info([(cls, digits, "") if cls else None], [], [], [])
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            return _Info([], [], [], [])  # zero-width: neighbours stay neighbours
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            return self.repeat(av)
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                return _Info(None, [], [], [])
            return self.sequence(list(sub))
        if op is sre.ATOMIC_GROUP:
            return self.sequence(list(av))
        if op is sre.BRANCH:
            _, alternatives = av
            per_branch = [self.sequence(list(alt)).conds for alt in alternatives]
            return _Info(None, [], [], _one_of(per_branch))
        return _Info(None, [], [], [])  # group references, conditionals, ...

    def repeat(self, av: Any) -> _Info:
        """A repeated item: its copies' positions, and where one copy meets the next."""
        low, high, sub = av
        if low < 1:
            return _Info(None, [], [], [])
        inner = self.sequence(list(sub))
        if inner.fixed is not None:
            if low == high and low * len(inner.fixed) <= _CAP:
                return _Info(inner.fixed * low, [], [], inner.conds)
            copies = inner.fixed * min(low, _CAP)
            return _Info(None, copies[:_CAP], copies[-_CAP:], inner.conds)
        conds = list(inner.conds)
        if low >= 2:
            # One repetition ends and the next begins: its last positions, then its first.
            self.emit(inner.suffix + inner.prefix, conds)
        return _Info(None, inner.prefix, inner.suffix, conds)

    def emit(self, run: list[_Pos], conds: list[Condition]) -> None:
        """Conditions from consecutive known positions: digit runs and class n-grams."""
        segment: list[tuple[str, bool, str]] = []
        for pos in [*run, None]:
            if pos is not None:
                segment.append(pos)
                continue
            if len(segment) >= 2:
                longest = count = 0
                for _cls, digits, _char in segment:
                    count = count + 1 if digits else 0
                    longest = max(longest, count)
                if longest >= 2:
                    conds.append(frozenset({("digits", str(longest), 0)}))
                if all(char for _cls, _digits, char in segment):
                    literal = "".join(char for _cls, _digits, char in segment)
                    conds.append(frozenset({("lit", literal, self.flags)}))
                elif any(not char and not digits for _cls, digits, char in segment):
                    window = _class_window(segment)
                    text = "".join(c for c, _d, _ch in window)
                    _RX_POSITIONS[text] = len(window)
                    conds.append(frozenset({("rx", text, self.flags)}))
            segment = []


def _class_window(segment: list[tuple[str, bool, str]]) -> list[tuple[str, bool, str]]:
    """At most 8 consecutive positions around the first non-digit class (cheap to search)."""
    first = next(i for i, (_c, digits, char) in enumerate(segment) if not char and not digits)
    start = max(0, min(first - 3, len(segment) - 8))
    return segment[start : start + 8]


_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
}


def _class_text(items: Iterable[tuple[Any, Any]]) -> str | None:
    """The class ``[...]`` in regex syntax, rebuilt from the parse (None if not modelled)."""
    parts: list[str] = []
    for op, av in items:
        if op is sre.NEGATE and not parts:
            parts.append("^")
        elif op is sre.LITERAL:
            parts.append(regex.escape(chr(av)))
        elif op is sre.RANGE:
            low, high = av
            parts.append(f"{regex.escape(chr(low))}-{regex.escape(chr(high))}")
        elif op is sre.CATEGORY and str(av) in _CATEGORIES:
            parts.append(_CATEGORIES[str(av)])
        else:
            return None
    if not parts or parts == ["^"]:
        return None
    return "[" + "".join(parts) + "]"


def _one_of(per_branch: list[list[Condition]]) -> list[Condition]:
    """An alternation needs one branch: the union of each branch's strongest condition."""
    if per_branch and all(per_branch):
        best = [max(conds, key=_strength) for conds in per_branch]
        return [frozenset().union(*best)]
    return []


def _sequence(items: Sequence[tuple[Any, Any]], flags: int) -> list[Condition]:
    conditions: list[Condition] = []
    run: list[str] = []
    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            conditions.append(frozenset({("lit", "".join(run), flags)}))
            run.clear()
        conditions.extend(_item_conditions(op, av, flags))
    if run:
        conditions.append(frozenset({("lit", "".join(run), flags)}))
    return conditions


def _item_conditions(op: Any, av: Any, flags: int) -> list[Condition]:
    """What one item other than a literal requires of every match."""
    if op is sre.IN:
        cond = _char_class(av, flags)
        return [cond] if cond else []
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _sequence(list(sub), flags) if low >= 1 else []
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            return []  # scoped flags: the literals inside match differently
        return _sequence(list(sub), flags)
    if op is sre.ATOMIC_GROUP:
        return _sequence(list(av), flags)
    if op is sre.BRANCH:
        _, alternatives = av
        return _one_of([_sequence(list(alt), flags) for alt in alternatives])
    if op is sre.ASSERT:
        # A positive look-ahead/behind must match somewhere in the text too.
        _direction, sub = av
        return _sequence(list(sub), flags)
    # Anything else (anchors, negative assertions, ANY, NOT_LITERAL, group
    # references, conditionals) adds no condition: always safe.
    return []


def _char_class(items: Iterable[tuple[Any, Any]], flags: int) -> Condition | None:
    """A class of digits needs a digit; a class of literals needs one of them."""
    items = list(items)
    if not items:
        return None
    if all(_is_digit_item(op, av) for op, av in items):
        return frozenset({("digit", "", 0)})
    if all(op is sre.LITERAL for op, _ in items):
        return frozenset(("lit", chr(av), flags) for _, av in items)
    return None


def _is_digit_item(op: Any, av: Any) -> bool:
    if op is sre.CATEGORY:
        return bool(av is sre.CATEGORY_DIGIT)
    if op is sre.RANGE:
        low, high = av
        return bool(ord("0") <= low <= high <= ord("9"))
    if op is sre.LITERAL:
        return bool(ord("0") <= av <= ord("9"))
    return False
