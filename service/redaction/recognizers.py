"""Presidio recognizers for secrets pasted into prompts, and the default registry.

Each secret recognizer is declarative, in the style of Presidio's own
``EmailRecognizer``: class constants ``PATTERNS`` and ``CONTEXT``. Token formats
are matched case-sensitively (``AKIA`` is upper case by specification), so they
override Presidio's default ``IGNORECASE`` flag.
"""

from __future__ import annotations

import os

# Presidio's email recognizer uses tldextract, which downloads a suffix list
# unless this is empty; it must be set before presidio is imported.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

import regex  # noqa: E402
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer  # noqa: E402
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)

from service.redaction.policy import CustomRecognizerSpec, RedactionPolicy  # noqa: E402

_CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE


class AwsAccessKeyRecognizer(PatternRecognizer):
    """AWS access key ids: a four-letter type prefix (``AKIA``, ``ASIA``, ...) and 16 more."""

    PATTERNS = [
        Pattern(
            "aws access key id",
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b",
            0.9,
        )
    ]
    CONTEXT = ["aws", "access", "key", "credential", "iam"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="AWS_ACCESS_KEY",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            global_regex_flags=_CASE_SENSITIVE,
        )


class GitHubTokenRecognizer(PatternRecognizer):
    """GitHub classic (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``) and fine-grained tokens."""

    PATTERNS = [
        Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{36,251}\b", 0.95),
        Pattern("github fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", 0.95),
    ]
    CONTEXT = ["github", "token", "pat"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="GITHUB_TOKEN",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            global_regex_flags=_CASE_SENSITIVE,
        )


class SlackTokenRecognizer(PatternRecognizer):
    """Slack bot, user, app and refresh tokens (``xoxb-``, ``xoxp-``, ``xoxa-``, ...)."""

    PATTERNS = [Pattern("slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,250}", 0.95)]
    CONTEXT = ["slack", "token", "bot"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="SLACK_TOKEN",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            global_regex_flags=_CASE_SENSITIVE,
        )


class JwtRecognizer(PatternRecognizer):
    """JSON Web Tokens: base64url header and payload that both start with ``{"`` (``eyJ``)."""

    PATTERNS = [
        Pattern(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            0.9,
        )
    ]
    CONTEXT = ["jwt", "bearer", "token", "authorization"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="JWT",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            global_regex_flags=_CASE_SENSITIVE,
        )


class PrivateKeyRecognizer(PatternRecognizer):
    """PEM private-key blocks, whole or truncated (a pasted key may miss its END line)."""

    PATTERNS = [
        Pattern(
            "pem private key",
            r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,._-]*)",
            1.0,
        )
    ]
    CONTEXT = ["key", "private", "pem", "ssh"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="PRIVATE_KEY",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            global_regex_flags=_CASE_SENSITIVE,
        )


class SecretAssignmentRecognizer(PatternRecognizer):
    """The value in ``password=...``, ``api_key: ...``, ``secret = "..."`` and friends.

    Only the value is the finding (a variable-length look-behind holds the
    keyword), so the redacted text still says which kind of secret was there.
    """

    KEYWORDS = (
        r"password|passwd|pwd|pass|passphrase|secret|client[_-]?secret|api[_-]?key|apikey"
        r"|access[_-]?key|secret[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token"
        r"|token"
    )
    PATTERNS = [
        Pattern(
            "secret assignment",
            r"(?<=\b(?:" + KEYWORDS + r")[\"']?\s{0,3}[:=]\s{0,3}[\"']?)[^\s\"',;]{4,200}",
            0.7,
        )
    ]
    CONTEXT = ["password", "secret", "key", "token", "credential"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="SECRET",
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
        )


def luhn_valid(digits_text: str) -> bool:
    """Luhn checksum over the digits of ``digits_text`` (card numbers, some ids)."""
    digits = [int(c) for c in digits_text if c.isdigit() and c.isascii()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class CustomPatternRecognizer(PatternRecognizer):
    """A recognizer declared in the policy YAML, with an optional validator."""

    def __init__(self, spec: CustomRecognizerSpec) -> None:
        flags = _CASE_SENSITIVE if spec.case_sensitive else _CASE_SENSITIVE | regex.IGNORECASE
        super().__init__(
            supported_entity=spec.entity,
            name=spec.name,
            patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
            context=list(spec.context),
            global_regex_flags=flags,
        )
        self._validator = spec.validator

    def validate_result(self, pattern_text: str) -> bool | None:
        """Checksum hook (Presidio raises the score to 1.0 or drops the match)."""
        if self._validator == "luhn":
            return luhn_valid(pattern_text)
        return None


def build_recognizers(policy: RedactionPolicy) -> list[EntityRecognizer]:
    """Every pattern recognizer the policy can need (NER is added by the engine)."""
    recognizers: list[EntityRecognizer] = [
        EmailRecognizer(),
        PhoneRecognizer(supported_regions=tuple(policy.phone_regions)),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        UrlRecognizer(),
        AwsAccessKeyRecognizer(),
        GitHubTokenRecognizer(),
        SlackTokenRecognizer(),
        JwtRecognizer(),
        PrivateKeyRecognizer(),
        SecretAssignmentRecognizer(),
    ]
    recognizers.extend(CustomPatternRecognizer(spec) for spec in policy.recognizers)
    return recognizers
