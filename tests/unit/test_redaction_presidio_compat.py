"""Presidio's internals fenced off: the version gate, and both analysis paths equal.

The fast path (:mod:`service.redaction.presidio_compat`) replays and copies
presidio-analyzer internals of one verified release; the public path calls
``AnalyzerEngine.analyze``. Both must give the same findings and the same
redacted events, on the leak corpus and on generated text. A test fails when
the installed (pinned) Presidio is no longer the verified one: re-verify the
fast path against the new release (these tests, test_redaction_lean,
test_redaction_prefilter, test_redaction_phone) and then move
``VERIFIED_PRESIDIO``.
"""

from __future__ import annotations

import copy
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.errors import ConfigError
from service.redaction import RedactionPolicy, RedactionSettings, Redactor, presidio_compat
from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES
from service.redaction.presidio_compat import (
    VERIFIED_PRESIDIO,
    PresidioVersionMismatch,
    installed_presidio,
    use_fast_path,
)
from tests.leak_corpus import TUNING_SEED, generate
from tests.strategies import texts_with_pii

ALL = tuple(sorted(PII_ENTITIES + SECRET_ENTITIES))
ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_presidio_is_the_verified_one() -> None:
    installed = installed_presidio()
    assert installed == VERIFIED_PRESIDIO, (
        f"presidio-analyzer {installed} is installed but the fast path is verified against "
        f"{VERIFIED_PRESIDIO}: re-check service/redaction/presidio_compat/ against the new "
        "release (run the differential tests) and then update VERIFIED_PRESIDIO"
    )
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"presidio-analyzer=={VERIFIED_PRESIDIO}" in pins


@pytest.mark.parametrize(
    "mode, installed, expected",
    [
        ("auto", VERIFIED_PRESIDIO, True),
        ("on", VERIFIED_PRESIDIO, True),
        ("off", VERIFIED_PRESIDIO, False),
        ("auto", "2.2.999", False),
        ("off", "2.2.999", False),
        ("auto", None, True),  # None: the installed version (the verified one, test above)
    ],
)
def test_fast_path_decision(mode: Any, installed: str | None, expected: bool) -> None:
    assert use_fast_path(mode, installed=installed) is expected


def test_on_with_another_version_refuses_with_both_versions_named() -> None:
    with pytest.raises(PresidioVersionMismatch, match=re.escape(VERIFIED_PRESIDIO)) as info:
        use_fast_path("on", installed="2.2.999")
    assert "2.2.999" in str(info.value)


def test_a_fallback_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=presidio_compat.__name__):
        for _ in range(3):
            use_fast_path("auto", installed="2.2.998")
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "2.2.998" in caplog.records[0].getMessage()


def test_redactor_start_up_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = RedactionPolicy()
    assert Redactor(policy, RedactionSettings(workers=0, spacy_model=None)).fast_path
    off = RedactionSettings(workers=0, spacy_model=None, fast_path="off")
    assert not Redactor(policy, off).fast_path
    monkeypatch.setattr(presidio_compat, "installed_presidio", lambda: "2.2.997")
    assert not Redactor(policy, RedactionSettings(workers=0, spacy_model=None)).fast_path
    on = RedactionSettings(workers=0, spacy_model=None, fast_path="on")
    with pytest.raises(ConfigError, match="fast_path is 'on' but presidio-analyzer 2.2.997"):
        Redactor(policy, on)


# ----------------------------------------------------------------- both paths equal


@pytest.fixture(scope="module")
def engines() -> tuple[GuardianAnalyzer, GuardianAnalyzer]:
    policy = RedactionPolicy()
    fast = build_engine(policy, fast_path=True)
    public = build_engine(policy, fast_path=False)
    assert fast.fast is not None and public.fast is None
    return fast, public


def test_leak_corpus_findings_equal(engines: tuple[GuardianAnalyzer, GuardianAnalyzer]) -> None:
    fast, public = engines
    cases = [c for c in generate(TUNING_SEED) if c.family != "long_string"]
    differ = [c.case_id for c in cases if fast.detect(c.text, ALL) != public.detect(c.text, ALL)]
    assert not differ, f"the two paths disagree on {differ}"


_TEXTS = st.one_of(
    texts_with_pii().map(lambda drawn: drawn[0]),
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from(list("0123456789 -+().@:/=abcxyzAKIA\n")), max_size=120),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS)
def test_generated_text_findings_equal(
    engines: tuple[GuardianAnalyzer, GuardianAnalyzer], text: str
) -> None:
    fast, public = engines
    assert fast.detect(text, ALL) == public.detect(text, ALL)


async def _redacted(fast_path: Any, events: list[dict[str, Any]]) -> list[Any]:
    # The public path runs every recognizer on every text: give the batch time.
    settings = RedactionSettings(workers=0, spacy_model=None, fast_path=fast_path, timeout_s=600)
    redactor = Redactor(RedactionPolicy(), settings)
    await redactor.start()
    try:
        return await redactor.redact_batch(copy.deepcopy(events))
    finally:
        await redactor.close()


async def test_leak_corpus_redacted_output_equal() -> None:
    events = [case.event(i) for i, case in enumerate(generate(TUNING_SEED))]
    fast = await _redacted("auto", events)
    public = await _redacted("off", events)
    for case, a, b in zip(generate(TUNING_SEED), fast, public, strict=True):
        assert (a.event, a.redactions, a.failed) == (b.event, b.redactions, b.failed), case.case_id
