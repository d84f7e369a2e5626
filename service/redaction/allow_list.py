"""The policy's allow-list, applied to findings Guardian adds to Presidio's.

Presidio applies the allow-list inside ``AnalyzerEngine.analyze``; findings
made outside it (phones next to a context word, :mod:`.phone_context`) get the
same step here, written against Presidio's documented behaviour: ``exact``
drops a finding whose text is a listed term, ``regex`` one whose text the
listed patterns (joined by ``|``, compiled with ``analyze``'s flags) search.
"""

from __future__ import annotations

import logging
from typing import Any

import regex

from service.redaction.policy import RedactionPolicy

logger = logging.getLogger(__name__)

#: Seconds one allow-list search may take (Presidio's ``REGEX_TIMEOUT_SECONDS``).
REGEX_TIMEOUT_S = 60


def remove_allowed(results: list[Any], policy: RedactionPolicy, text: str, flags: int) -> list[Any]:
    """``results`` (with ``start``/``end``) whose text the policy's allow-list does not allow."""
    terms = list(policy.allow_list)
    if policy.allow_list_match == "exact":
        return [r for r in results if text[r.start : r.end] not in terms]
    terms = [term for term in terms if term]
    if not terms:
        return list(results)
    compiled = regex.compile("|".join(terms), flags=flags)
    kept = []
    for result in results:
        try:
            if not compiled.search(text[result.start : result.end], timeout=REGEX_TIMEOUT_S):
                kept.append(result)
        except TimeoutError:
            logger.warning("allow-list regex timed out; keeping the finding")
            kept.append(result)
    return kept
