"""The default recognizer registry: Presidio's PII recognizers, Guardian's secret ones, custom.

The secret recognizers live in :mod:`service.redaction.secret_recognizers`
(declarative, in the style of Presidio's own ``EmailRecognizer``: class
constants ``PATTERNS`` and ``CONTEXT``).

Importing this module imports Presidio, whose e-mail recognizer uses tldextract:
``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` must be empty before (no suffix-list
download). :func:`service.redaction.engine.build_engine`, the one importer, and
:func:`service.composition.configure_process` see to it.
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)

from service.redaction.policy import CustomRecognizerSpec, RedactionPolicy
from service.redaction.secret_recognizers import (
    SECRET_RECOGNIZERS,
    AwsAccessKeyRecognizer,
    GitHubTokenRecognizer,
    JwtRecognizer,
    PrivateKeyRecognizer,
    SecretAssignmentRecognizer,
    SlackTokenRecognizer,
)

__all__ = [
    "AwsAccessKeyRecognizer",
    "CustomPatternRecognizer",
    "GitHubTokenRecognizer",
    "JwtRecognizer",
    "PrivateKeyRecognizer",
    "SecretAssignmentRecognizer",
    "SlackTokenRecognizer",
    "build_recognizers",
    "luhn_valid",
]

_CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE


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


#: Top-level names of private networks, where company mail lives (``@corp.local``).
INTERNAL_TLDS = frozenset(
    "local internal corp lan home intranet private localdomain localhost example test "
    "invalid office ad".split()
)


class InternalEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer that also accepts private-network domains.

    Presidio keeps an address only when ``tldextract`` knows its suffix, so
    ``jane.roe@corp.internal`` or ``ops@mail.local``, common in company logs, pass
    unredacted. These names are added; file names such as ``icon@2x.png`` stay out.
    """

    def validate_result(self, pattern_text: str) -> bool:
        if super().validate_result(pattern_text):
            return True
        return pattern_text.rsplit(".", 1)[-1].lower() in INTERNAL_TLDS


def build_recognizers(policy: RedactionPolicy) -> list[EntityRecognizer]:
    """Every pattern recognizer the policy can need (NER is added by the engine)."""
    recognizers: list[EntityRecognizer] = [
        InternalEmailRecognizer(),
        PhoneRecognizer(supported_regions=tuple(policy.phone_regions)),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        UrlRecognizer(),
        *(recognizer() for recognizer in SECRET_RECOGNIZERS),
    ]
    recognizers.extend(CustomPatternRecognizer(spec) for spec in policy.recognizers)
    return recognizers
