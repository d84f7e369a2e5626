"""Credential recall, Guardian vs plain Presidio, and the cost of adversarial 100 kB strings.

    python -m load_tests.eval_secrets [--per-family 40] [--held-out] [--quick]

Recall: the seeded leak cases of :mod:`load_tests.secret_cases` (14 families:
shell, env, JSON, YAML, URL query, CLI flag, HTTP header, XML/SQL/.netrc, vendor keys,
PEM blocks, URL passwords, AWS key pairs, Azure, GCP service-account JSON). A
case counts as caught when none of its secret strings is left in the redacted
text. Guardian uses the shipped policy (``config/redaction.yaml``); plain
Presidio uses its default predefined recognizers (all entities, default
threshold) on the same blank spaCy pipeline. ``--held-out`` draws the cases
from :data:`~load_tests.secret_cases.HELD_OUT_SEED`, which the recognizers were
never tuned on: run it once, for the report.

Cost: every secret pattern alone, and the whole ``find``, on 100 kB strings
built to make a backtracking regex go quadratic (long keys, many separators,
unterminated quotes, repeated armour lines, ``sk-`` runs). Linear patterns stay
in milliseconds; a quadratic one would take seconds to minutes.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from load_tests import harness
from load_tests.secret_cases import (
    DEV_SEED,
    HELD_OUT_SEED,
    NOT_SECRETS,
    SecretCase,
    secret_cases,
)
from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.operators import merge_spans
from service.redaction.policy import SECRET_ENTITIES, RedactionPolicy

Spans = list[tuple[str, int, int, float]]

SIZE = 100_000

#: name -> 100 kB text built to hurt a backtracking engine.
ADVERSARIAL: dict[str, Callable[[], str]] = {
    "repeated assignments": lambda: ("password=" * (SIZE // 9))[:SIZE],
    "long key, no separator": lambda: "x_" * (SIZE // 4) + "password" + "_y" * (SIZE // 4),
    "keys without values": lambda: ("db_password_token_secret: " * SIZE)[:SIZE],
    "unterminated quote": lambda: '{"password": "' + "\\a" * (SIZE // 2),
    "many flags": lambda: ("--password " * SIZE)[:SIZE],
    "colons and spaces": lambda: (": " * SIZE)[:SIZE],
    "url-like": lambda: ("https://a:" * SIZE)[:SIZE],
    "armour lines": lambda: ("-----BEGIN PRIVATE KEY-----!" * SIZE)[:SIZE],
    "pem body without end": lambda: "-----BEGIN PRIVATE KEY-----\n" + "Ab0+/\\n " * (SIZE // 8),
    "sk- runs": lambda: ("sk-" * SIZE)[:SIZE] + "é",
    "aws id then base64": lambda: "AKIAIOSFODNN7EXAMPLE " + ("A" * 39 + " ") * (SIZE // 40),
    "authorization repeated": lambda: ("Authorization: Bearer " * SIZE)[:SIZE],
    "word soup": lambda: ("token secret auth pass key " * SIZE)[:SIZE],
}


def redact(text: str, spans: Spans) -> str:
    """``<ENTITY>`` over the union of ``spans`` (what the replace operator writes)."""
    out, cursor = [], 0
    for entity, start, end, _score in merge_spans(spans):
        out += [text[cursor:start], f"<{entity}>"]
        cursor = end
    return "".join(out) + text[cursor:]


def presidio_default(engine: GuardianAnalyzer) -> Callable[[str], Spans]:
    """Plain Presidio: its predefined recognizers, all entities, default threshold."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    nlp_engine = engine.analyzer.nlp_engine
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])

    def analyze(text: str) -> Spans:
        return [
            (r.entity_type, r.start, r.end, r.score)
            for r in analyzer.analyze(text=text, language="en")
        ]

    return analyze


