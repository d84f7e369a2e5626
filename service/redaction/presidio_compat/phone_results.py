"""Presidio's phone recognizer with one shared :class:`~service.redaction.phone.PhoneScan`.

``PhoneRecognizer.analyze`` runs one ``PhoneNumberMatcher`` pass per region;
:func:`phone_analyze` runs :class:`~service.redaction.phone.PhoneScan` once and
builds each result with the recognizer's private ``_get_recognizer_result``, as
``analyze`` does (presidio-analyzer
:data:`~service.redaction.presidio_compat.VERIFIED_PRESIDIO`).
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from presidio_analyzer import EntityRecognizer, RecognizerResult

from service.redaction.phone import PhoneScan, Unsupported


class _Match:
    """What ``PhoneRecognizer._get_recognizer_result`` reads of a libphonenumber match.

    Defined once here, not per call: building a class costs more than the call.
    """

    __slots__ = ("end", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end


def phone_analyze(
    recognizer: Any,
    text: str,
    searched: dict[int, tuple[int, str] | None] | None = None,
    resume: bool = False,
) -> list[RecognizerResult]:
    """``PhoneRecognizer.analyze(text, ...)`` with one shared :class:`PhoneScan`.

    Builds the same results (entity, span, score, explanation, metadata) in the
    same order and de-duplicates them with Presidio's own ``remove_duplicates``;
    with ``resume``, plus the matches past where libphonenumber's budget stops.
    """
    leniency = recognizer.leniency
    try:
        scan = PhoneScan(text, leniency, searched=searched, resume=resume)
        spans = [(region, scan.matches(region)) for region in recognizer.supported_regions]
    except Unsupported:
        return list(recognizer.analyze(text=text, entities=[], nlp_artifacts=None))

    results = []
    for region, found in spans:
        for start, end in found:
            match = _Match(start, end)
            # As Presidio: the region in the explanation is the number's own, if parsable.
            try:
                parsed = phonenumbers.parse(text[start:end])
                region = phonenumbers.region_code_for_number(parsed)
            except phonenumbers.NumberParseException:
                pass
            results.append(recognizer._get_recognizer_result(match, text, region, None))
    return EntityRecognizer.remove_duplicates(results)
