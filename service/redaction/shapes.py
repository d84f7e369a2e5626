"""PII shapes outside free text: long numbers, identifiers, dict keys.

Presidio analyses text. Three places see PII in another form and decide here,
locally and cheaply (no worker round-trip, so a structured event stays cheap):

* **numbers** in scanned fields: an integer with 9 or more digits may be a card,
  an SSN or a phone number written as a JSON number (:func:`number_entity`);
* **identifiers** (``event_id``, ``tenant``, ``model.name``, ``model.version``)
  are never redacted, because Guardian keys, joins and labels metrics by them:
  one that looks like PII sends the event to the DLQ (:func:`identifier_entity`);
* **DLQ keys and error details**: what the dead-letter record may keep
  (:func:`plain_key`, :func:`mask_shapes`).

The rules differ on purpose. A value that is redacted by mistake costs one
value, so :func:`number_entity` favours recall (any Luhn-valid 13–19 digits is a
card, any 10–15 digits a phone). An identifier that is refused by mistake costs
the whole event, and identifiers carry counters, epoch times and snowflake ids,
so :func:`identifier_entity` needs the shape PII is written in: a card needs a
card scheme's prefix as well as the Luhn digit, a phone or SSN its digit groups.

Examples
--------
>>> number_entity(4111111111111111), number_entity(2125550100), number_entity(41)
('CREDIT_CARD', 'PHONE_NUMBER', None)
>>> identifier_entity("7b0c6a9e-5f0e-4f43-9a49-2d2b9c1f6f10"), identifier_entity("212-555-0100")
(None, 'PHONE_NUMBER')
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

#: Entities :func:`identifier_entity` and :func:`mask_shapes` recognise.
IDENTIFIER_ENTITIES = (
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
)

#: Smallest magnitude of a number that is scanned (9 digits).
NUMBER_FLOOR = 100_000_000
_NUMBER_CEILING = 10**19  # 20 digits and more: no PII shape has them

# IBAN length per country (SWIFT IBAN registry).
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Card scheme prefixes (IIN): Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37, Diners
# 30/36/38, Discover 6011/644-649/65, JCB 35, UnionPay 62. Epoch-millisecond and snowflake
# ids start with 1, so a Luhn-valid one is not taken for a card.
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[0478]|35|6)")

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<![\d\w])\d{3}([-. ])\d{2}\1\d{4}(?![\d\w])")
# A card written with or without single space/dash separators.
_CARD = re.compile(r"(?<![\d\w])\d(?:[ -]?\d){12,18}(?![\d\w])")
# A phone in digit groups: at least two groups (a bare run of digits is a counter, an
# epoch time or an id far more often than a phone), optional parentheses around one.
_PHONE = re.compile(r"(?<![\d\w+])\+?\(?\d{1,4}\)?(?:[ .\-/]\(?\d{1,5}\)?){1,5}(?![\d\w])")
_NANP = re.compile(r"^\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}$")
# Conditions every shape needs, tested one by one (one alternation is slower than
# three searches here): nine digits and separators in a row (card, SSN, phone), a digit
# on each side of a dot (IPv4), two letters then two digits (IBAN), '@', '::' or seven
# colons (IPv6). A UUID meets none.
_DIGIT_RUN = re.compile(r"[0-9][0-9 .()\-/+]{8}")
_DOTTED = re.compile(r"[0-9]\.[0-9]")
_IBAN_HEAD = re.compile(r"[A-Za-z]{2}[0-9]{2}")


# A canonical UUID is an identifier by construction: digit runs inside it are hex
# groups, not a card or a phone written there. The most common event id costs one match.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _may_hold(text: str) -> bool:
    if len(text) == 36 and _UUID.fullmatch(text):
        return False
    return (
        "@" in text
        or "::" in text
        or text.count(":") >= 7
        or _DIGIT_RUN.search(text) is not None
        or _DOTTED.search(text) is not None
        or _IBAN_HEAD.search(text) is not None
    )


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def ssn_valid(digits: str) -> bool:
    """Presidio's ``UsSsnRecognizer.invalidate_result`` rules, on nine digits.

    Except that the published sample numbers (``123-45-6789``, ``078-05-1120``)
    count: outside free text nothing says they are an example, so fail closed.
    """
    if len(digits) != 9 or digits == digits[0] * 9:
        return False
    return not (digits[3:5] == "00" or digits[5:] == "0000" or digits[:3] in ("000", "666"))


def iban_valid(text: str) -> bool:
    """Country length and ISO 7064 mod-97 check of an IBAN (spaces ignored)."""
    iban = text.replace(" ", "").upper()
    if _IBAN_LENGTH.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def number_entity(value: object) -> str | None:
    """The PII entity a JSON number with 9 or more digits reads as, else ``None``.

    Cards: 13–19 digits passing Luhn. SSN: 9 digits passing Presidio's SSN
    checks. Phone: 10–15 digits (E.164 allows up to 15). Integral floats count
    as their integer (``4111111111111111.0``); booleans never.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = abs(value)
    elif isinstance(value, float):
        if not value.is_integer() or not -_NUMBER_CEILING < value < _NUMBER_CEILING:
            return None
        number = int(abs(value))
    else:
        return None
    if number < NUMBER_FLOOR or number >= _NUMBER_CEILING:
        return None
    return digits_entity(str(number))


