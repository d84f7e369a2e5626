"""PII and secret redaction (Presidio, offline, fail closed).

Importing this package is cheap: Presidio and spaCy load in ``Redactor.start()``.
"""

from __future__ import annotations

from service.redaction.policy import RedactionPolicy, RedactionPolicyError
from service.redaction.redactor import Redaction, RedactionOutcome, Redactor
from service.redaction.settings import RedactionSettings

__all__ = [
    "Redaction",
    "RedactionOutcome",
    "RedactionPolicy",
    "RedactionPolicyError",
    "RedactionSettings",
    "Redactor",
]
