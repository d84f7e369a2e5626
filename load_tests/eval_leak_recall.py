"""Recall on the leak corpus: Guardian vs plain Presidio with the same NER pipeline.

    python -m load_tests.eval_leak_recall [--seed N ...] [--quick]

For each case of :mod:`tests.leak_corpus` (tuning and held-out seeds), the
case's text is analysed by

* Guardian: the worker path (:func:`service.redaction.workers.analyze_items`)
  with the shipped policy's entities plus its ``ner_entities`` and the pinned
  spaCy pipeline, and
* plain Presidio: ``AnalyzerEngine`` with a ``SpacyNlpEngine`` over the same
  pipeline and Presidio's default recognizers (``load_predefined_recognizers``),
  all entities, the same score threshold (0.4).

A case counts as *redacted* when every occurrence of each of its needles in the
text is covered by findings of any entity, and as *typed* when covered by
findings of its expected entity (any secret entity for credential families;
plain Presidio has none of those). Recognisers only: where a value sits in the
event (which fields are scanned) is the e2e test's business.
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from typing import Any

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from service.redaction import RedactionPolicy
from service.redaction.engine import Finding, build_engine
from service.redaction.policy import SECRET_ENTITIES
from service.redaction.workers import analyze_items
from tests.leak_corpus import HELDOUT_SEED, TUNING_SEED, LeakCase, generate

_SECRETS = frozenset(SECRET_ENTITIES)


def _spans(case: LeakCase) -> list[tuple[int, int]]:
    out = []
    for needle in case.needles:
        start = case.text.find(needle)
        while start >= 0:
            out.append((start, start + len(needle)))
            start = case.text.find(needle, start + 1)
    return out


def covered(case: LeakCase, findings: list[Finding], entities: frozenset[str] | None) -> bool:
    """Whether every character of every needle occurrence is inside a finding."""
    spans = [(s, e) for ent, s, e, _ in findings if entities is None or ent in entities]
    for start, end in _spans(case):
        hit = [False] * (end - start)
        for s, e in spans:
            for i in range(max(s, start), min(e, end)):
                hit[i - start] = True
        if not all(hit):
            return False
    return bool(_spans(case))


def expected(case: LeakCase) -> frozenset[str]:
    return _SECRETS if case.entity in _SECRETS else frozenset({case.entity})


def plain_presidio(model: str, threshold: float) -> Any:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    nlp_engine.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp_engine)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine)

    def analyze(text: str) -> list[Finding]:
        results = analyzer.analyze(text=text, language="en", score_threshold=threshold)
        return [(r.entity_type, r.start, r.end, r.score) for r in results]

    return analyze


def evaluate(seed: int, guardian: Any, presidio: Any, entities: tuple[str, ...]) -> dict[str, Any]:
    cases = generate(seed)
    g_found = analyze_items(guardian, [(c.text, entities) for c in cases])
    rows: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for case, g in zip(cases, g_found, strict=True):
        p = presidio(case.text)
        keys = [f"family:{case.family}", f"entity:{case.entity}"]
        if case.family == "person":
            keys.append("person:capitalised" if case.capitalised else "person:lowercase")
            keys += [f"person-shape:{t}" for t in case.tags]
        for key in keys:
            rows[key]["g_any"].append(covered(case, g, None))
            rows[key]["p_any"].append(covered(case, p, None))
            rows[key]["g_typed"].append(covered(case, g, expected(case)))
            rows[key]["p_typed"].append(covered(case, p, expected(case)))
    return {"seed": seed, "n": len(cases), "rows": rows}


def _pct(values: list[bool]) -> str:
    return f"{100 * sum(values) / len(values):5.1f}%"


def print_table(result: dict[str, Any]) -> None:
    print(f"\nseed {result['seed']} ({result['n']} cases)")
    print("| group | n | Guardian redacted | Presidio redacted | Guardian typed | Presidio typed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key in sorted(result["rows"]):
        r = result["rows"][key]
        print(
            f"| {key} | {len(r['g_any'])} | {_pct(r['g_any'])} | {_pct(r['p_any'])} | "
            f"{_pct(r['g_typed'])} | {_pct(r['p_typed'])} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="*", default=[TUNING_SEED, HELDOUT_SEED])
    parser.add_argument("--quick", action="store_true", help="held-out seed only")
    args = parser.parse_args()
    if args.quick:
        args.seed = [HELDOUT_SEED]
    policy = RedactionPolicy.from_yaml("config/redaction.yaml")
    guardian = build_engine(policy, spacy_model="auto")
    assert guardian.ner is not None, "the pinned NER pipeline is not installed (make install)"
    model = guardian.ner.model.name
    entities = tuple(sorted({*policy.entities, *policy.ner_entities}))
    presidio = plain_presidio(model, policy.score_threshold)
    print(f"NER pipeline {guardian.ner.model.summary}")
    for seed in args.seed:
        print_table(evaluate(seed, guardian, presidio, entities))


if __name__ == "__main__":
    main()