def digits_entity(digits: str) -> str | None:
    """:func:`number_entity` for a string of ASCII digits."""
    n = len(digits)
    if 13 <= n <= 19 and luhn_valid(digits):
        return "CREDIT_CARD"
    if n == 9:
        return "US_SSN" if ssn_valid(digits) else None
    if 10 <= n <= 15:
        return "PHONE_NUMBER"
    return None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


def _phone_valid(digits: str, grouped: str, regions: Iterable[str]) -> bool:
    candidates: list[tuple[str, str | None]]
    if grouped.startswith("+"):
        candidates = [("+" + digits, None)]
    else:
        candidates = [(digits, region) for region in regions]
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - a dependency of presidio-analyzer
        return True  # fail closed
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True
    return False


def find_shapes(
    text: str, regions: Iterable[str] = ("US", "GB", "DE", "FR", "IN")
) -> list[tuple[str, int, int]]:
    """Every PII shape in a short string: ``(entity, start, end)``, in the order found.

    Used on identifiers and on DLQ keys and error details, never on free text
    (Presidio does that). Phones in digit groups count when they are NANP-shaped
    (``212-555-0100``, assigned or not) or valid in one of ``regions``.
    """
    if not _may_hold(text):
        return []
    found: list[tuple[str, int, int]] = []
    found += [("EMAIL_ADDRESS", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for entity, pattern, valid in _CHECKED_SHAPES:
        found += [(entity, m.start(), m.end()) for m in pattern.finditer(text) if valid(m.group())]
    for m in _PHONE.finditer(text):
        grouped = m.group()
        digits = _digits(grouped)
        if not 10 <= len(digits) <= 15:
            continue
        if any(s <= m.start() < e or m.start() <= s < m.end() for _, s, e in found):
            continue  # an IP address or SSN already covers it
        if _NANP.match(grouped) or _phone_valid(digits, grouped, regions):
            found.append(("PHONE_NUMBER", m.start(), m.end()))
    return found


def _ipv4_valid(match: str) -> bool:
    return all(int(octet) <= 255 for octet in match.split("."))


def _ipv6_valid(match: str) -> bool:
    if "::" not in match and match.count(":") != 7:
        return False
    try:
        ipaddress.IPv6Address(match)
    except ValueError:
        return False
    return True


def _card_valid(match: str) -> bool:
    digits = _digits(match)
    return luhn_valid(digits) and bool(_CARD_PREFIX.match(digits))


#: Shapes found by a pattern and kept when their check passes, in the order looked for.
_CHECKED_SHAPES: tuple[tuple[str, Any, Callable[[str], bool]], ...] = (
    ("IP_ADDRESS", _IPV4, _ipv4_valid),
    ("IP_ADDRESS", _IPV6, _ipv6_valid),
    ("US_SSN", _SSN, lambda match: ssn_valid(_digits(match))),
    ("CREDIT_CARD", _CARD, _card_valid),
    ("IBAN_CODE", _IBAN, iban_valid),
)


def identifier_entity(
    text: str, regions: Iterable[str] = ("US", "GB", "DE", "FR", "IN")
) -> str | None:
    """The first PII entity found in an identifier, or ``None`` (see :func:`find_shapes`)."""
    found = find_shapes(text, regions)
    return found[0][0] if found else None


def mask_shapes(text: str) -> str:
    """``text`` with every PII shape replaced by ``<ENTITY>`` (for DLQ details and headers)."""
    found = find_shapes(text)
    if not found:
        return text
    pieces, cursor = [], 0
    for entity, start, end in sorted(found, key=lambda f: (f[1], -f[2])):
        if start < cursor:
            continue
        pieces += [text[cursor:start], f"<{entity}>"]
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


# A key the DLQ may keep: a plain name of letters, underscores and hyphens, at most 32
# characters with at most four digits, not token-like (long, with capitals and digits),
# and no PII shape. Anything else (an e-mail, a phone, a token, an IBAN, a sentence)
# becomes ``<key:N>``.
_PLAIN_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,31}$")


def plain_key(key: str) -> bool:
    """Whether a dict key can be shown in a DLQ record or an error detail as it is."""
    if not _PLAIN_KEY.match(key):
        return False
    digits = sum(ch.isdigit() for ch in key)
    if digits > 4 or (digits and len(key) >= 16 and not key.islower()):
        return False
    return not find_shapes(key)