def recall(
    cases: list[SecretCase], analyze: Callable[[str], Spans]
) -> tuple[dict[str, float], float, int]:
    """Per-family recall, overall recall, and cases whose key did not survive."""
    caught, total = Counter[str](), Counter[str]()
    keys_lost = 0
    for case in cases:
        redacted = redact(case.text, analyze(case.text))
        total[case.form] += 1
        if not any(secret in redacted for secret in case.secrets):
            caught[case.form] += 1
            keys_lost += bool(case.key) and case.key not in redacted
    per_family = {form: caught[form] / total[form] for form in total}
    return per_family, sum(caught.values()) / max(1, len(cases)), keys_lost


def adversarial_timings(engine: GuardianAnalyzer, entities: tuple[str, ...]) -> dict[str, float]:
    """Worst milliseconds of one secret pattern, and of the whole ``find``, per 100 kB text."""
    import regex

    patterns = []
    for plan in engine._plans.values():
        rec = plan.recognizer
        if set(rec.supported_entities) & set(SECRET_ENTITIES):
            flags = rec.global_regex_flags
            patterns += [(p.name, regex.compile(p.regex, flags)) for p in rec.patterns]
    worst: dict[str, float] = {}
    for name, build in ADVERSARIAL.items():
        text = build()
        slowest, slowest_name = 0.0, ""
        for pattern_name, compiled in patterns:
            started = time.perf_counter()
            for _ in compiled.finditer(text):
                pass
            took = (time.perf_counter() - started) * 1e3
            if took > slowest:
                slowest, slowest_name = took, pattern_name
        started = time.perf_counter()
        engine.find(text, entities)
        whole = (time.perf_counter() - started) * 1e3
        print(
            f"  {name:24s} {len(text) / 1e3:6.0f} kB  slowest pattern {slowest:8.1f} ms "
            f"({slowest_name})   find {whole:8.1f} ms"
        )
        worst[name] = round(max(slowest, whole), 1)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=40)
    parser.add_argument("--held-out", action="store_true", help="the held-out seed (report only)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args()
    if args.quick:
        args.per_family = 5
    seed = HELD_OUT_SEED if args.held_out else DEV_SEED
    policy = RedactionPolicy.from_yaml("config/redaction.yaml")
    engine = build_engine(policy)
    entities = policy.entities_for(policy.scan[0])
    cases = secret_cases(seed, args.per_family)
    print(f"{len(cases)} cases, {args.per_family} per family, seed {seed}"
          f"{' (held out)' if args.held_out else ' (development)'}")  # fmt: skip

    guardian_recall, guardian_all, keys_lost = recall(cases, lambda t: engine.find(t, entities))
    presidio_recall, presidio_all, _ = recall(cases, presidio_default(engine))
    print(f"  {'family':14s} {'guardian':>9s} {'presidio':>9s}")
    for form in guardian_recall:
        print(f"  {form:14s} {guardian_recall[form]:9.1%} {presidio_recall[form]:9.1%}")
    print(f"  {'all':14s} {guardian_all:9.1%} {presidio_all:9.1%}")
    print(f"  caught cases whose key was redacted too: {keys_lost}")
    false_positives = [t for t in NOT_SECRETS if engine.find(t, SECRET_ENTITIES)]
    print(f"  look-alikes redacted (of {len(NOT_SECRETS)}): {len(false_positives)}")

    print(f"adversarial strings ({SIZE // 1000} kB each):")
    timings = adversarial_timings(engine, entities)
    harness.emit(
        "eval_secrets",
        {
            "seed": seed,
            "held_out": args.held_out,
            "cases": len(cases),
            "recall": {"guardian": round(guardian_all, 4), "presidio": round(presidio_all, 4)},
            "recall_per_family": {
                form: {
                    "guardian": round(guardian_recall[form], 4),
                    "presidio": round(presidio_recall[form], 4),
                }
                for form in guardian_recall
            },
            "keys_lost": keys_lost,
            "false_positives": len(false_positives),
            "adversarial_ms_per_100kB": timings,
        },
    )


if __name__ == "__main__":
    main()
