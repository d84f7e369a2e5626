"""PII and secret redaction (Presidio, offline, fail closed).

Importing this package is cheap: Presidio and spaCy load in ``Redactor.start()``.
"""

from __future__ import annotations

import os

# Presidio's email recognizer would download a public-suffix list otherwise.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from service.redaction.policy import RedactionPolicy, RedactionPolicyError  # noqa: E402
from service.redaction.redactor import Redaction, RedactionOutcome, Redactor  # noqa: E402
from service.redaction.settings import RedactionSettings  # noqa: E402

__all__ = [
    "Redaction",
    "RedactionOutcome",
    "RedactionPolicy",
    "RedactionPolicyError",
    "RedactionSettings",
    "Redactor",
]
