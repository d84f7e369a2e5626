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

from typing import Any

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    NhsRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
    UuidRecognizer,
)

from service.redaction.policy import CustomRecognizerSpec, RedactionPolicy
from service.redaction.secret_recognizers import (
    SECRET_RECOGNIZERS,
    AwsAccessKeyRecognizer,
    DeclaredRecognizer,
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


#: Context words people write that Presidio's lists lack (British spelling, "savings").
_MORE_CONTEXT = {
    "licence": ("licence", "licence#", "license#"),
    "bank": ("savings", "checking", "acct#", "routing"),
}


_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
_BRACKETED_DOT = r"[ \t]{0,2}" + _OPEN + r"[ \t]{0,2}dot[ \t]{0,2}" + _CLOSE + r"[ \t]{0,2}"
_LABEL = r"[A-Za-z0-9_%+-]{1,64}"


class ObfuscatedEmailRecognizer(DeclaredRecognizer):
    """E-mail addresses written to dodge scrapers: ``jane[at]example[dot]com``, ``jo AT x DOT org``.

    The ``@`` must be bracketed (``[at]``, ``(at)``, ``{@}``, ``<at>``) or an upper-case
    ``AT`` between spaces, and the domain needs a dot (plain, bracketed or ``DOT``), so
    prose ("look at this dot plot") is not taken for an address. Plain Presidio finds none.

    >>> rec = ObfuscatedEmailRecognizer()
    >>> text = "write to maria.k[at]example[dot]org or look at the dot plot"
    >>> [text[r.start : r.end] for r in rec.analyze(text, ["EMAIL_ADDRESS"])]
    ['maria.k[at]example[dot]org']
    """

    PATTERNS = [
        Pattern(
            "obfuscated e-mail",
            # Atomic and possessive: each word is read once, then the marker decides.
            r"(?<![\w.%+-])(?>"
            + _LABEL
            + r"+(?:(?:\.|"
            + _BRACKETED_DOT
            + r")"
            + _LABEL
            + r"+){0,8})"
            r"(?:[ \t]{0,2}" + _OPEN + r"[ \t]{0,2}(?:at|@)[ \t]{0,2}" + _CLOSE + r"[ \t]{0,2}"
            r"|[ \t]{1,2}(?-i:AT)[ \t]{1,2})"
            r"[A-Za-z0-9-]{1,63}(?:(?:\.|" + _BRACKETED_DOT + r"|[ \t]{1,2}(?-i:DOT)[ \t]{1,2})"
            r"[A-Za-z0-9-]{1,63}){1,8}(?![\w-])",
            0.5,
        )
    ]

    CONTEXT = ["email", "mail", "e-mail", "contact", "write"]
    ENTITY = "EMAIL_ADDRESS"
    FLAGS = _CASE_SENSITIVE | regex.IGNORECASE
    #: ``analyze`` returns a subset of the patterns' matches: the fast path may gate it.
    GATED_ANALYZE = True
    #: What every match contains; searched first, as the full pattern is tried per word.
    MARKER = regex.compile(
        r"[\[({<][ \t]{0,2}(?:at|@)[ \t]{0,2}[\])}>]|[ \t](?-i:AT)[ \t]", regex.IGNORECASE
    )

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: Any = None,
        regex_flags: int | None = None,
    ) -> list[Any]:
        if self.MARKER.search(text) is None:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


class DriverLicenceAbbreviationRecognizer(DeclaredRecognizer):
    """A licence number after ``DL``/``DLN``/``DL#`` (Presidio's licence context has no "dl").

    Presidio matches context words as substrings, so adding "dl" to its list would
    boost any number near "handle" or "middle"; the abbreviation is matched here,
    upper-case, right before the number.

    >>> rec = DriverLicenceAbbreviationRecognizer()
    >>> text = "DL# W85868313 issued in Ohio; handle 12345678"
    >>> [text[r.start : r.end] for r in rec.analyze(text, ["US_DRIVER_LICENSE"])]
    ['W85868313']
    """

    PATTERNS = [
        Pattern(
            "licence number after DL",
            r"\bDLN?(?:[ \t]?(?i:no\.?|number|#))?[ \t]{0,2}[#:]?[ \t]{0,2}\K"
            r"(?=[A-Z0-9-]{0,20}[0-9])[A-Z0-9](?:[A-Z0-9-]{3,19})\b",
            0.6,
        )
    ]
    CONTEXT = ["driver", "licence", "license"]
    ENTITY = "US_DRIVER_LICENSE"
    FLAGS = _CASE_SENSITIVE


def build_recognizers(policy: RedactionPolicy) -> list[EntityRecognizer]:
    """Every pattern recognizer the policy can need (NER is added by the engine)."""
    recognizers: list[EntityRecognizer] = [
        InternalEmailRecognizer(),
        ObfuscatedEmailRecognizer(),
        PhoneRecognizer(supported_regions=tuple(policy.phone_regions)),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        UrlRecognizer(),
        # The rest of Presidio's English recognizers, so that a policy can ask for every
        # type plain Presidio finds. Only the entities the policy lists are run.
        UsItinRecognizer(),
        UsPassportRecognizer(),
        UsLicenseRecognizer(context=[*UsLicenseRecognizer.CONTEXT, *_MORE_CONTEXT["licence"]]),
        DriverLicenceAbbreviationRecognizer(),
        UsBankRecognizer(context=[*UsBankRecognizer.CONTEXT, *_MORE_CONTEXT["bank"]]),
        NhsRecognizer(),
        CryptoRecognizer(),
        MedicalLicenseRecognizer(),
        MacAddressRecognizer(),
        UuidRecognizer(),
        DateRecognizer(),
        *(recognizer() for recognizer in SECRET_RECOGNIZERS),
    ]
    recognizers.extend(CustomPatternRecognizer(spec) for spec in policy.recognizers)
    return recognizers
