"""The Presidio analyzer, built offline, and a prefiltered equivalent of ``analyze``.

``build_engine`` returns a :class:`GuardianAnalyzer`: a Presidio
``AnalyzerEngine`` (usable as plain Presidio, which the differential tests and
the benchmark do) plus :meth:`GuardianAnalyzer.find`, which gives the same
findings faster by

* not running a recognizer whose prefilter proves it cannot match
  (:mod:`service.redaction.prefilter`), and
* not running the spaCy pipeline when no recognizer found anything and no
  recognizer needs NLP (the pipeline only feeds context enhancement, which has
  nothing to enhance then).

Everything here is heavy and happens in explicit calls, never at import.
"""

from __future__ import annotations

import logging
import os
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.redaction.policy import NER_ENTITIES, RedactionPolicy

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer
    from spacy.language import Language

    from service.redaction.ner import NerTagger
    from service.redaction.prefilter import AtomChecker, RecognizerGate

logger = logging.getLogger(__name__)

#: (entity, start, end, score): what a finding is once it leaves the engine.
Finding = tuple[str, int, int, float]

#: Flags ``AnalyzerEngine.analyze`` compiles a regex allow-list with by default (presidio
#: 2.2.366: ``re.DOTALL | re.MULTILINE | re.IGNORECASE``; a test pins them to Presidio's).
#: ``find`` must pass them itself: ``_remove_allow_list`` has no default, and ``None`` raises.
ALLOW_LIST_REGEX_FLAGS = re.DOTALL | re.MULTILINE | re.IGNORECASE


class EngineUnavailable(RuntimeError):
    """The configured NLP pipeline cannot be loaded without a download."""


def quiet_presidio() -> None:
    """Keep Presidio's logger at WARNING: at DEBUG it logs the analysed text."""
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < logging.WARNING or log.level < logging.WARNING:
            log.setLevel(logging.WARNING)


def _lowercase_lemmas(doc: Any) -> Any:
    """Blank pipelines have no lemmatizer; lowercase forms let context words still match."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def load_spacy(model: str | None) -> Language:
    """A blank English pipeline with lowercase lemmas, or an installed model (never downloaded)."""
    import spacy
    from spacy.language import Language

    if not Language.has_factory("guardian_lowercase_lemma"):
        Language.component("guardian_lowercase_lemma")(_lowercase_lemmas)
    if model is None:
        nlp = spacy.blank("en")
    else:
        if not (spacy.util.is_package(model) or Path(model).exists()):
            raise EngineUnavailable(
                f"redaction.spacy_model {model!r} is neither an installed package nor a path; "
                "install the model wheel (see docs/redaction.md), nothing is downloaded at run time"
            )
        nlp = spacy.load(model)
    if "lemmatizer" not in nlp.pipe_names and "guardian_lowercase_lemma" not in nlp.pipe_names:
        nlp.add_pipe("guardian_lowercase_lemma", last=True)
    return nlp


def _nlp_engine(nlp: Language) -> Any:
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    class LoadedSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine around a pipeline we built, so it never downloads."""

        def __init__(self, pipeline: Language) -> None:
            super().__init__(
                models=[{"lang_code": "en", "model_name": pipeline.meta.get("name", "blank")}],
                ner_model_configuration=NerModelConfiguration(),
            )
            self.nlp = {"en": pipeline}  # type: ignore[assignment]

        def load(self) -> None:
            """Already loaded in ``__init__``."""

    return LoadedSpacyNlpEngine(nlp)


@dataclass(frozen=True)
class _Plan:
    recognizer: EntityRecognizer
    gate: RecognizerGate
    needs_nlp: bool
    phone: bool = False
    #: Presidio's own pattern loop, unchanged by the recognizer: run it per pattern,
    #: skipping the patterns whose gate is closed (:func:`_analyze_patterns`).
    lean: bool = False


