"""The stdlib regex parser the prefilter reads: verified here, and a safe fallback elsewhere.

If a test here fails, CPython changed ``re._parser`` (or the project moved to a
Python minor version not verified yet): check that the trees of every
recognizer pattern still mean what ``service/redaction/pattern_conditions.py``
assumes (run test_redaction_prefilter.py and test_redaction_lean.py), then
update ``VERIFIED_PYTHON`` and ``PROBE_TREE`` in ``service/redaction/re_compat.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from service.redaction import re_compat
from service.redaction.engine import build_engine
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES, RedactionPolicy

ALL = tuple(sorted(PII_ENTITIES + SECRET_ENTITIES))


def test_this_python_is_verified() -> None:
    version = sys.version_info[:2]
    assert version in re_compat.VERIFIED_PYTHON, (
        f"Python {version} is not in re_compat.VERIFIED_PYTHON: the prefilter is off on it "
        "(slower, same findings) until re._parser is re-verified"
    )
    found = re_compat.internals()
    assert found.available, found.reason


def test_the_parser_gives_the_recorded_tree() -> None:
    from re import _parser  # type: ignore[attr-defined]

    assert str(list(_parser.parse(re_compat.PROBE, 0))) == re_compat.PROBE_TREE


@pytest.fixture
def unverified(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This interpreter treated as unverified (the check is cached: cleared around it)."""
    monkeypatch.setattr(re_compat, "VERIFIED_PYTHON", frozenset())
    re_compat.internals.cache_clear()
    yield
    re_compat.internals.cache_clear()


def test_unverified_python_turns_the_prefilter_off(unverified: None) -> None:
    from service.redaction.pattern_conditions import pattern_gate

    assert not re_compat.internals().available
    assert "not a verified version" in (re_compat.internals().reason or "")
    assert pattern_gate(r"AKIA[0-9A-Z]{16}", 0).conditions == ()


def test_a_changed_tree_turns_the_prefilter_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(re_compat, "PROBE_TREE", "something else")
    re_compat.internals.cache_clear()
    try:
        assert not re_compat.internals().available
    finally:
        re_compat.internals.cache_clear()


@pytest.mark.parametrize(
    "text",
    [
        "mail jane.doe@example.org or call (212) 555-0199",
        "key AKIAIOSFODNN7EXAMPLE and password=hunter22 from 10.1.2.3",
        "nothing to see here",
        "IBAN DE89370400440532013000, card 4111 1111 1111 1111",
    ],
)
def test_without_the_prefilter_the_findings_are_the_same(unverified: None, text: str) -> None:
    policy = RedactionPolicy()
    engine = build_engine(policy)
    assert engine.fast is not None
    # Every gate derived from a regex is open (the phone gate is libphonenumber's, not re's).
    assert all(p.gate.always for p in engine.fast.plans.values() if not p.phone)
    assert engine.find(text, ALL) == engine.presidio_analyze(text, ALL)
