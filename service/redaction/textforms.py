"""What Guardian redacts in one text: Presidio's findings, and those its forms hide.

:meth:`GuardianAnalyzer.find` gives plain Presidio's findings (exactly, only
faster). Written the way careless users and attackers write, PII slips past
them; :func:`detect` adds, in original offsets,

* the findings in the text's plain form (:mod:`service.redaction.normalize`:
  NFKC, invisible characters removed, digits of every script, look-alike
  letters, ``%XX`` decoded), mapped back to the original characters;
* the findings in base64 tokens that decode to text
  (:mod:`service.redaction.encoded`), each redacting its whole token;
* phone-shaped numbers next to a phone context word that libphonenumber calls
  invalid or unassigned (:mod:`service.redaction.phone_context`).

Every form is analysed by the same ``find`` (prefilters, recognizers, context,
threshold and allow-list of the policy), so the prefilter only ever decides
on the text it gates. The original text is always analysed as it is too:
Guardian's findings include Presidio's. Plain ASCII text without ``%XX``, base64
tokens or phone shapes pays three regex scans and nothing else.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

from service.redaction.encoded import decoded_tokens, joined
from service.redaction.normalize import plain_view
from service.redaction.phone_context import SCORE, phone_findings

if TYPE_CHECKING:
    from service.redaction.engine import Finding, GuardianAnalyzer

_PHONE = "PHONE_NUMBER"


def detect(analyzer: GuardianAnalyzer, text: str, entities: tuple[str, ...]) -> list[Finding]:
    """Findings in ``text`` and in its plain and decoded forms, in original offsets."""
    found = _analysed(analyzer, text, entities)
    extra: list[Finding] = []
    view = plain_view(text)
    if view is not None:
        for entity, start, end, score in _analysed(analyzer, view.text, entities):
            first, last = view.original_span(start, end)
            extra.append((entity, first, last, score))
    tokens = decoded_tokens(text)
    if tokens and found:
        # A token inside a finding already (a JWT's segments, a key) is replaced whole.
        outside = set(_not_covered([(t.start, t.end) for t in tokens], found))
        tokens = [t for t in tokens if (t.start, t.end) in outside]
    if tokens:
        join = joined(tokens)
        inner = _analysed(analyzer, join.text, entities)
        # Unicode forms inside the decoded text too (its %-escapes would be a second level).
        inner_view = plain_view(join.text, percent=False)
        if inner_view is not None:
            for entity, start, end, score in _analysed(analyzer, inner_view.text, entities):
                inner.append((entity, *inner_view.original_span(start, end), score))
        for entity, start, end, score in inner:
            for token in join.tokens_in(start, end):
                extra.append((entity, token.start, token.end, score))
    if extra and found:
        # Inside a finding of the text as written (a JWT whose payload decodes to a
        # number, the same e-mail), another one redacts nothing more: not reported.
        kept = set(_not_covered([(start, end) for _e, start, end, _s in extra], found))
        extra = [f for f in extra if (f[1], f[2]) in kept]
    return _merged(found + extra) if extra else found


def _analysed(analyzer: GuardianAnalyzer, text: str, entities: tuple[str, ...]) -> list[Finding]:
    found = analyzer.find(text, entities)
    policy = analyzer.policy
    if _PHONE in entities and policy.score_threshold <= SCORE:
        spans = phone_findings(text)
        if spans and found:
            # A number inside a finding already made (a card, the same phone) adds nothing
            # but a second entity name for the same characters.
            spans = _not_covered(spans, found)
        if spans and policy.allow_list:
            spans = _allowed_removed(analyzer, text, spans)
        if spans:
            found = _merged([*found, *((_PHONE, start, end, SCORE) for start, end in spans)])
    return found


def _not_covered(spans: list[tuple[int, int]], found: list[Finding]) -> list[tuple[int, int]]:
    """The spans no finding contains (one sort and a bisection each: linear-logarithmic)."""
    ordered = sorted((start, end) for _e, start, end, _s in found)
    starts = [start for start, _end in ordered]
    reach = list(accumulate((end for _start, end in ordered), max))
    kept = []
    for start, end in spans:
        i = bisect_right(starts, start) - 1  # findings starting at or before this span
        if i < 0 or reach[i] < end:
            kept.append((start, end))
    return kept


def _allowed_removed(
    analyzer: GuardianAnalyzer, text: str, spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The policy's allow-list applied as Presidio applies it to its own findings."""
    from presidio_analyzer import RecognizerResult

    results = [RecognizerResult(_PHONE, start, end, SCORE) for start, end in spans]
    kept = analyzer.remove_allowed(results, text)
    return [(r.start, r.end) for r in kept]


def _merged(found: list[Finding]) -> list[Finding]:
    """One finding per (entity, span), the highest score; sorted as ``find`` sorts."""
    best: dict[tuple[str, int, int], float] = {}
    for entity, start, end, score in found:
        key = (entity, start, end)
        if score > best.get(key, -1.0):
            best[key] = score
    return sorted((entity, start, end, score) for (entity, start, end), score in best.items())
