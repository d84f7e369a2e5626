"""Adjacency conditions (digit runs, class n-grams) are necessary: every match satisfies them."""

from __future__ import annotations

import ipaddress

import pytest
import regex
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from load_tests.secret_cases import DEV_SEED, secret_cases
from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.pattern_conditions import pattern_gate
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES, RedactionPolicy
from service.redaction.prefilter import AtomChecker

ALL = PII_ENTITIES + SECRET_ENTITIES


def _patterns() -> list[tuple[str, str, int]]:
    engine = build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)}))
    out = []
    for plan in engine.fast.plans.values():
        rec = plan.recognizer
        for pattern in getattr(rec, "patterns", []):
            out.append((f"{rec.name}:{pattern.name}", pattern.regex, int(rec.global_regex_flags)))
    return out


PATTERNS = _patterns()
_CASE_TEXTS = [case.text for case in secret_cases(DEV_SEED, per_family=12)]


def _class_end(pattern: str, start: int) -> int:
    """Index just past the character class opening at ``start``."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _without_lookarounds(pattern: str) -> str:
    """``pattern`` with every look-around group (nested too) and ``\\K`` removed.

    What is left generates the consumed part of a match (Hypothesis' ``from_regex``
    knows neither variable-width look-behinds nor ``\\K``); the test keeps only the
    generated texts the full pattern really matches.
    """
    out: list[str] = []
    groups: list[bool] = []  # per open group: whether it is a look-around
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            token = pattern[i : i + 2]
        elif pattern[i] == "[":
            token = pattern[i : _class_end(pattern, i)]
        elif pattern[i] == "(":
            groups.append(pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i))
            token = "" if groups[-1] else "("
        elif pattern[i] == ")":
            token = "" if groups.pop() else ")"
        else:
            token = pattern[i]
        if token != "\\K" and not any(groups):
            out.append(token)
        i += max(1, len(token)) if pattern[i] in "\\[" else 1
    return "".join(out)


@pytest.mark.parametrize("name, pattern, flags", PATTERNS, ids=[p[0] for p in PATTERNS])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_match_satisfies_its_gate(
    name: str, pattern: str, flags: int, data: st.DataObject
) -> None:
    """Strings generated from the regex itself, embedded in text, keep the gate open.

    Patterns whose look-arounds a random string rarely satisfies (a secret word in
    a flag name) also draw from the seeded credential cases they match.
    """
    compiled = regex.compile(pattern, flags)
    generated = st.from_regex(_without_lookarounds(pattern), fullmatch=True)
    matching = [t for t in _CASE_TEXTS if compiled.search(t)]
    body = data.draw(st.one_of(generated, st.sampled_from(matching)) if matching else generated)
    before = data.draw(
        st.sampled_from(["", " ", "x ", "key: ", "password=", "\n", "db_password", "AKIA" * 5])
    )
    after = data.draw(st.sampled_from(["", " ", " y", ".", "\n"]))
    text = before + body + after
    assume(compiled.search(text) is not None)
    gate = pattern_gate(pattern, flags)
    assert AtomChecker(text).opens_pattern(gate), (name, text)


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses(v=6), st.sampled_from(["", "host ", "addr: ", "("]))
def test_ipv6_addresses_open_the_ipv6_gate(address: ipaddress.IPv6Address, before: str) -> None:
    pattern = next(p for n, p, _ in PATTERNS if n.endswith(":IPv6"))
    gate = pattern_gate(pattern, int(regex.IGNORECASE | regex.MULTILINE | regex.DOTALL))
    for shown in (str(address), address.exploded):
        text = f"{before}{shown} ok"
        if regex.search(pattern, text, regex.IGNORECASE):
            assert AtomChecker(text).opens_pattern(gate)


def test_prose_with_colons_keeps_the_ipv6_regex_shut() -> None:
    pattern = next(p for n, p, _ in PATTERNS if n.endswith(":IPv6"))
    gate = pattern_gate(pattern, int(regex.IGNORECASE))
    assert not AtomChecker("Note: the answer is below. Code: none").opens_pattern(gate)
    assert AtomChecker("at 10:30 we met").opens_pattern(gate)  # "0:3" could start one


@pytest.mark.parametrize(
    "pattern, present, absent",
    [
        (r"\b[0-9]{9}\b", "id 123456789", "id 12345678 9"),
        (r"\b([0-9]{5})-([0-9]{4})\b", "12345-6789", "1234-5678 123"),
        (r"(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}", "a:b", "a: b :c"),
        (r"x(?:ab){2,3}y", "xababy", "xab aby"),
    ],
)
def test_adjacency_conditions(pattern: str, present: str, absent: str) -> None:
    gate = pattern_gate(pattern, 0)
    assert AtomChecker(present).opens_pattern(gate)
    assert not AtomChecker(absent).opens_pattern(gate)


@pytest.fixture(scope="module")
def engine() -> GuardianAnalyzer:
    return build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.ip_addresses().map(str),
            st.sampled_from(
                ["::", "a::b", "10:30", "fe80::1%eth0", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8"]
            ),
            st.from_regex(r"[0-9]{1,12}([- .][0-9]{1,6}){0,3}", fullmatch=True),
            st.sampled_from([" ", ": ", "ip ", "ssn ", ", ", "\n", "-", "x"]),
        ),
        min_size=1,
        max_size=8,
    ).map("".join)
)
def test_find_equals_presidio_on_addresses_and_digit_runs(
    engine: GuardianAnalyzer, text: str
) -> None:
    assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)