class GuardianAnalyzer:
    """Presidio ``AnalyzerEngine`` plus an exact, prefiltered ``find``.

    Parameters
    ----------
    analyzer
        The plain Presidio engine (same registry, NLP engine and enhancer).
    policy
        Gives language, threshold and allow-list, the arguments of ``analyze``.
    """

    def __init__(self, analyzer: AnalyzerEngine, policy: RedactionPolicy) -> None:
        from presidio_analyzer import EntityRecognizer, PatternRecognizer
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
        from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

        from service.redaction.prefilter import PHONE_GATE, RecognizerGate, pattern_gate

        self.analyzer = analyzer
        self.policy = policy
        #: Names and places (batched by the workers); ``None`` without a spaCy model.
        self.ner: NerTagger | None = None
        self._plans: dict[str, _Plan] = {}
        self._selected: dict[tuple[str, ...], list[Any]] = {}
        for rec in analyzer.registry.recognizers:
            # IbanRecognizer overrides analyze() but still reports only regex matches.
            if isinstance(rec, PatternRecognizer) and (
                type(rec).analyze is PatternRecognizer.analyze or isinstance(rec, IbanRecognizer)
            ):
                pattern_rec = rec
                gates = tuple(
                    pattern_gate(p.regex, pattern_rec.global_regex_flags or 0)
                    for p in pattern_rec.patterns  # type: ignore[has-type]
                )
                own_loop = getattr(type(rec), _PRESIDIO_LOOP)
                lean = type(rec).analyze is PatternRecognizer.analyze and own_loop is getattr(
                    PatternRecognizer, _PRESIDIO_LOOP
                )
                plan = _Plan(rec, RecognizerGate(gates), needs_nlp=False, lean=lean)
            elif type(rec) is PhoneRecognizer:
                plan = _Plan(rec, PHONE_GATE, needs_nlp=False, phone=True)
            else:
                plan = _Plan(rec, RecognizerGate(()), needs_nlp=True)
            self._plans[rec.id] = plan
        # Context enhancement can be replayed without the spaCy pipeline's Python-side
        # artefacts only in the configuration we build and know: the blank pipeline
        # whose lemmas are lowercase forms, Presidio's lemma enhancer, and recognizers
        # that keep the default (no-op) recognizer-level enhancement.
        nlp = getattr(analyzer.nlp_engine, "nlp", None) or {}
        pipeline = nlp.get(policy.language)
        enhancer = analyzer.context_aware_enhancer
        self._context = (
            _ContextReplay(pipeline, enhancer)
            if pipeline is not None
            and list(pipeline.pipe_names) == ["guardian_lowercase_lemma"]
            and type(enhancer) is LemmaContextAwareEnhancer
            and all(
                type(r).enhance_using_context is EntityRecognizer.enhance_using_context
                for r in analyzer.registry.recognizers
            )
            else None
        )

    def presidio_analyze(self, text: str, entities: tuple[str, ...]) -> list[Finding]:
        """Plain Presidio ``analyze`` with the policy's arguments (the reference)."""
        results = self.analyzer.analyze(
            text=text,
            language=self.policy.language,
            entities=list(entities),
            score_threshold=self.policy.score_threshold,
            allow_list=list(self.policy.allow_list) or None,
            allow_list_match=self.policy.allow_list_match,
        )
        return sorted((r.entity_type, r.start, r.end, r.score) for r in results)

    def detect(self, text: str, entities: tuple[str, ...]) -> list[Finding]:
        """What Guardian redacts: :meth:`find`'s findings plus those hidden in other forms.

        Unicode look-alikes, invisible characters, ``%XX`` and base64 encodings and
        phone numbers libphonenumber calls invalid next to a context word
        (:mod:`service.redaction.textforms`); a superset of :meth:`find`.
        """
        from service.redaction.textforms import detect

        return detect(self, text, entities)

    def _recognizers(self, entities: tuple[str, ...]) -> list[Any]:
        """The registry's selection for ``entities`` (fixed once built, so computed once)."""
        selected = self._selected.get(entities)
        if selected is None:
            selected = self.analyzer.registry.get_recognizers(
                language=self.policy.language, entities=list(entities), all_fields=False
            )
            self._selected[entities] = selected
        return selected

    def find(self, text: str, entities: tuple[str, ...]) -> list[Finding]:
        """Same findings as :meth:`presidio_analyze`, skipping work that cannot find anything.

        Mirrors ``AnalyzerEngine.analyze`` of presidio-analyzer 2.2.366 step by step
        (the differential tests pin it); only recognizer selection, the phone
        candidate scan and the context step (lazy, replayed when possible) differ.
        One deliberate difference: where libphonenumber's budget of failed
        candidates runs out (~100 kB of digit groups), the phone scan goes on with a
        fresh one instead of leaving the rest of the text unscanned.
        """
        from presidio_analyzer import EntityRecognizer

        from service.redaction.phone import phone_analyze
        from service.redaction.prefilter import AtomChecker, phone_may_match

        # Any: the steps below call AnalyzerEngine's private helpers, exactly as analyze() does.
        engine: Any = self.analyzer
        language = self.policy.language
        recognizers = self._recognizers(entities)
        checker = AtomChecker(text)
        searched: dict[int, tuple[int, str] | None] = {}  # the phone candidate scan, shared
        needs_nlp = False
        selected = []
        for rec in recognizers:
            plan = self._plans.get(rec.id)
            if plan is None or plan.needs_nlp:
                needs_nlp = True
                selected.append(rec)
            elif plan.gate.always or checker.opens(plan.gate):
                if not plan.phone or phone_may_match(text, searched):
                    selected.append(rec)
        nlp_artifacts = engine.nlp_engine.process_text(text, language) if needs_nlp else None
        results: list[Any] = []
        for rec in selected:
            if not rec.is_loaded:
                rec.load()
                rec.is_loaded = True
            plan = self._plans.get(rec.id)
            if plan is not None and plan.phone:
                found = phone_analyze(rec, text, searched, resume=True)
            elif plan is not None and plan.lean:
                found = _analyze_patterns(rec, text, plan.gate, checker)
            else:
                found = rec.analyze(
                    text=text,
                    entities=list(entities),
                    nlp_artifacts=nlp_artifacts,  # None for an NLP-free recognizer
                )
            if found:
                engine._AnalyzerEngine__add_recognizer_id_if_not_exists(found, rec)
                results.extend(found)
        if not results:
            return []
        if (
            nlp_artifacts is None
            and self._context is not None
            and self._context.enhance(text, results, recognizers)
        ):
            pass  # scores updated in place, exactly as Presidio's enhancer would
        else:
            if nlp_artifacts is None:
                nlp_artifacts = engine.nlp_engine.process_text(text, language)
            results = engine._enhance_using_context(text, results, nlp_artifacts, recognizers, None)
        results = engine._AnalyzerEngine__remove_low_scores(
            results, self.policy.score_threshold, recognizers
        )
        results = EntityRecognizer.remove_duplicates(results)
        if self.policy.allow_list:
            results = engine._remove_allow_list(
                results,
                list(self.policy.allow_list),
                text,
                ALLOW_LIST_REGEX_FLAGS,
                self.policy.allow_list_match,
            )
        return sorted((r.entity_type, r.start, r.end, r.score) for r in results)


