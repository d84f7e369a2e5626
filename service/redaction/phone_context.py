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
addresses the digits are glued to. Cost is linear: one regex pass for the
shapes (most texts have none), then for each shape a look for a context word in
the ~76 characters before and after it.
"""

from __future__ import annotations

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


#: Longest context word (and a margin), so a window of the gap holds a whole one.
_LONGEST_WORD = 16


def _near_context(text: str, start: int, end: int) -> bool:
    """Whether a context word stands close before ``text[start:end]`` or close after it."""
    low = max(0, start - _GAP_CHARS - _LONGEST_WORD)
    before = list(_CONTEXT.finditer(text, low, start))
    last = before[-1] if before else None
    if (
        last is not None
        and (last.start() > low or low == 0)  # not a word cut by the window
        and _words_between(text, last.end(), start, WORDS_BEFORE)
    ):
        return True
    high = min(len(text), end + _GAP_CHARS + _LONGEST_WORD)
    after = _CONTEXT.search(text, end, high)
    return (
        after is not None
        and (after.end() < high or high == len(text))
        and _words_between(text, end, after.start(), WORDS_AFTER)
    )


def phone_findings(text: str) -> list[tuple[int, int]]:
    """Spans of phone-shaped numbers with a phone context word close by."""
    found = []
    for match in _SHAPE.finditer(text):
        start, end = match.span()
        if _near_context(text, start, end):
            found += [span for span in _shape_spans(text, start, end) if _near_context(text, *span)]
    return found
