"""Credentials in every form are redacted (value gone, key kept); look-alikes are not.

Table-driven in Presidio's style: the seeded leak cases of every family
(``load_tests.secret_cases``, development seed), hand-picked cases from the
issue, and a negatives table. Every table also checks Guardian's prefiltered
``find`` against plain Presidio span for span, so new patterns stay exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load_tests.secret_cases import DEV_SEED, FAMILIES, NOT_SECRETS, SecretCase, secret_cases
from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.operators import merge_spans
from service.redaction.policy import SECRET_ENTITIES, RedactionPolicy
from service.redaction.prefilter import AtomChecker
from service.retention import RetentionPolicy

POLICY = RedactionPolicy.from_yaml("config/redaction.yaml")
DEFAULT = POLICY.entities_for(POLICY.scan[0])


@pytest.fixture(scope="module")
def engine() -> GuardianAnalyzer:
    return build_engine(POLICY)


def redact(engine: GuardianAnalyzer, text: str, entities: tuple[str, ...] = DEFAULT) -> str:
    """What the ``replace`` operator writes over the union of the findings."""
    out, cursor = [], 0
    for entity, start, end, _score in merge_spans(engine.find(text, entities)):
        out += [text[cursor:start], f"<{entity}>"]
        cursor = end
    return "".join(out) + text[cursor:]


def _check(engine: GuardianAnalyzer, text: str, secrets: tuple[str, ...], key: str) -> None:
    redacted = redact(engine, text)
    for secret in secrets:
        assert secret not in redacted, (text, redacted)
    assert key in redacted, (text, redacted)
    assert engine.find(text, DEFAULT) == engine.presidio_analyze(text, DEFAULT)


CASES = secret_cases(DEV_SEED, per_family=10)


def test_every_family_has_at_least_eight_cases() -> None:
    forms = [case.form for case in CASES]
    assert {form: forms.count(form) for form in FAMILIES} == dict.fromkeys(FAMILIES, 10)


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.form}-{i % 10}-{c.variant or c.key[:20]}" for i, c in enumerate(CASES)]
)
def test_seeded_case_is_redacted_and_keeps_its_key(
    engine: GuardianAnalyzer, case: SecretCase
) -> None:
    _check(engine, case.text, case.secrets, case.key)


@pytest.mark.parametrize(
    "text, secret, key",
    [
        # From the issue: each passed unchanged before.
        ("DB_PASSWORD=hunter2222", "hunter2222", "DB_PASSWORD="),
        (
            "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG",
            "wJalrXUtnFEMI/K7MDENG",
            "AWS_SECRET",
        ),
        ("GITHUB_TOKEN=abc123def456ghi789", "abc123def456ghi789", "GITHUB_TOKEN="),
        ("MYSQL_PWD=s3cr3t-pw mysql -u root", "s3cr3t-pw", "MYSQL_PWD="),
        ("Authorization: Bearer abcdef.123456-opaque", "abcdef.123456-opaque", "Bearer"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Basic"),
        ("X-Api-Key: 9f8e7d6c5b4a", "9f8e7d6c5b4a", "X-Api-Key:"),
        (
            '"key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\nhkiG9w0BAQEFAASC\\n'
            '-----END PRIVATE KEY-----\\n"',
            "hkiG9w0BAQEFAASC",
            '"key"',
        ),
        # Case, prefixes, suffixes and separators.
        ("dbPassword: 'Tr0ub4dor&3'", "Tr0ub4dor&3", "dbPassword"),
        ("db.password = Sup3r-Secret!", "Sup3r-Secret!", "db.password"),
        ("client_secret => 'abc/def+ghi='", "abc/def+ghi=", "client_secret"),
        ('$apiKey := "k-123-xyz"', "k-123-xyz", "apiKey"),
        ("ACCESS_TOKEN_V2=tok_9a8b7c", "tok_9a8b7c", "ACCESS_TOKEN_V2"),
        ("?access_token=ya-123&page=2", "ya-123", "&page=2"),
        ("mytool --password hunter2 --verbose", "hunter2", "--verbose"),
        ("my password is Hunter2!", "Hunter2!", "password"),
        ('Proxy-Authorization: Digest username="u", response="6629fae4"', "6629fae4", "Digest"),
        ("Cookie: sessionid=abc123; csrftoken=def", "abc123", "Cookie:"),
        ("postgres://app:pa55word@db:5432/x", "pa55word", "postgres://app:"),
        ("curl -u admin:letmein123 https://x", "letmein123", "admin:"),
        (
            "AccountName=a;AccountKey=bWFkZSB1cCBrZXk=;EndpointSuffix=x",
            "bWFkZSB1cCBrZXk=",
            "AccountKey=",
        ),
        # Name/value pairs, XML, SQL and .netrc.
        ("- name: DB_PASSWORD\n  value: hunter2222\n- name: X", "hunter2222", "DB_PASSWORD"),
        ('{"name": "API_TOKEN", "value": "abc-123-xyz"}', "abc-123-xyz", "API_TOKEN"),
        ("<password>s3cret!</password><user>bob</user>", "s3cret!", "<user>bob"),
        ("CREATE USER app WITH PASSWORD 'pa ss';", "pa ss", "PASSWORD"),
        ('GRANT ALL TO u IDENTIFIED BY "s3cr3t"', "s3cr3t", "IDENTIFIED BY"),
        ("machine api.example.com login bob password ghx123abc", "ghx123abc", "login bob"),
        # Vendor formats, wherever they stand.
        ("key sk-ant-api03-" + "a1B2" * 20, "a1B2" * 20, "key"),
        ("rk_live_" + "Z9" * 12 + " in env", "Z9" * 12, "in env"),
        ("hooks.slack.com/services/T000/B000/" + "x" * 24, "x" * 24, "hooks.slack.com"),
        # PEM shapes.
        (
            "-----begin ec private key-----\nMHcCAQEEIBkg\n-----end ec private key-----",
            "MHcCAQEEIBkg",
            "",
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk AAAAB3Nza", "AAAAB3Nza", ""),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIFHDBOBgkqhkiG\\nAAEC", "AAEC", ""),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB12"
            "\n\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nthanks",
            "MIIEpAIBAAKCAQEA",
            "thanks",
        ),
    ],
)
def test_issue_and_edge_cases(engine: GuardianAnalyzer, text: str, secret: str, key: str) -> None:
    _check(engine, text, (secret,), key)


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_look_alikes_are_not_redacted(engine: GuardianAnalyzer, text: str) -> None:
    """Prose about credentials, counts of tokens, ids and hashes keep every character."""
    assert engine.find(text, SECRET_ENTITIES) == []
    assert engine.presidio_analyze(text, SECRET_ENTITIES) == []


def test_redaction_is_idempotent(engine: GuardianAnalyzer) -> None:
    """Guardian's own ``<SECRET>`` placeholders are not secrets when text is scanned again."""
    changed = 0
    for case in CASES:
        once = redact(engine, case.text)
        changed += once != case.text
        assert redact(engine, once) == once, once
    assert changed == len(CASES)


