"""Worker warm-up compiles every regex up front, and the numbered gate checks agree with atoms."""

from __future__ import annotations

import regex

from load_tests.secret_cases import DEV_SEED, secret_cases
from service.redaction import prefilter
from service.redaction.engine import build_engine
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES, RedactionPolicy
from service.redaction.prefilter import AtomChecker, RecognizerGate

_POLICY = RedactionPolicy.from_mapping({"entities": list(PII_ENTITIES + SECRET_ENTITIES)})
_TEXTS = [
    "",
    "Summarize the following article in three bullet points, please.",
    "host 10.1.2.3 and fe80::1 up; call (212) 555-0199",
    "ｍａｉｌ＠ｅｘａｍｐｌｅ．ｃｏｍ and a.b@example.com",
    "export DB_PASSWORD=hunter2222; key AKIAIOSFODNN7EXAMPLE",
    *[case.text for case in secret_cases(DEV_SEED, per_family=2)],
]


def test_prepare_leaves_nothing_to_compile_while_analysing(monkeypatch) -> None:
    engine = build_engine(_POLICY, fast_path=True)
    assert engine.fast is not None
    engine.fast.prepare()
    for plan in engine.fast.plans.values():
        rec = plan.recognizer
        for pattern in getattr(rec, "patterns", None) or ():
            assert pattern.compiled_regex is not None, (rec.name, pattern.name)
            assert pattern.compiled_with_flags == rec.global_regex_flags
    compiled: list[str] = []
    original = regex.compile

    def counting(pattern: str, *args: object, **kwargs: object) -> object:
        compiled.append(pattern)
        return original(pattern, *args, **kwargs)

    monkeypatch.setattr(regex, "compile", counting)
    entities = tuple(sorted(_POLICY.all_entities))
    for text in _TEXTS:
        engine.find(text, entities)
    assert compiled == []


def _by_atoms(text: str, gate: RecognizerGate) -> bool:
    """The gate decided atom by atom, from the definition (no numbering, no inlining)."""
    return any(
        all(any(AtomChecker(text).holds(atom) for atom in cond) for cond in pattern.conditions)
        for pattern in gate.patterns
    )


def test_numbered_gate_checks_agree_with_atom_checks() -> None:
    engine = build_engine(_POLICY, fast_path=True)
    assert engine.fast is not None
    gates = [plan.gate for plan in engine.fast.plans.values()] + [prefilter.PHONE_GATE]
    for text in _TEXTS:
        checker = AtomChecker(text)  # one checker for every gate, as find() uses it
        for gate in gates:
            expected = _by_atoms(text, gate)
            assert checker.opens(gate) is expected, (text, gate)
            per_pattern = [AtomChecker(text).opens_pattern(p) for p in gate.patterns]
            assert any(per_pattern) is expected
            unconditional = any(not p.conditions for p in gate.patterns)
            assert gate.always is (not gate.patterns or unconditional)
