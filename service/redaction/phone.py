"""Presidio's phone recognizer with libphonenumber's matcher run once per text, not per region.

``PhoneRecognizer.analyze`` runs one ``PhoneNumberMatcher`` pass per configured
region. Most of each pass does not depend on the region: finding candidates
with the matcher's ``_PATTERN``, trimming them, the date and time-stamp
checks, the inner-match splitting and the checks on neighbouring characters.
Only ``parse(candidate, region)`` and the leniency check do. :class:`PhoneScan`
replays the matcher's control flow for each region (same search positions,
same advance after a match or a failure, same ``max_tries`` accounting) and
shares the region-free steps between the passes of one text; the
region-dependent step is memoised per ``(candidate, region, leniency)``, a pure
function of its key. The result is the matcher's matches, in the same order,
for every region (a test compares it with ``PhoneNumberMatcher`` directly).

It mirrors python-phonenumbers 9.0.x (pinned through presidio-analyzer); the
module-private names it reads are imported explicitly so an upgrade that
renames them fails loudly at start, and the differential tests pin the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.redaction.phone_ceiling import too_long
from service.redaction.prefilter import MIN_PHONE_DIGITS

if TYPE_CHECKING:
    pass


class _Lib:
    """python-phonenumbers' names, bound on first use (importing it is not free)."""

    loaded = False

    def load(self) -> None:
        import phonenumbers
        from phonenumbers import phonenumbermatcher as matcher
        from phonenumbers import phonenumberutil as util
        from phonenumbers.phonenumber import CountryCodeSource
        from phonenumbers.re_util import fullmatch

        self.phonenumbers = phonenumbers
        self.PhoneNumberMatcher = phonenumbers.PhoneNumberMatcher
        self.UNSPECIFIED = CountryCodeSource.UNSPECIFIED
        self.verify = matcher._verify
        self.parse = util.parse
        self.NumberParseException = util.NumberParseException
        self.PATTERN = matcher._PATTERN
        self.SECOND_NUMBER_START = util._SECOND_NUMBER_START_PATTERN
        self.UNWANTED_END_CHAR = util._UNWANTED_END_CHAR_PATTERN
        self.SLASH_SEPARATED_DATES = matcher._SLASH_SEPARATED_DATES
        self.TIME_STAMPS = matcher._TIME_STAMPS
        self.TIME_STAMPS_SUFFIX = matcher._TIME_STAMPS_SUFFIX
        self.INNER_MATCHES = matcher._INNER_MATCHES
        self.LEAD_PATTERN = matcher._LEAD_PATTERN
        self.MATCHING_BRACKETS = matcher._MATCHING_BRACKETS
        self.PUB_PAGES = matcher._PUB_PAGES
        self.VALID = matcher.Leniency.VALID
        self.fullmatch = fullmatch
        self.PLUS_CHARS = util._PLUS_CHARS
        self.PhoneMetadata = phonenumbers.PhoneMetadata
        self.region_codes_for_country_code = util.region_codes_for_country_code
        self.loaded = True


_L: Any = _Lib()

#: Bound of the cross-text parse memo (entries, ~200 bytes each).
_MEMO_MAX = 50_000
_MEMO: dict[tuple[str, str, int], Any] = {}
_FAILED = object()


def _parse_verified(candidate: str, region: str, leniency: int, matcher: Any) -> Any:
    """``_parse_and_verify``'s region-dependent half: the cleared number, or ``_FAILED``."""
    key = (candidate, region, leniency)
    found = _MEMO.get(key)
    if found is None:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        found = _FAILED
        # A valid number's national significant number has at least MIN_PHONE_DIGITS
        # digits (more in most regions, see region_floor), each drawn from a digit or
        # (vanity numbers) a letter of the candidate; and, written plainly, at most a
        # region's ceiling (service.redaction.phone_ceiling).
        if leniency >= _L.VALID:
            digits = sum(1 for ch in candidate if ch.isdigit() or ch.isalpha())
            if (
                digits < MIN_PHONE_DIGITS
                or (
                    digits < region_floor(region)
                    and not any(ch in _L.PLUS_CHARS for ch in candidate)
                )
                or too_long(candidate, digits, region)
            ):
                _MEMO[key] = found
                return found
        try:
            numobj = _L.parse(candidate, region, keep_raw_input=True)
            if _L.verify(leniency, numobj, candidate, matcher):
                numobj.country_code_source = _L.UNSPECIFIED
                numobj.raw_input = None
                numobj.preferred_domestic_carrier_code = None
                found = numobj
        except _L.NumberParseException:
            pass
        _MEMO[key] = found
    return found