def test_every_secret_pattern_is_gated(engine: GuardianAnalyzer) -> None:
    """No secret pattern runs on text without its literals (the prefilter derived a gate)."""
    plain = AtomChecker("Summarize the following article in three bullet points, please.")
    for plan in engine.fast.plans.values():
        if not set(plan.recognizer.supported_entities) & set(SECRET_ENTITIES):
            continue
        for pattern, gate in zip(plan.recognizer.patterns, plan.gate.patterns, strict=True):
            assert gate.conditions, pattern.name
            assert not plain.opens_pattern(gate), pattern.name


def test_secret_entities_are_kept_for_the_shortest_time() -> None:
    retention = RetentionPolicy.from_yaml(Path("config/retention.yaml").read_text())
    event = {"timestamp": "2026-03-01T12:00:00.000Z", "metadata": {}}
    for entity in SECRET_ENTITIES:
        assert retention.classify(event, {entity}).class_name == "ephemeral", entity


# --- properties ------------------------------------------------------------------------------

_WORDS = (
    "password", "passwd", "pwd", "passphrase", "secret", "token", "api_key", "apikey",
    "api-key", "auth", "credential", "private_key", "access_key", "client_secret",
)  # fmt: skip
# Segments of consonants and digits cannot spell an exempt word (count, max, tokens, author...).
_SEGMENT = st.text(alphabet="bcdfghjklmpqrvwxz0123456789", min_size=1, max_size=6)
_CASE = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])


@st.composite
def secret_keys(draw: st.DrawFn) -> str:
    """A key holding a secret word, with random prefix, suffix, joiners and case."""
    joiner = draw(st.sampled_from(["_", "-", ".", ""]))
    parts = [
        *draw(st.lists(_SEGMENT, max_size=2)),
        draw(_CASE)(draw(st.sampled_from(_WORDS))),
        *draw(st.lists(_SEGMENT, max_size=2)),
    ]
    return joiner.join(parts)


_VALUES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9!@#$%^*_+=~/.:-]{3,30}[A-Za-z0-9]", fullmatch=True)
_FORMS = (
    "{k}={v}",
    "export {k}={v}",
    '{{"{k}": "{v}"}}',
    "{k}: {v}",
    "{k}: '{v}'",
    "https://x.example/cb?{k}={v}&page=1",
    "--{k}={v}",
    "--{k} {v}",
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=secret_keys(), value=_VALUES, form=st.sampled_from(_FORMS))
def test_any_secret_key_hides_any_value(
    engine: GuardianAnalyzer, key: str, value: str, form: str
) -> None:
    text = form.format(k=key, v=value)
    redacted = redact(engine, text)
    assert value not in redacted and key in redacted, (text, redacted)


_FRAGMENTS = st.sampled_from(
    [
        "password", "DB_", "_TOKEN", "api-key", "auth", "max_tokens", "token_count", "=", ": ",
        ":=", "=>", '"', "'", '\\"', "--", "-", " ", "\n", "\\n", "Bearer ", "Basic ",
        "Authorization", "Cookie: ", "://", "user:", "@", "-u ", "is ", "true", "${X}",
        "<SECRET>", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "MIIEv+/=",
        "sk-", "AKIA", "ABCDEFGHIJKLMNOP", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE", "hf_", "x9",
        "hunter2", "Sup3r!", ",", ";", "&", ".",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, min_size=1, max_size=14).map("".join))
def test_find_equals_presidio_on_secret_fragments(engine: GuardianAnalyzer, text: str) -> None:
    assert engine.find(text, DEFAULT) == engine.presidio_analyze(text, DEFAULT)
