"""Engine: each entity is found; Guardian's prefiltered analysis equals plain Presidio."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load_tests.corpus import PII_KINDS, make_corpus
from service.redaction.engine import EngineUnavailable, GuardianAnalyzer, build_engine
from service.redaction.pattern_conditions import pattern_gate
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES, RedactionPolicy
from service.redaction.prefilter import AtomChecker
from tests.strategies import texts_with_pii

ALL = PII_ENTITIES + SECRET_ENTITIES


@pytest.fixture(scope="module")
def engine() -> GuardianAnalyzer:
    return build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)}))


@pytest.mark.parametrize(
    "text, entity, value",
    [
        ("write to jane.doe@example.org today", "EMAIL_ADDRESS", "jane.doe@example.org"),
        ("call my phone (212) 555-0187 now", "PHONE_NUMBER", "(212) 555-0187"),
        ("card 4111 1111 1111 1111 declined", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("pay to DE89370400440532013000 please", "IBAN_CODE", "DE89370400440532013000"),
        ("host 10.20.30.40 is down", "IP_ADDRESS", "10.20.30.40"),
        ("my ssn is 078-05-1121 ok", "US_SSN", "078-05-1121"),
        ("see https://intranet.example.com/x", "URL", "https://intranet.example.com/x"),
        ("key AKIAIOSFODNN7EXAMPLE here", "AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_" + "A1b2" * 9 + " works", "GITHUB_TOKEN", "ghp_" + "A1b2" * 9),
        ("bot xoxb-1234567890-abcdefghij uses", "SLACK_TOKEN", "xoxb-1234567890-abcdefghij"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX3Zh end",
            "JWT",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX3Zh",
        ),
        (
            "k:\n-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\nbye",
            "PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----",
        ),
        (
            "truncated -----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADAN",
            "PRIVATE_KEY",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADAN",
        ),
        ("db password=Sup3r-Secret! in config", "SECRET", "Sup3r-Secret!"),
        ('{"api_key": "abcd1234efgh"}', "SECRET", "abcd1234efgh"),
    ],
)
def test_each_entity_is_found_exactly(
    engine: GuardianAnalyzer, text: str, entity: str, value: str
) -> None:
    found = engine.find(text, ALL)
    spans = {(e, text[s:t]) for e, s, t, _ in found}
    assert (entity, value) in spans
    assert found == engine.presidio_analyze(text, ALL)


@pytest.mark.parametrize(
    "text",
    [
        "Summarize the following article in three bullet points.",
        "The token is not here, just the word password without value.",
        "akiaiosfodnn7example lower-case is not an AWS key",
        "version 1.2.3 and 42 items",
    ],
)
def test_clean_texts_have_no_findings(engine: GuardianAnalyzer, text: str) -> None:
    assert engine.find(text, ALL) == [] == engine.presidio_analyze(text, ALL)


def test_context_words_still_raise_scores(engine: GuardianAnalyzer) -> None:
    """Lowercase lemmas from the blank pipeline let Presidio's context boost work."""
    weak = engine.find("id 536228812 here", ("US_SSN",))
    boosted = engine.find("my ssn 536228812 here", ("US_SSN",))
    assert weak == []  # 0.05 without context, below the 0.4 threshold
    assert boosted == [("US_SSN", 7, 16, 0.4)]
    phone = engine.find("my phone 212 555 0187", ("PHONE_NUMBER",))
    assert phone == [("PHONE_NUMBER", 9, 21, pytest.approx(0.75))]


def test_differential_on_corpus_span_for_span(engine: GuardianAnalyzer) -> None:
    corpus = make_corpus(150, seed=11)
    total = 0
    for item in corpus:
        expected = engine.presidio_analyze(item.text, ALL)
        assert engine.find(item.text, ALL) == expected
        total += len(expected)
    assert total >= 40  # the corpus really exercises the recognizers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        texts_with_pii().map(lambda t: t[0]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    )
)
def test_differential_on_random_text(engine: GuardianAnalyzer, text: str) -> None:
    assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)


@pytest.mark.parametrize(
    "pattern, flags, present, absent",
    [
        (r"\bAKIA[A-Z2-7]{16}\b", 0, "xx AKIAIOSFODNN7EXAMPLE", "akia only"),
        (r"\b(?:ghp|gho)_[a-z]{3}", 0, "x gho_abc", "gh_"),
        (r"[0-9]{3}-[0-9]{4}", 0, "a 123-4567", "no digits-"),
        (r"(?<=password\s=)\S+", 2, "PassWord =", "pass ="),
        (r"\w+@\w+", 2, "a@b", "no at sign"),
    ],
)
def test_gates_are_derived_from_the_pattern(
    pattern: str, flags: int, present: str, absent: str
) -> None:
    gate = pattern_gate(pattern, flags)
    assert gate.conditions, "a condition should be derived"
    holds = AtomChecker(present)
    assert all(any(holds.holds(a) for a in c) for c in gate.conditions)
    misses = AtomChecker(absent)
    assert not all(any(misses.holds(a) for a in c) for c in gate.conditions)


