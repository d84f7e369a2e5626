"""Presidio's lemma context enhancement, replayed without its private machinery.

Presidio raises a finding's score when a context word of its recognizer is
near it (``LemmaContextAwareEnhancer``), from the spaCy pipeline's Python-side
token objects. :class:`ContextReplay` makes the same decision from the
tokenizer's arrays, in the one configuration Guardian builds and the
differential tests pin (blank pipeline, lowercase lemmas, Presidio's lemma
enhancer and recognizers with the default recognizer-level enhancement).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, Any

from service.redaction.presidio_compat.context_window import ContextWindow

if TYPE_CHECKING:
    from spacy.language import Language


class ContextReplay:
    """Presidio's lemma context enhancement, replayed from the tokenizer's arrays.

    ``LemmaContextAwareEnhancer`` raises a result's score when one of its
    recognizer's context words is a substring of one of the (at most
    ``prefix + 1``) keyword lemmas before it or ``suffix + 1`` from it on. With
    the blank pipeline a lemma is the token's lowercase form, so the same
    decision needs only the tokenizer's offsets and lowercase forms (read as
    arrays, not as Python ``Token`` objects), and nothing at all when no context
    word occurs in the lowercased text. :meth:`enhance` returns ``False`` to hand
    anything unusual back to Presidio (which then also raises where it would).
    """

    _MAX_CACHED = 200_000

    def __init__(self, pipeline: Language, enhancer: Any) -> None:
        from spacy.attrs import IDX, LENGTH, LOWER

        self._tokenizer = pipeline.tokenizer
        self._vocab = pipeline.vocab
        self._attrs = [IDX, LENGTH, LOWER]
        self._factor: float = enhancer.context_similarity_factor
        self._min_score: float = enhancer.min_score_with_context_similarity
        self._prefix: int = enhancer.context_prefix_count
        self._suffix: int = enhancer.context_suffix_count
        self._whole_word = enhancer.context_matching_mode == "whole_word"
        self._boost_keeps_max = self._factor >= 0 and self._min_score <= 1.0
        self._keywords: dict[int, tuple[str, ...]] = {}
        self._lemmas: dict[int, str] = {}
        self._window = (
            ContextWindow(self._tokenizer, self._keywords_of, self._prefix, self._suffix)
            if ContextWindow.applies(self._tokenizer)
            else None
        )

    def _lemma_of(self, key: int) -> str:
        """The lowercased lemma of a lowercase-form key (what Presidio compares)."""
        lemma = self._lemmas.get(key)
        if lemma is None:
            lemma = self._vocab.strings[key].lower()
            if len(self._lemmas) >= self._MAX_CACHED:
                self._lemmas.clear()
            self._lemmas[key] = lemma
        return lemma

    def _keywords_of(self, key: int) -> tuple[str, ...]:
        """``NlpArtifacts.set_keywords`` for one lemma (its filter only looks at the lemma)."""
        words = self._keywords.get(key)
        if words is None:
            lemma = self._vocab.strings[key]
            lexeme = self._vocab[lemma]
            keep = not lexeme.is_stop and not lexeme.is_punct and lemma not in ("-PRON-", "be")
            words = tuple(lemma.lower().split(":")) if keep else ()
            if len(self._keywords) >= self._MAX_CACHED:
                self._keywords.clear()
            self._keywords[key] = words
        return words

    def enhance(self, text: str, results: list[Any], recognizers: list[Any]) -> bool:
        """Apply the enhancement to ``results`` in place; ``False`` if Presidio must do it."""
        from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

        todo = _to_enhance(results, recognizers)
        if todo is None:
            return False
        region = None
        if todo and text.isascii():
            narrowed = self._with_context_words(text, todo)
            if narrowed is None:
                return False
            todo, region = narrowed
        if not todo:
            return True
        boosted = self._boosted(text, todo, region)
        if boosted is None:
            return False
        for result in boosted:
            result.score += self._factor
            result.score = max(result.score, self._min_score)
            result.score = min(result.score, ContextAwareEnhancer.MAX_SCORE)
        return True

    def _with_context_words(
        self, text: str, todo: list[tuple[Any, Any]]
    ) -> tuple[list[tuple[Any, Any]], tuple[int, int] | None] | None:
        """The results whose recognizer has a context word in ``text`` (ASCII), and can rise.

        Every keyword is a substring of the lowercased text: no context word in it,
        no boost. Presidio would still look the match's token up, which exists for
        any start before the trailing whitespace (``None`` otherwise: Presidio decides).
        Also the span of the text their windows can reach (:mod:`.context_window`),
        or ``None``: the whole text.
        """
        from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

        lowered = text.lower()
        tail = len(text.rstrip())
        if any(r.start >= tail for r, _ in todo):
            return None
        # A result already at the maximum score keeps it when boosted (min(1 + f, 1)).
        top = ContextAwareEnhancer.MAX_SCORE if self._boost_keeps_max else None
        # Once per recognizer, not per result: a substring test scans the whole text.
        present: dict[str, bool] = {}
        for _r, rec in todo:
            if rec.id not in present:
                present[rec.id] = any(w.lower() in lowered for w in rec.context)
        todo = [(r, rec) for r, rec in todo if r.score != top and present[rec.id]]
        if todo and self._window is not None:
            return self._window.narrowed(text, lowered, todo)
        return todo, None

    def _boosted(
        self, text: str, todo: list[tuple[Any, Any]], region: tuple[int, int] | None = None
    ) -> list[Any] | None:
        """The results Presidio's enhancer would raise (``None``: hand back to Presidio).

        With ``region``, only ``text[low:high]`` is tokenized: it holds every token of
        the results' windows, and its runs of non-space characters tokenize as they do
        in the whole text (:mod:`.context_window`). A token of the region counts where
        its lemma is a keyword of the *whole* text: its own, or a ``:``-separated part
        of a keyword elsewhere (``colon_keywords``: only those differ from the lemma).
        """
        import numpy as np

        low = 0 if region is None else region[0]
        doc = self._tokenizer(text if region is None else text[low : region[1]])
        if len(doc) == 0:
            return None
        table = doc.to_array(self._attrs)
        ends = table[:, 0] + table[:, 1] + low
        lowers = table[:, 2].tolist()
        keys = set(lowers)
        keywords: set[str] = set()
        for key in keys:
            keywords.update(self._keywords_of(key))
        if region is not None:
            assert self._window is not None
            keywords.update(self._window.colon_keywords(text, *region))
        positions: list[int] | None = None
        boosted = []
        for result, rec in todo:
            index = int(np.searchsorted(ends, result.start, side="right"))
            if index >= len(lowers):
                return None  # Presidio raises here; let it (nothing changed yet)
            window = self._walk(lowers, index, keywords)
            if window is None:
                # Presidio walks from the match's token backwards and forwards collecting
                # tokens whose lemma is a keyword: the last ``prefix + 1`` keyword
                # positions at or before it and the first ``suffix + 1`` at or after it.
                # Past a long run of stop words and punctuation, bisect one list of
                # keyword positions (built once) instead: linear in findings, not one
                # walk over the text per finding.
                if positions is None:
                    positions = self._keyword_positions(lowers, keys, keywords)
                window = self._bisected(lowers, positions, index)
            if self._supported(window, rec.context):
                boosted.append(result)
        return boosted

    def _keyword_positions(
        self, lowers: list[int], keys: set[int], keywords: set[str]
    ) -> list[int]:
        hits = {key for key in keys if self._lemma_of(key) in keywords}
        return [i for i, key in enumerate(lowers) if key in hits]

    def _bisected(self, lowers: list[int], positions: list[int], index: int) -> list[str]:
        before = bisect_right(positions, index)
        after = bisect_left(positions, index)
        chosen = (
            positions[max(0, before - self._prefix - 1) : before]
            + positions[after : after + self._suffix + 1]
        )
        return [self._lemma_of(lowers[i]) for i in chosen]

    #: Tokens Presidio's walk may take in each direction before bisection is cheaper.
    _WALK = 32

    def _walk(self, lowers: list[int], index: int, keywords: set[str]) -> list[str] | None:
        """Presidio's walk around token ``index``; ``None`` if it would go past ``_WALK``."""
        window: list[str] = []
        for step, count in ((-1, self._prefix + 1), (1, self._suffix + 1)):
            i = index
            steps = 0
            while 0 <= i < len(lowers) and count > 0:
                if steps == self._WALK:
                    return None
                lemma = self._lemma_of(lowers[i])
                if lemma in keywords:
                    window.append(lemma)
                    count -= 1
                i += step
                steps += 1
        return window

    def _supported(self, window: list[str], context: list[str]) -> bool:
        for word in context:
            needle = word.lower()
            if self._whole_word:
                if any(needle == kw.lower() for kw in window):
                    return True
            elif any(needle in kw.lower() for kw in window):
                return True
        return False


def _to_enhance(results: list[Any], recognizers: list[Any]) -> list[tuple[Any, Any]] | None:
    """(result, recognizer) pairs the enhancer would look at; ``None`` if one is unusual."""
    from presidio_analyzer import RecognizerResult

    by_id = {rec.id: rec for rec in recognizers}
    todo = []
    for result in results:
        meta = result.recognition_metadata
        if not meta or RecognizerResult.RECOGNIZER_IDENTIFIER_KEY not in meta:
            return None
        rec = by_id.get(meta[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY])
        if rec is None or not rec.context:
            continue
        if meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
            continue
        todo.append((result, rec))
    return todo
