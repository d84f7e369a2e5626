"""Phone-shaped numbers next to a phone context word, whatever libphonenumber thinks of them.

libphonenumber (so Presidio) reports only numbers valid in its metadata: "You
can reach me at 397-528-2064" passes because area code 397 is unassigned. A
person who writes "call me at" is giving a phone number all the same, so
:func:`phone_findings` reports a number of phone shape — 10 to 15 digits in
groups with the usual separators (space, ``-``, ``.``, ``/``, parentheses, a
leading ``+``) — when a context word (call, phone, cell, mobile, reach, tel,
text me, WhatsApp, fax, contact, number, ...) stands at most
:data:`WORDS_BEFORE` words before it or :data:`WORDS_AFTER` words after it.

Shapes that are something else are left out: IPv4 addresses, dates
(``2024-01-15``), times (a number followed by ``:30``), decimals and words or
addresses the digits are glued to. Cost is linear: a regex search for a shape,
and only when there is one, a pass for the context words, and only when there
is one of those, a pass for the shapes, a bisection each and a bounded look at
the gap.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import regex

#: The score of such a finding: what a context-boosted phone scores in Presidio.
SCORE = 0.75
#: Words allowed between a context word and the number after it ("reach me at").
WORDS_BEFORE = 4
#: Words allowed between the number and a context word after it ("... is my cell").
WORDS_AFTER = 3
#: Characters a gap may span at most (keeps each look bounded).
_GAP_CHARS = 60

_SHAPE = regex.compile(
    r"(?<![\w@+\-/.,])"  # not glued to a word, address, signed or decimal number
    r"\+?[(\d][\d ()./\-]{8,28}[\d)]"
    r"(?![\w@]|[.,:/\-]\d)"  # nor followed by more of one (a decimal, a time)
)
_CONTEXT = regex.compile(
    r"\b(?:call(?:s|ed|ing)?|phone[sd]?|telephone|tel|ph|cell(?:phone|ular)?|mobile|mob"
    r"|reach(?:ed|able)?|text\s+me|txt|sms|whats\s?app|fax|contact(?:s|ed)?|numbers?|dial"
    r"|ring)\b",
    regex.IGNORECASE,
)
_WORD = regex.compile(r"\w+")
_GROUP = regex.compile(r"\S+")
_DIGIT = regex.compile(r"\d")
_IPV4 = regex.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DATE = regex.compile(
    r"(?<!\d)(?:\d{4}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.]\d{4})(?!\d)"
)
_BAD_SEPARATORS = regex.compile(r"[./\-]{2}|\s{3}|\(\(|\)\)|\(\s*\)")
_DECIMAL = regex.compile(r"\d+[.,]\d+")


def _phone_shaped(candidate: str) -> bool:
    digits = len(_DIGIT.findall(candidate))
    if not 10 <= digits <= 15:
        return False
    if _BAD_SEPARATORS.search(candidate) or candidate.count("/") > 1:
        return False
    if candidate.count("(") != candidate.count(")"):
        return False
    return not (
        _IPV4.fullmatch(candidate) or _DECIMAL.fullmatch(candidate) or _DATE.search(candidate)
    )


def _shape_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The phone-shaped spans of one candidate; a too-long run is split at its spaces."""
    if _phone_shaped(text[start:end]):
        return [(start, end)]
    # "2024-01-15 397 528 2064": the longest runs of whole space-separated groups.
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, start, end)]
    spans = []
    i = 0
    while i < len(groups):
        best = None
        for j in range(len(groups) - 1, i - 1, -1):
            piece = text[groups[i][0] : groups[j][1]]
            if piece[-1] in "0123456789)" and _phone_shaped(piece):
                best = j
                break
        if best is None:
            i += 1
        else:
            spans.append((groups[i][0], groups[best][1]))
            i = best + 1
    return spans


def _words_between(text: str, start: int, end: int, most: int) -> bool:
    """Whether at most ``most`` words stand in ``text[start:end]`` (a short gap)."""
    if end - start > _GAP_CHARS:
        return False
    return len(_WORD.findall(text, start, end)) <= most


class _Context:
    """Where the context words of one text are, to ask "is one close to this span?"."""

    def __init__(self, text: str) -> None:
        self.text = text
        found = [(m.start(), m.end()) for m in _CONTEXT.finditer(text)]
        self.starts = [s for s, _e in found]
        self.ends = [e for _s, e in found]

    def __bool__(self) -> bool:
        return bool(self.starts)

    def near(self, start: int, end: int) -> bool:
        before = bisect_right(self.ends, start) - 1  # the last context word ending before it
        if before >= 0 and _words_between(self.text, self.ends[before], start, WORDS_BEFORE):
            return True
        after = bisect_left(self.starts, end)  # the first one starting after it
        return after < len(self.starts) and _words_between(
            self.text, end, self.starts[after], WORDS_AFTER
        )


def phone_findings(text: str) -> list[tuple[int, int]]:
    """Spans of phone-shaped numbers with a phone context word close by."""
    if _SHAPE.search(text) is None:  # most texts: one cheap scan
        return []
    context = _Context(text)
    if not context:
        return []
    found = []
    for match in _SHAPE.finditer(text):
        start, end = match.span()
        if context.near(start, end):
            found += [span for span in _shape_spans(text, start, end) if context.near(*span)]
    return found
