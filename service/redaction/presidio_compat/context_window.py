"""Where Presidio's context words for one finding can be, without tokenizing the text.

Presidio's lemma enhancer (see :mod:`.context_replay`) collects, around the token
a finding starts in, the last ``prefix + 1`` keyword tokens at or before it and
the first ``suffix + 1`` at or after it, and raises the score when a context word
of the recognizer is a substring of one of them. Tokenizing the whole text to
find those tokens is most of the context step's cost, and most of the time no
context word is anywhere near the finding.

:class:`ContextWindow` bounds the characters those tokens can come from. spaCy's
tokenizer splits the text at white space first and tokenizes each run of
non-space characters on its own (``Tokenizer._tokenize_affixes``); its special
cases that contain white space are white space only here (checked, else the bound
is off), so a run's tokens do not depend on its neighbours. A run of ASCII
letters that the tokenizer, alone, keeps as one token whose lowercase form is a
keyword (not a stop word, not punctuation) is therefore one keyword token in any
text (a *sure keyword*). ``prefix + 1`` sure keywords that end before the finding
hide every token before them from the backward walk, and one sure keyword that
starts at or after the finding ends the forward walk. A context word outside
those bounds cannot be in the window: when none of the recognizer's context words
is a substring of the lowercased text between them, the finding keeps its score
and the text need not be tokenized for it. Anything else (a context word inside
the bounds, a bound not found nearby) goes to the full replay.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: A run of ASCII letters with white space (or the text's edge) on both sides.
_LETTER_RUN = re.compile(r"(?<!\S)[A-Za-z]+(?!\S)")
#: A whole run of non-space characters holding a ``:``.
_COLON_RUN = re.compile(r"(?<!\S)[^\s:]*:\S*")


class ContextWindow:
    """Bounds of a finding's context window from sure keywords (see the module doc)."""

    #: Results per text the bound is tried for; past it, one tokenization is cheaper
    #: (and the whole step stays linear in the text).
    MAX_RESULTS = 16
    #: How far (characters) the bounds are looked for before handing over to the replay.
    REACH = 2048
    _REACHES = (256, REACH)
    _MAX_CACHED = 200_000

    def __init__(
        self,
        tokenizer: Any,
        keywords_of: Callable[[int], tuple[str, ...]],
        prefix: int,
        suffix: int,
    ) -> None:
        self._tokenizer = tokenizer
        self._keywords_of = keywords_of
        self._before = prefix + 1
        self._after = suffix + 1
        self._sure: dict[str, bool] = {}
        from spacy.attrs import LOWER

        self._lower = LOWER
        self._context: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def applies(tokenizer: Any) -> bool:
        """Whether runs tokenize independently: every special case with a space is all space."""
        rules = getattr(tokenizer, "rules", None)
        if rules is None:
            return False
        return all(rule.isspace() or not any(ch.isspace() for ch in rule) for rule in rules)

    def sure_keyword(self, word: str) -> bool:
        """Whether the letter run ``word`` is one keyword token wherever it stands."""
        sure = self._sure.get(word)
        if sure is None:
            doc = self._tokenizer(word)
            sure = len(doc) == 1 and bool(self._keywords_of(doc[0].lower))
            if len(self._sure) >= self._MAX_CACHED:
                self._sure.clear()
            self._sure[word] = sure
        return sure

    def bounds(self, text: str, start: int) -> tuple[int, int] | None:
        """Characters ``[lo, hi)`` holding every token of the window at ``start``, or ``None``."""
        low = self._low(text, start)
        if low is None:
            return None
        reach = min(len(text), start + self.REACH)
        count = 0
        for m in _LETTER_RUN.finditer(text, start):
            if m.start() >= reach:
                return None
            if self.sure_keyword(m.group()):
                count += 1
                if count == self._after:
                    return low, m.end()
        return low, len(text)

    def _low(self, text: str, start: int) -> int | None:
        """Start of the ``prefix + 1``-th sure keyword ending at or before ``start``."""
        for reach in self._REACHES:
            lo = max(0, start - reach)
            starts = []
            # No endpos: the run's right edge must see the real next character.
            for m in _LETTER_RUN.finditer(text, lo):
                if m.end() > start:
                    break
                if self.sure_keyword(m.group()):
                    starts.append(m.start())
            if len(starts) >= self._before:
                return starts[-self._before]
            if lo == 0:
                return 0
        return None

    def words(self, rec: Any) -> tuple[str, ...]:
        words = self._context.get(rec.id)
        if words is None:
            words = self._context[rec.id] = tuple(w.lower() for w in rec.context)
        return words

    def narrowed(
        self, text: str, lowered: str, todo: list[tuple[Any, Any]]
    ) -> tuple[list[tuple[Any, Any]], tuple[int, int] | None]:
        """``todo`` without the results no context word can reach, and the span the rest need.

        The span ``(low, high)`` starts and ends at the edge of a run of non-space
        characters (a sure keyword's, or the text's); ``None``: tokenize the whole text.
        """
        if len(todo) > self.MAX_RESULTS:
            return todo, None
        kept = []
        low, high, whole = len(text), 0, False
        for result, rec in todo:
            span = self.bounds(text, result.start)
            if span is None:
                whole = True
            elif not any(lowered.find(w, span[0], span[1]) >= 0 for w in self.words(rec)):
                continue  # no context word where the window can be: the score stays
            else:
                low, high = min(low, span[0]), max(high, span[1])
            kept.append((result, rec))
        if whole or not kept or (high - low) * 4 > len(text) * 3:
            return kept, None
        return kept, (low, high)

    def colon_keywords(self, text: str, low: int, high: int) -> set[str]:
        """Keyword parts of tokens with a ``:`` outside ``[low, high)`` (runs tokenized alone)."""
        parts: set[str] = set()
        if ":" not in text:
            return parts
        for m in _COLON_RUN.finditer(text):
            if m.end() <= low or m.start() >= high:
                for key in self._tokenizer(m.group()).to_array([self._lower]).tolist():
                    parts.update(self._keywords_of(key))
        return parts