_PRESIDIO_LOOP = "_PatternRecognizer__analyze_patterns"


def _analyze_patterns(rec: Any, text: str, gate: RecognizerGate, checker: AtomChecker) -> list[Any]:
    """``PatternRecognizer.analyze(text)`` without running a regex whose gate is closed.

    The body of presidio-analyzer 2.2.366's ``PatternRecognizer.__analyze_patterns``
    (same compilation and flags, same timeout, same ``validate_result`` and
    ``invalidate_result`` hooks, same explanation, score rules and
    ``remove_duplicates``), except that a pattern whose necessary conditions do
    not all hold in ``text`` is not run: it has no match to report.
    """
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

    flags = rec.global_regex_flags
    results = []
    for pattern, pattern_gate in zip(rec.patterns, gate.patterns, strict=True):
        if pattern_gate.conditions and not checker.opens_pattern(pattern_gate):
            continue
        if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
            import regex

            pattern.compiled_with_flags = flags
            pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
        try:
            for match in pattern.compiled_regex.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                start, end = match.span()
                current_match = text[start:end]
                if current_match == "":
                    continue
                score = pattern.score
                validation_result = rec.validate_result(current_match)
                description = rec.build_regex_explanation(
                    rec.name, pattern.name, pattern.regex, score, validation_result, flags
                )
                pattern_result = RecognizerResult(
                    entity_type=rec.supported_entities[0],
                    start=start,
                    end=end,
                    score=score,
                    analysis_explanation=description,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: rec.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id,
                    },
                )
                if validation_result is not None:
                    pattern_result.score = (
                        EntityRecognizer.MAX_SCORE
                        if validation_result
                        else EntityRecognizer.MIN_SCORE
                    )
                invalidation_result = rec.invalidate_result(current_match)
                if invalidation_result is not None and invalidation_result:
                    pattern_result.score = EntityRecognizer.MIN_SCORE
                if pattern_result.score > EntityRecognizer.MIN_SCORE:
                    results.append(pattern_result)
                description.score = pattern_result.score
        except TimeoutError:
            logger.warning(
                "Regex pattern '%s' timed out after %s seconds, skipping.",
                pattern.name,
                REGEX_TIMEOUT_SECONDS,
                exc_info=True,
            )
    return EntityRecognizer.remove_duplicates(results)


