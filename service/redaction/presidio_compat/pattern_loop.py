"""A copy of Presidio's private pattern loop that skips regexes whose prefilter is closed.

``PatternRecognizer.analyze`` runs every pattern of a recognizer on every text.
:func:`analyze_patterns` is the body of presidio-analyzer's private
``PatternRecognizer.__analyze_patterns`` (the verified version,
:data:`~service.redaction.presidio_compat.VERIFIED_PRESIDIO`), except that a
pattern whose necessary conditions (:mod:`service.redaction.prefilter`) do not
all hold in the text is not run: it has no match to report.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from service.redaction.prefilter import AtomChecker, RecognizerGate

logger = logging.getLogger(__name__)

#: The name-mangled private method :func:`analyze_patterns` copies; a recognizer that
#: overrides it does not get the copy.
PRESIDIO_LOOP = "_PatternRecognizer__analyze_patterns"


def analyze_patterns(rec: Any, text: str, gate: RecognizerGate, checker: AtomChecker) -> list[Any]:
    """``PatternRecognizer.analyze(text)`` without running a regex whose gate is closed.

    Same compilation and flags, same timeout, same ``validate_result`` and
    ``invalidate_result`` hooks, same explanation, score rules and
    ``remove_duplicates`` as Presidio's loop.
    """
    flags = rec.global_regex_flags
    results: list[Any] = []
    for pattern, pattern_gate in zip(rec.patterns, gate.patterns, strict=True):
        if pattern_gate.conditions and not checker.opens_pattern(pattern_gate):
            continue
        if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
            pattern.compiled_with_flags = flags
            pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
        try:
            for match in pattern.compiled_regex.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                start, end = match.span()
                if start == end:
                    continue  # an empty match: Presidio skips ``current_match == ""``
                _add_match(rec, pattern, text, start, end, flags, results)
        except TimeoutError:
            logger.warning(
                "Regex pattern '%s' timed out after %s seconds, skipping.",
                pattern.name,
                REGEX_TIMEOUT_SECONDS,
                exc_info=True,
            )
    return EntityRecognizer.remove_duplicates(results)


def _add_match(
    rec: Any, pattern: Any, text: str, start: int, end: int, flags: int, results: list[Any]
) -> None:
    """One match of ``pattern``, scored and explained as Presidio's loop does it."""
    current_match = text[start:end]
    score = pattern.score
    validation_result = rec.validate_result(current_match)
    description = rec.build_regex_explanation(
        rec.name, pattern.name, pattern.regex, score, validation_result, flags
    )
    pattern_result = RecognizerResult(
        entity_type=rec.supported_entities[0],
        start=start,
        end=end,
        score=score,
        analysis_explanation=description,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: rec.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id,
        },
    )
    if validation_result is not None:
        pattern_result.score = (
            EntityRecognizer.MAX_SCORE if validation_result else EntityRecognizer.MIN_SCORE
        )
    invalidation_result = rec.invalidate_result(current_match)
    if invalidation_result is not None and invalidation_result:
        pattern_result.score = EntityRecognizer.MIN_SCORE
    if pattern_result.score > EntityRecognizer.MIN_SCORE:
        results.append(pattern_result)
    description.score = pattern_result.score
