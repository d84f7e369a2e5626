"""The context step on a span of the text: same scores as Presidio's enhancer on the whole text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES, RedactionPolicy
from service.redaction.presidio_compat.context_replay import ContextReplay
from tests.strategies import texts_with_pii

ALL = PII_ENTITIES + SECRET_ENTITIES

#: Sure keywords (one non-stop token each), stop words, punctuation, colon forms (a part
#: of ``x:the`` makes ``the`` count in the walk), context words, non-ASCII-free digits.
_WORDS = [
    "release", "cluster", "results", "deploy", "queue", "review", "steady", "the", "is",
    "of", "a", "my", "be", "it", "phone", "call", "card", "number", "ip", "ssn", "social",
    "security", "iban", "token", "key", "password", "x:the", "call:", "x:phone", ":", "-",
    ",", ".", "(", ")", "\n", "  ", "\t", "don't", "cannot", "e.g.", "http://a:b/c",
]  # fmt: skip
_DIGITISH = ["212", "555", "0187", "1", "4111", "+1", "030", "00"]


@pytest.fixture(scope="module")
def engine() -> GuardianAnalyzer:
    return build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)}))


@st.composite
def _long_texts(draw: st.DrawFn) -> str:
    """PII among many words: windows that end well inside the text, far and near context."""
    parts: list[str] = []
    for _ in range(draw(st.integers(10, 70))):
        kind = draw(st.integers(0, 6))
        if kind == 0:
            parts.append(draw(texts_with_pii())[0])
        elif kind == 1:
            parts.append(draw(st.sampled_from(_DIGITISH)))
        else:
            parts.append(draw(st.sampled_from(_WORDS)))
    seps = st.sampled_from([" ", " ", " ", "", "  ", "\n", ", "])
    return "".join(p + draw(seps) for p in parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_long_texts())
def test_span_replay_equals_presidio(engine: GuardianAnalyzer, text: str) -> None:
    assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)


def _regions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    original = ContextReplay._boosted

    def spy(self: ContextReplay, text: str, todo: Any, region: Any = None) -> Any:
        seen.append(region)
        return original(self, text, todo, region)

    monkeypatch.setattr(ContextReplay, "_boosted", spy)
    return seen


_FILLER = "The quarterly results exceeded expectations across most regions. " * 6


def test_only_a_span_is_tokenized_and_scores_match(
    engine: GuardianAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    regions = _regions(monkeypatch)
    text = _FILLER + "Call me on my phone at (303) 249-9812 after five. " + _FILLER
    found = engine.find(text, ("PHONE_NUMBER",))
    assert found == engine.presidio_analyze(text, ("PHONE_NUMBER",))
    assert found[0][3] > 0.4  # boosted by "phone"
    assert regions and regions[0] is not None
    low, high = regions[0]
    assert 0 < low < text.index("(303)") < high < len(text)


def test_far_context_word_needs_no_tokenizing(
    engine: GuardianAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    regions = _regions(monkeypatch)
    text = "phone " + _FILLER + "reach (303) 249-9812 after five."
    found = engine.find(text, ("PHONE_NUMBER",))
    assert found == engine.presidio_analyze(text, ("PHONE_NUMBER",))
    assert found[0][3] == pytest.approx(0.4)  # "phone" is too far back
    assert regions == []  # decided without the tokenizer


def test_colon_parts_elsewhere_count_in_the_span(engine: GuardianAnalyzer) -> None:
    """``x:the`` far away makes every ``the`` a keyword token, which shortens the window."""
    near = "phone the the the the the the the (303) 249-9812 after five. "
    for text in (near + _FILLER + " x:the", near + _FILLER, _FILLER + near + "x:the y"):
        assert engine.find(text, ("PHONE_NUMBER",)) == engine.presidio_analyze(
            text, ("PHONE_NUMBER",)
        )