#: Digits an international-prefix (IDD) number needs at least: one IDD digit, one
#: country-code digit and a national significant number of MIN_PHONE_DIGITS.
_IDD_FLOOR = 1 + 1 + MIN_PHONE_DIGITS
_FLOORS: dict[str, int] = {}


def region_floor(region: str) -> int:
    """Fewest digit-like characters a candidate without a plus sign needs to be valid here.

    Without a plus sign ``parse(candidate, region)`` takes the country code either
    from ``region`` (then the national significant number, a subset of the
    candidate's digits, must have a length listed in ``general_desc.possible_length``
    of a region sharing that country code, or ``is_valid_number`` fails), or after
    an international dialling prefix (then the candidate holds the prefix, a country
    code and a national number: at least :data:`_IDD_FLOOR` digits). Anything the
    metadata does not pin down falls back to :data:`MIN_PHONE_DIGITS`.
    """
    floor = _FLOORS.get(region)
    if floor is None:
        if not _L.loaded:
            _L.load()
        floor = MIN_PHONE_DIGITS
        meta = _L.PhoneMetadata.metadata_for_region(region)
        if meta is not None and meta.country_code:
            shortest: list[int] = []
            for code in _L.region_codes_for_country_code(meta.country_code):
                other = _L.PhoneMetadata.metadata_for_region(code)
                lengths = other.general_desc.possible_length if other is not None else ()
                if not lengths or min(lengths) < 1:
                    shortest = []
                    break
                shortest.append(min(lengths))
            if shortest:
                floor = max(MIN_PHONE_DIGITS, min(min(shortest), _IDD_FLOOR))
        _FLOORS[region] = floor
    return floor


class Unsupported(Exception):
    """A case the replay does not model: use the library's matcher for this text."""


