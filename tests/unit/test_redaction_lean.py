"""The lean pattern loop, the ASCII atom check and the context shortcut equal Presidio."""

from __future__ import annotations

import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES, RedactionPolicy
from service.redaction.prefilter import AtomChecker
from service.redaction.presidio_compat.pattern_loop import analyze_patterns
from tests.strategies import pii_values

ALL = PII_ENTITIES + SECRET_ENTITIES
_ENGINE: list[GuardianAnalyzer] = []


def _engine() -> GuardianAnalyzer:
    if not _ENGINE:
        _ENGINE.append(build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)})))
    return _ENGINE[0]


# Fragments that open some gates of a recognizer but not others (IPv4 without ':',
# IPv6 pieces, '::', dashes and dots next to digits), odd case, and code points that
# case-fold onto ASCII letters (Kelvin sign, long s, dotted I).
_FRAGMENTS = [
    "10.0.0.1", "256.1.1.1", "::", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "::ffff:10.1.2.3",
    "1:2:3:4:5:6:7:8", "a:b", "ip", "IPv6", "078-05-1121", "078 05 1121", "536228812",
    "12345-6789", "123-456789", "4111-1111-1111-1111", "DE89 3704 0044 0532 0130 00",
    "password=", "PassWord: ", "api_key", "TOKEN =", "to\u212aen=", "pa\u017f\u017fword=",
    "\u0130p", "AKIA", "akia", "ghp_", "xoxb-", "eyJ", ".eyJ", "-----BEGIN", "@", "a@b.co",
    "x", " ", ".", ":", "-", "\n", "=", "\"", "é",
]  # fmt: skip


@st.composite
def mixed_texts(draw: st.DrawFn) -> str:
    """PII values and gate-opening fragments, glued or separated."""
    parts = []
    for _ in range(draw(st.integers(1, 10))):
        if draw(st.integers(0, 2)) == 0:
            entity, value = draw(pii_values())
            parts.append(f"password={value}" if entity == "SECRET" else value)
        else:
            parts.append(draw(st.sampled_from(_FRAGMENTS)))
    seps = st.sampled_from(["", " ", ", ", "\n", ": "])
    return "".join(p + draw(seps) for p in parts)


def _full(results: list) -> list:
    """Everything a pattern result carries that later steps read."""
    return sorted(
        (
            r.entity_type,
            r.start,
            r.end,
            r.score,
            r.analysis_explanation.validation_result,
            r.analysis_explanation.score,
            r.analysis_explanation.pattern_name,
            tuple(sorted(r.recognition_metadata.items())),
        )
        for r in results
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_texts())
def test_lean_loop_equals_pattern_recognizer_analyze(text: str) -> None:
    engine = _engine()
    checker = AtomChecker(text)
    lean = [p for p in engine.fast.plans.values() if p.lean]
    assert {type(p.recognizer).__name__ for p in lean} >= {"IpRecognizer", "UsSsnRecognizer"}
    for plan in lean:
        rec = plan.recognizer
        expected = rec.analyze(text=text, entities=list(ALL), nlp_artifacts=None)
        assert _full(analyze_patterns(rec, text, plan.gate, checker)) == _full(expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_texts())
def test_find_equals_presidio_on_mixed_fragments(text: str) -> None:
    engine = _engine()
    assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)


def test_lean_loop_runs_validation_hooks() -> None:
    """Luhn (credit card) and ipaddress (IP) hooks decide, as in Presidio."""
    engine = _engine()
    assert engine.find("card 4111 1111 1111 1111", ("CREDIT_CARD",)) == [
        ("CREDIT_CARD", 5, 24, 1.0)
    ]
    assert engine.find("card 4111 1111 1111 1112", ("CREDIT_CARD",)) == []
    assert engine.find("host 10.1.2.3 up", ("IP_ADDRESS",)) == [("IP_ADDRESS", 5, 13, 0.6)]
    assert engine.find("addr fe80::1 up", ("IP_ADDRESS",)) == engine.presidio_analyze(
        "addr fe80::1 up", ("IP_ADDRESS",)
    )


def test_only_patterns_whose_gate_opens_run() -> None:
    """IPv6 regexes are not run on a text without ':' (the point of the per-pattern gate)."""
    engine = _engine()
    plan = next(
        p for p in engine.fast.plans.values() if type(p.recognizer).__name__ == "IpRecognizer"
    )
    checker = AtomChecker("host 10.1.2.3 up")
    opened = [
        pat.name
        for pat, gate in zip(plan.recognizer.patterns, plan.gate.patterns, strict=True)
        if not gate.conditions or checker.opens_pattern(gate)
    ]
    assert opened == ["IPv4"]


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("akiKAI\u212a\u017fsS\u0130\u0131 _=")), max_size=20),
    st.sampled_from(["AKIA", "akia", "pass", "SS", "ki", "_=", "İ"]),
    st.sampled_from([regex.IGNORECASE, 0]),
)
def test_atom_check_equals_the_regex_engine(text: str, literal: str, flags: int) -> None:
    """The ASCII fast path (substring of lowercased text) agrees with regex search."""
    expected = regex.compile(regex.escape(literal), flags).search(text) is not None
    assert AtomChecker(text).holds(("lit", literal, flags)) is expected


def test_context_skip_of_maximal_scores_keeps_presidio_scores() -> None:
    """A result at score 1.0 is not re-scored (1.0 + boost is capped at 1.0)."""
    engine = _engine()
    for text in [
        "card number 4111 1111 1111 1111 and my phone (212) 555-0187",
        "email me: a@b.co, the ip 10.1.2.3",
        "private key -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
    ]:
        assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)
