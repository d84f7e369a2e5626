"""``AnalyzerEngine.analyze``, step by step, skipping work that cannot find anything.

:class:`FastFind` mirrors ``AnalyzerEngine.analyze`` of the verified
presidio-analyzer (:data:`~service.redaction.presidio_compat.VERIFIED_PRESIDIO`)
and calls its private helpers in the same order; it differs only in

* not running a recognizer whose prefilter proves it cannot match
  (:mod:`service.redaction.prefilter`), nor a pattern of it whose own prefilter
  is closed (:mod:`.pattern_loop`);
* scanning phone candidates once for every region (:mod:`service.redaction.phone`);
* not running the spaCy pipeline when no recognizer needs it, and replaying
  context enhancement from the tokenizer's arrays when possible
  (:mod:`.context_replay`).

The differential tests compare it with plain ``analyze``, finding for finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import regex
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, PatternRecognizer
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

from service.redaction.pattern_conditions import pattern_gate
from service.redaction.policy import RedactionPolicy
from service.redaction.prefilter import PHONE_GATE, AtomChecker, RecognizerGate, phone_may_match
from service.redaction.presidio_compat.context_replay import ContextReplay
from service.redaction.presidio_compat.pattern_loop import PRESIDIO_LOOP, analyze_patterns
from service.redaction.presidio_compat.phone_results import phone_analyze

#: (entity, start, end, score), as :data:`service.redaction.engine.Finding`.
_Finding = tuple[str, int, int, float]


@dataclass(frozen=True)
class RecognizerPlan:
    """How :class:`FastFind` runs one recognizer."""

    recognizer: EntityRecognizer
    gate: RecognizerGate
    needs_nlp: bool
    phone: bool = False
    #: Presidio's own pattern loop, unchanged by the recognizer: run it per pattern,
    #: skipping the patterns whose gate is closed (:func:`.pattern_loop.analyze_patterns`).
    lean: bool = False
    #: Set when no pattern scores the threshold and no checksum raises a score: a
    #: finding survives only with a context word, so the recognizer runs only on texts
    #: that hold one (lowercase) of these, as a substring. See :meth:`FastFind.find`.
    context_words: tuple[str, ...] | None = None


def _needs_context(rec: EntityRecognizer, threshold: float) -> tuple[str, ...] | None:
    """The context words without which ``rec`` cannot reach ``threshold`` (else ``None``)."""
    if (
        not isinstance(rec, PatternRecognizer)
        or type(rec).validate_result is not PatternRecognizer.validate_result
        or any(p.score >= threshold for p in rec.patterns)  # type: ignore[has-type]
    ):
        return None
    return tuple(sorted({word.lower() for word in rec.context or ()}))


def _plan(rec: EntityRecognizer, threshold: float) -> RecognizerPlan:
    # IbanRecognizer overrides analyze() but still reports only regex matches; so may a
    # recognizer that says so (GATED_ANALYZE: its analyze() returns a subset of the
    # matches of its patterns, e.g. after a cheaper search of its own).
    if isinstance(rec, PatternRecognizer) and (
        type(rec).analyze is PatternRecognizer.analyze
        or isinstance(rec, IbanRecognizer)
        or getattr(rec, "GATED_ANALYZE", False)
    ):
        gates = tuple(
            pattern_gate(p.regex, rec.global_regex_flags or 0)
            for p in rec.patterns  # type: ignore[has-type]
        )
        own_loop = getattr(type(rec), PRESIDIO_LOOP)
        lean = type(rec).analyze is PatternRecognizer.analyze and own_loop is getattr(
            PatternRecognizer, PRESIDIO_LOOP
        )
        return RecognizerPlan(
            rec,
            RecognizerGate(gates),
            needs_nlp=False,
            lean=lean,
            context_words=_needs_context(rec, threshold),
        )
    if type(rec) is PhoneRecognizer:
        return RecognizerPlan(rec, PHONE_GATE, needs_nlp=False, phone=True)
    return RecognizerPlan(rec, RecognizerGate(()), needs_nlp=True)


def _context_replay(analyzer: AnalyzerEngine, language: str) -> ContextReplay | None:
    """The replay, in the configuration we build and know; else ``None`` (Presidio enhances).

    That is the blank pipeline whose lemmas are lowercase forms, Presidio's lemma
    enhancer, and recognizers that keep the default (no-op) recognizer-level enhancement.
    """
    nlp = getattr(analyzer.nlp_engine, "nlp", None) or {}
    pipeline = nlp.get(language)
    enhancer = analyzer.context_aware_enhancer
    if (
        pipeline is not None
        and list(pipeline.pipe_names) == ["guardian_lowercase_lemma"]
        and type(enhancer) is LemmaContextAwareEnhancer
        and all(
            type(r).enhance_using_context is EntityRecognizer.enhance_using_context
            for r in analyzer.registry.recognizers
        )
    ):
        return ContextReplay(pipeline, enhancer)
    return None


class FastFind:
    """The prefiltered ``analyze`` of one engine and policy.

    Parameters
    ----------
    analyzer
        The plain Presidio engine (registry, NLP engine and enhancer).
    policy
        Language, threshold and allow-list: the arguments of ``analyze``.
    allow_list_flags
        The regex flags ``analyze`` compiles a regex allow-list with.
    """

    def __init__(
        self, analyzer: AnalyzerEngine, policy: RedactionPolicy, allow_list_flags: int
    ) -> None:
        self.analyzer = analyzer
        self.policy = policy
        self.allow_list_flags = allow_list_flags
        self.context = _context_replay(analyzer, policy.language)
        # Skipping a recognizer for want of a context word is exact only where the
        # replay's lemmas are the lowercase tokens (a context word is then a substring
        # of the lowercased text); with another enhancer every plan runs.
        threshold = policy.score_threshold if self.context is not None else -1.0
        self.plans: dict[str, RecognizerPlan] = {
            rec.id: _plan(rec, threshold) for rec in analyzer.registry.recognizers
        }

    def prepare(self) -> None:
        """Compile every regex now that Presidio and the prefilters compile on first use.

        ``regex`` parses patterns in Python (~1-3 ms each); a fresh worker process would
        otherwise pay for every pattern its warm-up text does not reach inside the first
        texts it analyses. Same pattern, same flags as Presidio's loop, so the compiled
        object is the one it would make (it recompiles if called with other flags).
        """
        for plan in self.plans.values():
            plan.gate.prepare()
            rec: Any = plan.recognizer
            if not isinstance(rec, PatternRecognizer):
                continue
            flags = rec.global_regex_flags
            for pattern in rec.patterns:  # type: ignore[has-type]
                if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
                    pattern.compiled_with_flags = flags
                    pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)

    def find(self, text: str, entities: tuple[str, ...], recognizers: list[Any]) -> list[_Finding]:
        """Plain ``analyze``'s findings for ``entities`` (``recognizers``: the registry's pick).

        One deliberate difference: where libphonenumber's budget of failed
        candidates runs out (~100 kB of digit groups), the phone scan goes on with a
        fresh one instead of leaving the rest of the text unscanned.
        """
        checker = AtomChecker(text)
        searched: dict[int, tuple[int, str] | None] = {}  # the phone candidate scan, shared
        selected, needs_nlp = self._select(text, recognizers, checker, searched)
        # Any: the steps below call AnalyzerEngine's private helpers, exactly as analyze() does.
        engine: Any = self.analyzer
        language = self.policy.language
        nlp_artifacts = engine.nlp_engine.process_text(text, language) if needs_nlp else None
        results = self._run(text, entities, selected, nlp_artifacts, checker, searched)
        if not results:
            return []
        if (
            nlp_artifacts is None
            and self.context is not None
            and self.context.enhance(text, results, recognizers)
        ):
            pass  # scores updated in place, exactly as Presidio's enhancer would
        else:
            if nlp_artifacts is None:
                nlp_artifacts = engine.nlp_engine.process_text(text, language)
            results = engine._enhance_using_context(text, results, nlp_artifacts, recognizers, None)
        return self._finished(text, results, recognizers)

    def _select(
        self,
        text: str,
        recognizers: list[Any],
        checker: AtomChecker,
        searched: dict[int, tuple[int, str] | None],
    ) -> tuple[list[Any], bool]:
        """The recognizers whose prefilter opens, and whether one of them needs NLP."""
        needs_nlp = False
        selected = []
        lowered = None
        for rec in recognizers:
            plan = self.plans.get(rec.id)
            if plan is None or plan.needs_nlp:
                needs_nlp = True
                selected.append(rec)
                continue
            if plan.context_words is not None:
                lowered = text.lower() if lowered is None else lowered
                if not any(word in lowered for word in plan.context_words):
                    continue
            if plan.gate.always or checker.opens(plan.gate):
                if not plan.phone or phone_may_match(text, searched):
                    selected.append(rec)
        return selected, needs_nlp

    def _run(
        self,
        text: str,
        entities: tuple[str, ...],
        selected: list[Any],
        nlp_artifacts: Any,
        checker: AtomChecker,
        searched: dict[int, tuple[int, str] | None],
    ) -> list[Any]:
        engine: Any = self.analyzer
        results: list[Any] = []
        for rec in selected:
            if not rec.is_loaded:
                rec.load()
                rec.is_loaded = True
            plan = self.plans.get(rec.id)
            if plan is not None and plan.phone:
                found = phone_analyze(rec, text, searched, resume=True)
            elif plan is not None and plan.lean:
                found = analyze_patterns(rec, text, plan.gate, checker)
            else:
                found = rec.analyze(
                    text=text,
                    entities=list(entities),
                    nlp_artifacts=nlp_artifacts,  # None for an NLP-free recognizer
                )
            if found:
                engine._AnalyzerEngine__add_recognizer_id_if_not_exists(found, rec)
                results.extend(found)
        return results

    def _finished(self, text: str, results: list[Any], recognizers: list[Any]) -> list[_Finding]:
        """Threshold, de-duplication and allow-list, as the end of ``analyze``."""
        engine: Any = self.analyzer
        policy = self.policy
        results = engine._AnalyzerEngine__remove_low_scores(
            results, policy.score_threshold, recognizers
        )
        results = EntityRecognizer.remove_duplicates(results)
        if policy.allow_list:
            results = engine._remove_allow_list(
                results,
                list(policy.allow_list),
                text,
                self.allow_list_flags,
                policy.allow_list_match,
            )
        return sorted((r.entity_type, r.start, r.end, r.score) for r in results)