class PhoneScan:
    """The region-free parts of ``PhoneNumberMatcher`` for one text, computed once.

    Parameters
    ----------
    text
        The analysed text.
    leniency
        libphonenumber leniency (Presidio's default is 1, ``VALID``).
    max_tries
        The matcher's budget of failed candidates per pass (its default).
    searched
        Candidate searches already done for this text by
        :func:`service.redaction.prefilter.phone_may_match` (same computation).
    resume
        Where the budget runs out, start a fresh one at the candidate it ran out on
        instead of stopping: the library leaves the rest of a long text unscanned
        (a phone number late in ~100 kB of digit groups is never looked at). Every
        match the library reports is still reported, in the same order, first.
    """

    def __init__(
        self,
        text: str,
        leniency: int,
        max_tries: int = 65535,
        searched: dict[int, tuple[int, str] | None] | None = None,
        resume: bool = False,
    ) -> None:
        if not _L.loaded:
            _L.load()
        self.text = text
        self.leniency = leniency
        self.max_tries = max_tries
        self.resume = resume
        #: Where the last pass ran out of budget: (this candidate's search index, the
        #: next one's); the first when the candidate may be only partly tried.
        self._stopped: tuple[int, int] | None = None
        # A real matcher: its helper methods and the _verify hook take one.
        self._matcher = _L.PhoneNumberMatcher(text, "ZZ", leniency=leniency)
        # Candidate searches already done (by ``phone_may_match``) are reused as they are.
        self._search: dict[int, tuple[int, str] | None] = dict(searched or {})
        self._skip: dict[tuple[int, str], bool] = {}
        self._plain: dict[tuple[str, int], bool] = {}
        self._inner: dict[str, list[list[tuple[str, int, str, int]]]] = {}

    # -- region-free steps ---------------------------------------------------------
    def _candidate_at(self, index: int) -> tuple[int, str] | None:
        """``_PATTERN.search(text, index)`` and the trailing trim: (start, candidate)."""
        if index in self._search:
            return self._search[index]
        match = _L.PATTERN.search(self.text, index)
        found: tuple[int, str] | None = None
        if match is not None:
            start = match.start()
            candidate = self.text[start : match.end()]
            trailing = _L.SECOND_NUMBER_START.search(candidate)
            if trailing:
                candidate = candidate[: trailing.start()]
            if not candidate:
                raise Unsupported  # the matcher would not advance; not modelled
            found = (start, candidate)
        self._search[index] = found
        return found

    def _skipped(self, candidate: str, offset: int) -> bool:
        """``_extract_match``'s date and time-stamp checks (True: no match here)."""
        key = (offset, candidate)
        hit = self._skip.get(key)
        if hit is None:
            # The library matches the suffix against a copy of the rest of the text (a
            # cost linear in the text per candidate); ``match`` at the position is the
            # same test (the suffix pattern is a plain ``:[0-5]\\d``) without the copy.
            hit = bool(_L.SLASH_SEPARATED_DATES.search(candidate)) or bool(
                _L.TIME_STAMPS.search(candidate)
                and _L.TIME_STAMPS_SUFFIX.match(self.text, offset + len(candidate))
            )
            self._skip[key] = hit
        return hit

    def _plausible(self, candidate: str, offset: int) -> bool:
        """``_parse_and_verify``'s checks before parsing (brackets, pages, neighbours)."""
        key = (candidate, offset)
        hit = self._plain.get(key)
        if hit is None:
            matcher = self._matcher
            text = self.text
            hit = True
            if not _L.fullmatch(_L.MATCHING_BRACKETS, candidate) or _L.PUB_PAGES.search(candidate):
                hit = False
            elif self.leniency >= _L.VALID:
                if offset > 0 and not _L.LEAD_PATTERN.match(candidate):
                    previous = text[offset - 1]
                    if matcher._is_invalid_punctuation_symbol(previous) or matcher._is_latin_letter(
                        previous
                    ):
                        hit = False
                last = offset + len(candidate)
                if hit and last < len(text):
                    following = text[last]
                    if matcher._is_invalid_punctuation_symbol(
                        following
                    ) or matcher._is_latin_letter(following):
                        hit = False
            self._plain[key] = hit
        return hit

    def _inner_steps(self, candidate: str) -> list[list[tuple[str, int, str, int]]]:
        """Per inner pattern, its successive group matches: (prefix, 0, group, group offset)."""
        steps = self._inner.get(candidate)
        if steps is None:

            def trim(value: str) -> str:
                cut = _L.UNWANTED_END_CHAR.search(value)
                return value[: cut.start()] if cut else value

            steps = []
            for pattern in _L.INNER_MATCHES:
                found = []
                group_match = pattern.search(candidate)
                while group_match:
                    found.append(
                        (
                            trim(candidate[: group_match.start()]),
                            0,
                            trim(group_match.group(1)),
                            group_match.start(1),
                        )
                    )
                    group_match = pattern.search(candidate, group_match.start() + 1)
                steps.append(found)
            self._inner[candidate] = steps
        return steps

    # -- one region's pass ---------------------------------------------------------
    def _verified(self, candidate: str, offset: int, region: str) -> tuple[int, int] | None:
        if not self._plausible(candidate, offset):
            return None
        if _parse_verified(candidate, region, self.leniency, self._matcher) is _FAILED:
            return None
        return (offset, offset + len(candidate))

    def matches(self, region: str) -> list[tuple[int, int]]:
        """``[(m.start, m.end) for m in PhoneNumberMatcher(text, region, leniency)]``.

        With ``resume``, followed by the matches of fresh budgets past where it stops.
        """
        tries = [self.max_tries]
        out: list[tuple[int, int]] = []
        index = 0
        resumed_at = -1
        while True:
            self._stopped = None
            found = self._find(index, region, tries)
            if found is None:
                if not self.resume or self._stopped is None:
                    return out
                # Retry the candidate the budget ran out on, unless it already had a
                # whole fresh budget (a budget smaller than one candidate's tries).
                same, following = self._stopped
                index = following if same == resumed_at else same
                resumed_at = index
                tries[0] = self.max_tries
                continue
            out.append(found)
            index = found[1]

    def _find(self, index: int, region: str, tries: list[int]) -> tuple[int, int] | None:
        hit = self._candidate_at(index)
        while hit is not None:
            if tries[0] <= 0:
                self._stopped = (index, index)
                return None
            start, candidate = hit
            match = self._extract(candidate, start, region, tries)
            if match is not None:
                return match
            following = start + len(candidate)
            if tries[0] <= 0:
                self._stopped = (index, following)  # possibly not every inner match tried
                return None
            tries[0] -= 1
            index = following
            hit = self._candidate_at(index)
        return None

    def _extract(
        self, candidate: str, offset: int, region: str, tries: list[int]
    ) -> tuple[int, int] | None:
        if self._skipped(candidate, offset):
            return None
        match = self._verified(candidate, offset, region)
        if match is not None:
            return match
        for found in self._inner_steps(candidate):
            first = True
            for prefix, _zero, group, group_offset in found:
                if tries[0] <= 0:
                    break
                if first:
                    match = self._verified(prefix, offset, region)
                    if match is not None:
                        return match
                    tries[0] -= 1
                    first = False
                match = self._verified(group, offset + group_offset, region)
                if match is not None:
                    return match
                tries[0] -= 1
        return None
