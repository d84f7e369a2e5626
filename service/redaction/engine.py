"""The Presidio analyzer, built offline, and a prefiltered equivalent of ``analyze``.

``build_engine`` returns a :class:`GuardianAnalyzer`: a Presidio
``AnalyzerEngine`` (usable as plain Presidio, which the differential tests and
the benchmark do) plus :meth:`GuardianAnalyzer.find`, which gives the same
findings faster (prefilters, one phone scan for every region, no spaCy pipeline
when nothing needs it: :mod:`service.redaction.presidio_compat`).

Everything here is heavy and happens in explicit calls, never at import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.redaction.policy import NER_ENTITIES, RedactionPolicy

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine
    from spacy.language import Language

    from service.redaction.ner import NerTagger
    from service.redaction.presidio_compat.fast_find import FastFind

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


class GuardianAnalyzer:
    """Presidio ``AnalyzerEngine`` plus an exact, prefiltered ``find``.

    Parameters
    ----------
    analyzer
        The plain Presidio engine (same registry, NLP engine and enhancer).
    policy
        Gives language, threshold and allow-list, the arguments of ``analyze``.
    """

    def __init__(
        self, analyzer: AnalyzerEngine, policy: RedactionPolicy, fast_path: bool = True
    ) -> None:
        self.analyzer = analyzer
        self.policy = policy
        #: Names and places (batched by the workers); ``None`` without a spaCy model.
        self.ner: NerTagger | None = None
        self._selected: dict[tuple[str, ...], list[Any]] = {}
        #: The prefiltered ``analyze`` (Presidio's internals, verified version only), or
        #: ``None``: :meth:`find` calls Presidio's public ``analyze``.
        self.fast: FastFind | None = None
        if fast_path:
            from service.redaction.presidio_compat.fast_find import FastFind

            self.fast = FastFind(analyzer, policy, ALLOW_LIST_REGEX_FLAGS)

    def presidio_analyze(
        self, text: str, entities: tuple[str, ...], nlp_artifacts: Any = None
    ) -> list[Finding]:
        """Plain Presidio ``analyze`` with the policy's arguments (the reference)."""
        results = self.analyzer.analyze(
            text=text,
            language=self.policy.language,
            entities=list(entities),
            score_threshold=self.policy.score_threshold,
            allow_list=list(self.policy.allow_list) or None,
            allow_list_match=self.policy.allow_list_match,
            regex_flags=ALLOW_LIST_REGEX_FLAGS,
            nlp_artifacts=nlp_artifacts,
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

    def memory_zone(self) -> contextlib.ExitStack:
        """Strings spaCy interns while analysing are forgotten when this context exits.

        Every new token (an e-mail, a name, a number) adds a string and a lexeme to a
        spaCy pipeline's vocabulary, kept for the life of the process: a worker grew
        ~4 MiB per 2,500 distinct texts, without bound. Inside spaCy's
        ``Language.memory_zone`` (spaCy >= 3.8) they are transient; findings are plain
        tuples, so nothing of a ``Doc`` outlives the zone.
        """
        stack = contextlib.ExitStack()
        pipelines = [self.analyzer.nlp_engine.nlp[self.policy.language]]  # type: ignore[attr-defined]
        if self.ner is not None:
            pipelines.append(self.ner.nlp)
        for nlp in pipelines:
            zone = getattr(nlp, "memory_zone", None)
            if zone is not None:
                stack.enter_context(zone())
        return stack

    def find(self, text: str, entities: tuple[str, ...]) -> list[Finding]:
        """Presidio's findings: :meth:`presidio_analyze`'s, faster on the fast path.

        See :class:`~service.redaction.presidio_compat.fast_find.FastFind`; without
        it (another Presidio version, or ``redaction.fast_path: off``) this is
        Presidio's public ``analyze`` on the NLP artefacts of Presidio's own engine.
        """
        if self.fast is not None:
            return self.fast.find(text, entities, self._recognizers(entities))
        nlp_artifacts = self.analyzer.nlp_engine.process_text(text, self.policy.language)
        return self.presidio_analyze(text, entities, nlp_artifacts)

    def remove_allowed(self, results: list[Any], text: str) -> list[Any]:
        """The policy's allow-list applied to ``results`` as ``analyze`` applies it."""
        from service.redaction.allow_list import remove_allowed

        return remove_allowed(results, self.policy, text, ALLOW_LIST_REGEX_FLAGS)


def build_engine(
    policy: RedactionPolicy, spacy_model: str | None = None, fast_path: bool | None = None
) -> GuardianAnalyzer:
    """Build the analyzer for ``policy`` offline (0.1–1 s: once per process and policy).

    The Presidio engine always runs on the blank pipeline (lowercase lemmas for
    context words); ``spacy_model`` adds a :class:`~service.redaction.ner.NerTagger`
    as ``.ner``, which the workers run in batches over the NER paths. ``fast_path``:
    whether ``find`` takes the fast path (``None``: when the installed Presidio is the
    verified one, :func:`~service.redaction.presidio_compat.use_fast_path`).

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
    if fast_path is None:
        from service.redaction.presidio_compat import use_fast_path

        fast_path = use_fast_path("auto")
    engine = GuardianAnalyzer(analyzer, policy, fast_path)
    engine.ner = ner
    return engine