class _ContextReplay:
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
        from presidio_analyzer import RecognizerResult
        from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

        by_id = {rec.id: rec for rec in recognizers}
        todo = []
        for result in results:
            meta = result.recognition_metadata
            if not meta or RecognizerResult.RECOGNIZER_IDENTIFIER_KEY not in meta:
                return False
            rec = by_id.get(meta[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY])
            if rec is None or not rec.context:
                continue
            if meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            todo.append((result, rec))
        if not todo:
            return True
        if text.isascii():
            # Every keyword is a substring of the lowercased text: no context word in
            # it, no boost. Presidio would still look the match's token up, which
            # exists for any start before the trailing whitespace.
            lowered = text.lower()
            tail = len(text.rstrip())
            if any(r.start >= tail for r, _ in todo):
                return False
            # A result already at the maximum score keeps it when boosted (min(1 + f, 1)).
            top = ContextAwareEnhancer.MAX_SCORE if self._boost_keeps_max else None
            # Once per recognizer, not per result: a substring test scans the whole text.
            present: dict[str, bool] = {}
            for _r, rec in todo:
                if rec.id not in present:
                    present[rec.id] = any(w.lower() in lowered for w in rec.context)
            todo = [(r, rec) for r, rec in todo if r.score != top and present[rec.id]]
            if not todo:
                return True
        import numpy as np

        doc = self._tokenizer(text)
        if len(doc) == 0:
            return False
        table = doc.to_array(self._attrs)
        ends = table[:, 0] + table[:, 1]
        lowers = table[:, 2].tolist()
        keys = set(lowers)
        keywords: set[str] = set()
        for key in keys:
            keywords.update(self._keywords_of(key))
        lemma = self._lemma_of
        positions: list[int] | None = None
        boosted = []
        for result, rec in todo:
            index = int(np.searchsorted(ends, result.start, side="right"))
            if index >= len(lowers):
                return False  # Presidio raises here; let it (nothing changed yet)
            window = self._walk(lowers, index, keywords)
            if window is None:
                # Presidio walks from the match's token backwards and forwards collecting
                # tokens whose lemma is a keyword: the last ``prefix + 1`` keyword
                # positions at or before it and the first ``suffix + 1`` at or after it.
                # Past a long run of stop words and punctuation, bisect one list of
                # keyword positions (built once) instead: linear in findings, not one
                # walk over the text per finding.
                if positions is None:
                    hits = {key for key in keys if lemma(key) in keywords}
                    positions = [i for i, key in enumerate(lowers) if key in hits]
                before = bisect_right(positions, index)
                after = bisect_left(positions, index)
                chosen = (
                    positions[max(0, before - self._prefix - 1) : before]
                    + positions[after : after + self._suffix + 1]
                )
                window = [lemma(lowers[i]) for i in chosen]
            if self._supported(window, rec.context):
                boosted.append(result)
        for result in boosted:
            result.score += self._factor
            result.score = max(result.score, self._min_score)
            result.score = min(result.score, ContextAwareEnhancer.MAX_SCORE)
        return True

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


def build_engine(policy: RedactionPolicy, spacy_model: str | None = None) -> GuardianAnalyzer:
    """Build the analyzer for ``policy`` offline (0.1–1 s: once per process and policy).

    The Presidio engine always runs on the blank pipeline (lowercase lemmas for
    context words); ``spacy_model`` adds a :class:`~service.redaction.ner.NerTagger`
    as ``.ner``, which the workers run in batches over the NER paths.

    Raises
    ------
    EngineUnavailable
        When the policy asks for NER entities without an installed spaCy pipeline,
        or the named pipeline fails its start-up checks.
    """
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    quiet_presidio()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    from service.redaction.recognizers import build_recognizers

    wanted_ner = sorted(policy.all_entities & set(NER_ENTITIES))
    ner = None
    if spacy_model is not None:
        from service.redaction.ner import NerTagger, resolve_model

        model = resolve_model(spacy_model, policy.language)
        ner = NerTagger(model, policy) if model is not None else None
    if wanted_ner and ner is None:
        raise EngineUnavailable(
            f"the redaction policy asks for NER entities {wanted_ner}; set "
            "redaction.spacy_model to an installed spaCy pipeline (see docs/redaction.md)"
        )
    nlp_engine = _nlp_engine(load_spacy(None))
    registry = RecognizerRegistry(supported_languages=[policy.language])
    for rec in build_recognizers(policy):
        registry.add_recognizer(rec)
    analyzer = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=[policy.language]
    )
    quiet_presidio()
    engine = GuardianAnalyzer(analyzer, policy)
    engine.ner = ner
    return engine
