"""PII behind escapes that logs carry, and company mail on private-network domains.

Found by a hand probe after the seeded families: HTML entities (web forms), JSON or
Python escapes (doubly encoded JSON), double URL encoding, and ``@corp.local``-style
addresses, which plain Presidio drops because ``tldextract`` does not know the suffix.
"""

from __future__ import annotations

import pytest

from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.policy import RedactionPolicy

NAMED = "jane&period;roe&commat;example&period;org"


@pytest.fixture(scope="module")
def engine() -> GuardianAnalyzer:
    return build_engine(RedactionPolicy.from_yaml("config/redaction.yaml"), None)


def spans(engine: GuardianAnalyzer, text: str, entity: str) -> list[str]:
    return [text[s:e] for found, s, e, _score in engine.detect(text, (entity,)) if found == entity]


@pytest.mark.parametrize(
    "text, value",
    [
        ("mail: john&#64;example.com", "john&#64;example.com"),
        ("mail: john&#x40;example.com", "john&#x40;example.com"),
        ("mail: john&commat;example.com", "john&commat;example.com"),
        (f"mail: {NAMED}", NAMED),
        (r"mail: john\u0040example.com", r"john\u0040example.com"),
        (r"mail: john\x40example.com", r"john\x40example.com"),
        ("u=john%2540example.com&x=1", "john%2540example.com"),
        ("reach jane.roe@corp.internal today", "jane.roe@corp.internal"),
        ("ops@mail.local wrote", "ops@mail.local"),
    ],
)
def test_escaped_and_internal_emails_are_found(
    engine: GuardianAnalyzer, text: str, value: str
) -> None:
    # One finding that covers the whole escaped value (an encoded token may be taken whole).
    [found] = spans(engine, text, "EMAIL_ADDRESS")
    assert value in found


@pytest.mark.parametrize(
    "text",
    [
        "a &amp; b &lt; c",
        "icon@2x.png and logo@3x.webp",
        "npm i left-pad@1.3.0",
        r"C:\users\x41\u00e9",
        "escaped &#65;&#66;&#67; letters",
    ],
)
def test_ordinary_escapes_and_file_names_are_not_emails(
    engine: GuardianAnalyzer, text: str
) -> None:
    assert spans(engine, text, "EMAIL_ADDRESS") == []
