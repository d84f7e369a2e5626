"""Candidates with too many digits to be a valid number of a region, told without parsing.

libphonenumber parses every phone candidate under every configured region and
then runs ``is_valid_number`` on the result; most candidates in inference logs
(card numbers, long ids) parse and then fail validation. For a candidate written
only with ASCII digits and the separators ``" -.()/"`` (so no plus sign, no
extension, no vanity letters), not starting with the region's international
dialling prefix, ``parse(candidate, region)`` takes the region's country code and
builds the national significant number by removing from the candidate's digits
the country code when the digits start with it (written without a plus) and a
national prefix: twice when the country code came off, once otherwise.
``is_valid_number`` then needs that number's length to be one of
``general_desc.possible_length`` of a region sharing the country code. So a
candidate with more digits than that allows (:func:`region_ceiling`) is never
valid there, and :func:`too_long` says so before anything is parsed.

Regions whose metadata does not pin this down (a national prefix that is a
pattern or comes with a transform rule, a region without possible lengths)
have no ceiling: their candidates are all parsed, as before. A property test
compares :func:`too_long` with libphonenumber (``tests/unit/test_redaction_phone.py``).
"""

from __future__ import annotations

import re
from typing import Any

#: The characters a candidate may hold for :func:`too_long` to judge it.
_SHAPE = frozenset("0123456789 -.()/")
_LITERAL_PREFIXES = re.compile(r"\d+(?:\|\d+)*")

#: Per region: (longest national number, country code, longest national prefix, the
#: international prefix), or None.
_CEILINGS: dict[str, tuple[int, str, int, Any] | None] = {}


def _prefix_strip(meta: Any) -> int | None:
    """Most digits one national-prefix strip removes; ``None`` when not a plain literal."""
    prefix = meta.national_prefix_for_parsing
    if not prefix:
        return 0
    if meta.national_prefix_transform_rule or not _LITERAL_PREFIXES.fullmatch(prefix):
        return None
    return max(len(alternative) for alternative in prefix.split("|"))


def region_ceiling(region: str) -> tuple[int, str, int, Any] | None:
    """What bounds the digits of a plus-less, IDD-less candidate valid in ``region``.

    The longest national significant number of the regions sharing its country
    code, the country code, the longest national prefix, and the compiled
    international prefix; ``None`` when the metadata does not bound it (see the
    module docstring).
    """
    if region in _CEILINGS:
        return _CEILINGS[region]
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import region_codes_for_country_code

    ceiling: tuple[int, str, int, Any] | None = None
    meta = PhoneMetadata.metadata_for_region(region)
    strip = _prefix_strip(meta) if meta is not None else None
    if meta is not None and meta.country_code and meta.international_prefix and strip is not None:
        longest: list[int] = []
        for code in region_codes_for_country_code(meta.country_code):
            other = PhoneMetadata.metadata_for_region(code)
            desc = other.general_desc if other is not None else None
            lengths = desc.possible_length if desc is not None else ()
            if not lengths or min(lengths) < 1:
                longest = []
                break
            longest.append(max(lengths))
        if longest:
            code = str(meta.country_code)
            ceiling = (max(longest), code, strip, re.compile(meta.international_prefix))
    _CEILINGS[region] = ceiling
    return ceiling


def too_long(candidate: str, digits: int, region: str) -> bool:
    """Whether ``candidate`` (``digits`` of them) has too many digits to be valid in ``region``.

    ``False`` means only that this check cannot tell: libphonenumber decides.
    """
    ceiling = region_ceiling(region)
    if ceiling is None:
        return False
    longest, code, strip, idd = ceiling
    if digits <= longest + strip or not _SHAPE.issuperset(candidate):
        return False
    numerals = "".join(ch for ch in candidate if ch.isdigit())
    if numerals.startswith(code) and digits <= longest + len(code) + 2 * strip:
        return False  # the country code and two national prefixes may come off
    # An international prefix (matched as parse matches it) brings its own country code.
    return idd.match(numerals) is None
