"""Every type plain Presidio finds in English, Guardian finds; the shipped policy looks for it."""

from __future__ import annotations

import pytest
from presidio_analyzer import RecognizerRegistry

from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.policy import DEFAULT_ENTITIES, NER_ENTITIES, PII_ENTITIES, RedactionPolicy
from service.redaction.recognizers import ObfuscatedEmailRecognizer
from tests import leak_corpus
from tests.leak_corpus_ids import ID_FAMILIES

#: Off by default, on purpose (config/redaction.yaml says why): links, request ids, dates.
OPT_IN = {"URL", "UUID", "DATE_TIME"}


@pytest.fixture(scope="module")
def shipped() -> tuple[RedactionPolicy, GuardianAnalyzer]:
    policy = RedactionPolicy.from_yaml("config/redaction.yaml")
    return policy, build_engine(policy)


def test_every_presidio_english_entity_is_known_and_on_unless_opt_in() -> None:
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    presidio = {e for r in registry.recognizers for e in r.supported_entities}
    # A new Presidio type fails here until it is added (or named an opt-in) on purpose.
    assert presidio - set(NER_ENTITIES) <= set(PII_ENTITIES), presidio - set(PII_ENTITIES)
    shipped = set(RedactionPolicy.from_yaml("config/redaction.yaml").entities)
    assert presidio - set(NER_ENTITIES) - OPT_IN <= shipped
    assert presidio - set(NER_ENTITIES) - OPT_IN <= set(DEFAULT_ENTITIES)


@pytest.mark.parametrize("family", sorted(ID_FAMILIES))
def test_each_case_of_the_family_is_found_as_its_type(
    shipped: tuple[RedactionPolicy, GuardianAnalyzer], family: str
) -> None:
    policy, engine = shipped
    entities = policy.entities_for(policy.scan[0])
    cases = [c for c in leak_corpus.generate(leak_corpus.TUNING_SEED) if c.family == family]
    assert len(cases) == 16
    for case in cases:
        start = case.text.index(case.value)
        end = start + len(case.value)
        found = engine.detect(case.text, entities)
        assert any(e == case.entity and s <= start and end <= t for e, s, t, _ in found), (
            case.case_id,
            found,
        )


@pytest.mark.parametrize(
    "text",
    [
        "look at the dot plot in section (at) 3",
        "meet at noon, AT the latest at 5",
        "AT&T DOT matrix printers",
        "the [at] sign and the [dot] sign are tokens",
        "user@example.com",  # an ordinary address is InternalEmailRecognizer's
    ],
)
def test_obfuscated_email_leaves_prose_alone(text: str) -> None:
    assert ObfuscatedEmailRecognizer().analyze(text, ["EMAIL_ADDRESS"]) == []


@pytest.mark.parametrize(
    "text, value",
    [
        ("mail jane.roe[at]example[dot]org today", "jane.roe[at]example[dot]org"),
        ("JANE AT EXAMPLE DOT CO DOT UK", "JANE AT EXAMPLE DOT CO DOT UK"),
        ("kofi (at) uni (dot) edu", "kofi (at) uni (dot) edu"),
        ("li{at}corp.de", "li{at}corp.de"),
    ],
)
def test_obfuscated_email_found(
    shipped: tuple[RedactionPolicy, GuardianAnalyzer], text: str, value: str
) -> None:
    policy, engine = shipped
    found = engine.detect(text, policy.entities_for(policy.scan[0]))
    assert [(e, text[s:t]) for e, s, t, _ in found] == [("EMAIL_ADDRESS", value)]


@pytest.mark.parametrize(
    "text",
    [
        "passport 912803456 renewed",  # context word: boosted to the threshold
        "912803456 is the order total",  # no context word: below it
        "the status 912803456",  # "us" inside "status": Presidio's substring rule
        "acct 12345678901 and licence D1234567",
        "D1234567 at the end, no context",
    ],
)
def test_weak_recognizers_equal_presidio_with_and_without_context(
    shipped: tuple[RedactionPolicy, GuardianAnalyzer], text: str
) -> None:
    """The fast path skips a weak recognizer when no context word is in the text."""
    policy, engine = shipped
    entities = policy.entities_for(policy.scan[0])
    assert engine.fast is not None and engine.fast.context is not None
    assert engine.find(text, entities) == engine.presidio_analyze(text, entities)