def test_unmodelled_syntax_means_no_gate() -> None:
    assert pattern_gate(r"\p{L}+@", 0).conditions == ()  # stdlib parser rejects \p
    assert pattern_gate(r"(?i:akia)\d", 0).conditions == (frozenset({("digit", "", 0)}),)


def test_custom_recognizer_with_luhn_validator() -> None:
    policy = RedactionPolicy.from_mapping(
        {
            "entities": ["LOYALTY_CARD"],
            "recognizers": [
                {
                    "name": "loyalty",
                    "entity": "LOYALTY_CARD",
                    "context": ["loyalty"],
                    "validator": "luhn",
                    "patterns": [{"name": "p", "regex": r"\bLC\d{8}\b", "score": 0.3}],
                }
            ],
        }
    )
    g = build_engine(policy)
    valid, invalid = "LC79927398", "LC79927391"  # Luhn over the digits 79927398 is valid
    assert [e for e, *_ in g.find(f"card {valid}", ("LOYALTY_CARD",))] == ["LOYALTY_CARD"]
    assert g.find(f"card {invalid}", ("LOYALTY_CARD",)) == []


def test_missing_spacy_model_is_never_downloaded() -> None:
    policy = RedactionPolicy.from_mapping({"entities": ["PERSON"]})
    with pytest.raises(EngineUnavailable, match="nothing is downloaded"):
        build_engine(policy, spacy_model="xx_not_installed_model")


def test_pii_generators_cover_every_secret_kind() -> None:
    rng = random.Random(0)
    assert {"AWS_ACCESS_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "JWT", "PRIVATE_KEY", "SECRET"} <= set(
        PII_KINDS
    )
    assert all(make(rng) for make, _ in PII_KINDS.values())


# --- the phone candidate scan and the replayed context step ----------------------------

_WORDS = [
    "phone", "call", "my", "the", "is", "card", "number", "ip", "email", "key", "token",
    "password", "ssn", "social", "security", "iban", "be", "of", "a", "über", "Ǆ", "İ",
    "x:phone", "call:", ":", "-", ",", ".", "(", ")", "+", "\n", "  ", "\t", "ext.",
    # Context words of the weak US/UK identity recognizers (fast path: skipped without one).
    "passport", "US", "status", "account", "savings", "licence", "lic", "DEA", "nhs",
    "wallet", "mac", "itin", "duplicate", "bus",
]  # fmt: skip
_DIGITISH = [
    "212", "555", "0187", "1", "12", "4111", "+1", "+49", "030", "00", "x", "(0)",
    "912803456", "A12345678", "D1234567", "12345678901", "943 476 5919", "AB1234563",
    "912-93-4567", "00:1A:2B:3C:4D:5E", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
]  # fmt: skip


@st.composite
def _context_texts(draw: st.DrawFn) -> str:
    """PII values among context words, stop words, colons, odd case and spacing."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            parts.append(draw(texts_with_pii())[0])
        elif kind == 1:
            parts.append(draw(st.sampled_from(_DIGITISH)))
        else:
            parts.append(draw(st.sampled_from(_WORDS)))
    seps = st.sampled_from([" ", "", "  ", "\n", ", "])
    return "".join(p + draw(seps) for p in parts)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_context_texts())
def test_differential_on_context_heavy_text(engine: GuardianAnalyzer, text: str) -> None:
    """Scores raised by context words, replayed from token arrays, equal Presidio's."""
    assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)


def test_context_replay_is_active_and_changes_scores(engine: GuardianAnalyzer) -> None:
    """The replay is really used (not the fallback) and gives boosted and plain scores."""
    assert engine.fast.context is not None
    boosted = engine.find("my phone is (212) 555-0187", ("PHONE_NUMBER",))
    plain = engine.find("reach (212) 555-0187", ("PHONE_NUMBER",))
    assert boosted == engine.presidio_analyze("my phone is (212) 555-0187", ("PHONE_NUMBER",))
    assert boosted[0][3] > plain[0][3] == pytest.approx(0.4)


def test_min_phone_digits_is_libphonenumbers_shortest_number() -> None:
    import phonenumbers
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import COUNTRY_CODES_FOR_NON_GEO_REGIONS

    from service.redaction.prefilter import MIN_PHONE_DIGITS

    metas = [PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    metas += [
        PhoneMetadata.metadata_for_nongeo_region(cc) for cc in COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    shortest = min(min(m.general_desc.possible_length) for m in metas if m is not None)
    assert shortest == MIN_PHONE_DIGITS


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789 +-().x/:abcAB٣\n")), min_size=0, max_size=40),
    st.sampled_from(["US", "GB", "DE", "FR", "IN", "NU"]),
)
def test_phone_scan_never_skips_a_match(text: str, region: str) -> None:
    """No region, not even Niue's 4-digit numbers, finds a number the scan ruled out."""
    import phonenumbers

    from service.redaction.prefilter import phone_may_match

    found = list(phonenumbers.PhoneNumberMatcher(text, region, leniency=1))
    if found:
        assert phone_may_match(text)


def test_phone_scan_rules_out_short_digit_groups() -> None:
    from service.redaction.prefilter import phone_may_match

    assert not phone_may_match("version 3.1 of step 2, user maria123")
    assert phone_may_match("call +683 4002")  # Niue: four digits after the country code
    assert phone_may_match("(212) 555-0187")
