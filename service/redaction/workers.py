"""Code that runs inside analysis worker processes (or the in-process thread).

Each process builds its engine once (in the pool initializer) and keeps it per
policy *content* (``RedactionPolicy.content_hash``, never the version a user
may keep while editing), so a live policy change only costs one rebuild per
process. The policy travels with every task as JSON: a worker never analyses
under a policy other than the one the batch was planned with.

A chunk's texts go through the pattern recognizers one by one
(:meth:`GuardianAnalyzer.detect`: Presidio's findings plus Unicode, encoded and
context-phone forms) and, for those whose entities include NER
entities (strings on the policy's ``ner_paths``), through the spaCy NER pipeline
in one ``nlp.pipe`` batch (:func:`analyze_items`).
"""

from __future__ import annotations

import os
import signal
import time
from collections import OrderedDict

from service.lifeline import bind_worker
from service.redaction.engine import Finding, GuardianAnalyzer, build_engine, quiet_presidio
from service.redaction.ner import split_entities
from service.redaction.policy import RedactionPolicy

_ENGINES: OrderedDict[tuple[str, bool], GuardianAnalyzer] = OrderedDict()
_KEEP = 2  # the current policy and the previous one, during a change
_WARMUP_TEXT = (
    "mail a.b@example.com, call (212) 555-0199 or +44 20 7946 0958, +49 30 901820, "
    "+33 1 42 68 53 00, +91 22 2778 2000, card 4111 1111 1111 1111, "
    "IBAN DE89370400440532013000, ip 10.1.2.3, password=hunter22, ssn 123-45-6789, "
    "key AKIAIOSFODNN7EXAMPLE, token ghp_0123456789abcdefghijABCDEFGHIJ012345, "
    # Other forms (textforms): full width, %-escapes, base64, an unassigned number.
    "ｍａｉｌ＠ｅｘａｍｐｌｅ．ｃｏｍ u=a%40example.com am9obkBleGFtcGxlLmNvbQ== "
    "reach me at 397-528-2064"
)
_WARMUP_NER = "Dr. Maria Gonzalez flew from Lyon to New York with Seán O'Brien."


def engine_for(
    policy_json: str, engine_key: str, spacy_model: str | None, fast_path: bool
) -> GuardianAnalyzer:
    """The engine of this process for the policy whose content hash is ``engine_key``.

    ``fast_path`` is decided once, in the parent (:func:`.presidio_compat.use_fast_path`).
    """
    cache_key = (engine_key, fast_path)
    engine = _ENGINES.get(cache_key)
    if engine is None:
        policy = RedactionPolicy.model_validate_json(policy_json)
        engine = build_engine(policy, spacy_model, fast_path)
        # libphonenumber loads each region's metadata on first sight of it (the first
        # events would pay for it, per process): load all of it now, ~0.1 s.
        from phonenumbers import PhoneMetadata

        PhoneMetadata.load_all()
        if engine.fast is not None:
            engine.fast.prepare()  # every regex compiled now, not in the first texts
        # Presidio compiles patterns and loads the suffix list on first use: pay that now.
        # (A policy looking for nothing, accepted with an override, has nothing to warm.)
        entities = tuple(sorted(policy.all_entities | set(policy.ner_entities)))
        if entities:
            analyze_items(engine, [(_WARMUP_TEXT, entities), (_WARMUP_NER, entities)])
        _ENGINES[cache_key] = engine
        while len(_ENGINES) > _KEEP:
            _ENGINES.popitem(last=False)
    else:
        _ENGINES.move_to_end(cache_key)
    return engine


def init_worker(
    policy_json: str, engine_key: str, spacy_model: str | None, fast_path: bool
) -> None:
    """Pool initializer: build the engine once per process.

    First, bind this process's life to Guardian's (:mod:`service.lifeline`); Ctrl-C is
    ignored (the parent decides) and Presidio kept quiet.
    """
    bind_worker()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_presidio()
    engine_for(policy_json, engine_key, spacy_model, fast_path)


def analyze_chunk(
    policy_json: str,
    engine_key: str,
    spacy_model: str | None,
    fast_path: bool,
    items: list[tuple[str, tuple[str, ...]]],
) -> list[list[Finding]]:
    """Findings for each ``(text, entities)`` item, in order."""
    engine = engine_for(policy_json, engine_key, spacy_model, fast_path)
    return analyze_items(engine, items)


def analyze_items(
    engine: GuardianAnalyzer, items: list[tuple[str, tuple[str, ...]]]
) -> list[list[Finding]]:
    """Pattern findings per text, plus NER findings for the texts that ask for NER entities.

    NER entities are never passed to ``find`` (its pipeline is the blank one); the
    texts that want them share one ``nlp.pipe`` call. Without a NER pipeline they are
    ignored here: the redactor only asks for them when one is configured.
    """
    with engine.memory_zone():  # spaCy's vocabularies do not grow with the texts seen
        return _analyze_items(engine, items)


def _analyze_items(
    engine: GuardianAnalyzer, items: list[tuple[str, tuple[str, ...]]]
) -> list[list[Finding]]:
    results: list[list[Finding]] = []
    ner_texts: list[str] = []
    ner_wanted: list[tuple[str, ...]] = []
    ner_index: list[int] = []
    for i, (text, entities) in enumerate(items):
        patterns, ner = split_entities(entities)
        results.append(engine.detect(text, patterns) if patterns else [])
        if ner and engine.ner is not None and text.strip():
            ner_texts.append(text)
            ner_wanted.append(ner)
            ner_index.append(i)
    if ner_texts:
        assert engine.ner is not None
        for i, found in zip(ner_index, engine.ner.find_batch(ner_texts, ner_wanted), strict=True):
            if found:
                results[i] = sorted(results[i] + found)
    return results


def warm(policy_json: str, engine_key: str, spacy_model: str | None, fast_path: bool) -> int:
    """Build the engine now and report which process ran (start waits for every worker)."""
    engine_for(policy_json, engine_key, spacy_model, fast_path)
    time.sleep(0.02)  # let a sibling still in its initializer take the next warm task
    return os.getpid()
