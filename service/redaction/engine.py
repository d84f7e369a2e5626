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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.redaction.policy import NER_ENTITIES, RedactionPolicy

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer
    from spacy.language import Language

    from service.redaction.prefilter import RecognizerGate

logger = logging.getLogger(__name__)

#: (entity, start, end, score): what a finding is once it leaves the engine.
Finding = tuple[str, int, int, float]


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
        from presidio_analyzer import PatternRecognizer
        from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

        from service.redaction.prefilter import PHONE_GATE, RecognizerGate, pattern_gate

        self.analyzer = analyzer
        self.policy = policy
        self._plans: dict[str, _Plan] = {}
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
                plan = _Plan(rec, RecognizerGate(gates), needs_nlp=False)
            elif isinstance(rec, PhoneRecognizer):
                plan = _Plan(rec, PHONE_GATE, needs_nlp=False)
            else:
                plan = _Plan(rec, RecognizerGate(()), needs_nlp=True)
            self._plans[rec.id] = plan

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

    def find(self, text: str, entities: tuple[str, ...]) -> list[Finding]:
        """Same findings as :meth:`presidio_analyze`, skipping work that cannot find anything.

        Mirrors ``AnalyzerEngine.analyze`` of presidio-analyzer 2.2.366 step by step
        (the differential tests pin it); only recognizer selection and the lazy
        NLP pass differ.
        """
        from presidio_analyzer import EntityRecognizer

        from service.redaction.prefilter import AtomChecker

        # Any: the steps below call AnalyzerEngine's private helpers, exactly as analyze() does.
        engine: Any = self.analyzer
        language = self.policy.language
        recognizers = engine.registry.get_recognizers(
            language=language, entities=list(entities), all_fields=False
        )
        checker = AtomChecker(text)
        needs_nlp = False
        selected = []
        for rec in recognizers:
            plan = self._plans.get(rec.id)
            if plan is None or plan.needs_nlp:
                needs_nlp = True
                selected.append(rec)
            elif plan.gate.always or checker.opens(plan.gate):
                selected.append(rec)
        nlp_artifacts = engine.nlp_engine.process_text(text, language) if needs_nlp else None
        results: list[Any] = []
        for rec in selected:
            if not rec.is_loaded:
                rec.load()
                rec.is_loaded = True
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
        if nlp_artifacts is None:
            nlp_artifacts = engine.nlp_engine.process_text(text, language)
        results = engine._enhance_using_context(text, results, nlp_artifacts, recognizers, None)
        results = engine._AnalyzerEngine__remove_low_scores(
            results, self.policy.score_threshold, recognizers
        )
        results = EntityRecognizer.remove_duplicates(results)
        if self.policy.allow_list:
            results = engine._remove_allow_list(
                results, list(self.policy.allow_list), text, None, self.policy.allow_list_match
            )
        return sorted((r.entity_type, r.start, r.end, r.score) for r in results)


def build_engine(policy: RedactionPolicy, spacy_model: str | None = None) -> GuardianAnalyzer:
    """Build the analyzer for ``policy`` offline (0.1–1 s: once per process and policy).

    Raises
    ------
    EngineUnavailable
        When the policy asks for NER entities without an installed spaCy pipeline.
    """
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    quiet_presidio()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    from service.redaction.recognizers import build_recognizers

    wanted_ner = sorted(policy.all_entities & set(NER_ENTITIES))
    if wanted_ner and spacy_model is None:
        raise EngineUnavailable(
            f"the redaction policy asks for NER entities {wanted_ner}; set "
            "redaction.spacy_model to an installed spaCy pipeline (see docs/redaction.md)"
        )
    nlp_engine = _nlp_engine(load_spacy(spacy_model))
    registry = RecognizerRegistry(supported_languages=[policy.language])
    for rec in build_recognizers(policy):
        registry.add_recognizer(rec)
    if spacy_model is not None:
        registry.add_recognizer(
            SpacyRecognizer(
                supported_language=policy.language, supported_entities=list(NER_ENTITIES)
            )
        )
    analyzer = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=[policy.language]
    )
    quiet_presidio()
    return GuardianAnalyzer(analyzer, policy)
