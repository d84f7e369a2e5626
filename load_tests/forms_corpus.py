"""Seeded cases of PII written in forms recognizers miss, and look-alike negatives.

Each family writes values of the corpus generators (:data:`load_tests.corpus.PII_KINDS`)
the way careless users and attackers do. A case carries the text and every form
of the value that must not survive redaction (the value as written, its plain
ASCII form and, for encoded families, the encoded token). Negatives are texts
in the same forms that hold no PII: redacting anything in them is a false
positive. Used by ``tests/integration/test_redaction_textforms.py`` (fixed seeds) and
``load_tests.eval_textforms`` (recall against plain Presidio; keep one seed
held out).
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass
from urllib.parse import quote

from load_tests.corpus import PII_KINDS, credit_card, email, iban, phone, us_ssn

#: The phone regions of config/redaction.yaml.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN")
#: Entities every Unicode and encoding family covers.
FORM_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE")


@dataclass(frozen=True)
class FormCase:
    """A text with one PII value in some form; ``forbidden`` must all be gone after redaction."""

    family: str
    entity: str
    text: str
    forbidden: tuple[str, ...]


_INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\u00ad",  # soft hyphen
    "\ufeff",  # BOM / zero-width no-break space
    "\u180e",  # Mongolian vowel separator
    "\ufe0f",  # variation selector 16
    "\u034f",  # combining grapheme joiner
    "\u2063",  # invisible separator
]
#: Zero of decimal digit sets that render like digits (Arabic-Indic, Extended
#: Arabic-Indic, Devanagari, Bengali, Thai, full-width, mathematical bold and monospace).
_DIGIT_ZEROS = [0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10, 0x1D7CE, 0x1D7F6]
_CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "y": "у"}
_GENERATORS = {
    "EMAIL_ADDRESS": email,
    "PHONE_NUMBER": phone,
    "CREDIT_CARD": credit_card,
    "US_SSN": us_ssn,
    "IBAN_CODE": iban,
}


def _sentence(entity: str, shown: str, rng: random.Random) -> str:
    return rng.choice(PII_KINDS[entity][1]).format(v=shown)


def _full_width(value: str) -> str:
    return "".join(
        "\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in value
    )


def _with_invisible(value: str, rng: random.Random) -> str:
    chars = list(value)
    for _ in range(rng.randint(1, 3)):
        chars.insert(rng.randint(1, len(chars) - 1), rng.choice(_INVISIBLE))
    return "".join(chars)


def _look_alike(value: str, rng: random.Random) -> str:
    zero = rng.choice(_DIGIT_ZEROS)
    out = []
    for ch in value:
        if ch.isdigit():
            out.append(chr(zero + int(ch)))
        elif ch in _CYRILLIC and rng.random() < 0.5:
            out.append(_CYRILLIC[ch])
        else:
            out.append(ch)
    return "".join(out)


def _percent(value: str, rng: random.Random) -> str:
    """Some characters %-escaped, always the ones a URL would escape (@, space, parens)."""
    out = []
    for ch in value:
        if ch in "@ ()+" or rng.random() < 0.3:
            out.append("".join(f"%{b:02X}" for b in ch.encode()))
        else:
            out.append(ch)
    return "".join(out)


def _b64(text: str, rng: random.Random) -> str:
    raw = text.encode()
    token = (base64.urlsafe_b64encode if rng.random() < 0.5 else base64.b64encode)(raw).decode()
    return token.rstrip("=") if rng.random() < 0.5 else token


def unassigned_phone(rng: random.Random, regions: tuple[str, ...] = PHONE_REGIONS) -> str:
    """A US-shaped number libphonenumber rejects in every region of ``regions``, laid out
    in a common way (an unassigned area code: "You can reach me at 397-528-2064")."""
    import phonenumbers

    def valid_somewhere(number: str) -> bool:
        for region in regions:
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                    return True
            except phonenumbers.NumberParseException:
                continue
        return False

    while True:
        digits = f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}"
        a, b, c = digits[:3], digits[3:6], digits[6:]
        shown = rng.choice(
            [
                f"{a}-{b}-{c}",
                f"({a}) {b}-{c}",
                f"{a}.{b}.{c}",
                f"{a} {b} {c}",
                f"+1 {a} {b} {c}",
                f"+1-{a}-{b}-{c}",
                digits,
            ]
        )
        if not valid_somewhere(shown) and not valid_somewhere("+1" + digits):
            return shown


_PHONE_CONTEXT = [
    "You can reach me at {v}",
    "call me on {v} tonight",
    "{v} is my cell",
    "my whatsapp: {v}",
    "text me at {v} when you land",
    "fax {v}",
    "contact number {v}",
    "Mobile: {v}",
    "tel. {v}",
    "Phone {v} (after 6pm)",
    "best number to call is {v}",
]


def _metadata_filler(rng: random.Random, size: int) -> str:
    """Digit-heavy metadata, as long strings of logs and traces are."""
    parts = []
    total = 0
    while total < size:
        part = rng.choice(
            [
                f"span={rng.randint(1, 10**6)}",
                f"ts=1700{rng.randint(100000, 999999)}",
                f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
                f"lat={rng.randint(1, 999)} ms",
                f"{rng.randint(1, 99)} / {rng.randint(1, 99)} / {rng.randint(1, 99)}",
                "status=ok",
                f"node-{rng.randint(1, 64)}",
            ]
        )
        parts.append(part)
        total += len(part) + 2
    return "; ".join(parts)


FAMILIES = (
    "full_width",
    "zero_width",
    "look_alike_digits",
    "url_encoded",
    "base64",
    "phone_context_unassigned",
    "late_in_long_string",
)


def make_cases(family: str, n: int, seed: int) -> list[FormCase]:
    """``n`` cases of ``family``, entities in turn, reproducible from ``seed``."""
    rng = random.Random(f"{family}:{seed}")
    cases = []
    for i in range(n):
        entity = FORM_ENTITIES[i % len(FORM_ENTITIES)]
        value = _GENERATORS[entity](rng)
        if family == "full_width":
            shown = _full_width(value)
            text = _sentence(entity, shown, rng)
            forbidden: tuple[str, ...] = (shown, value)
        elif family == "zero_width":
            shown = _with_invisible(value, rng)
            text = _sentence(entity, shown, rng)
            forbidden = (shown, value)
        elif family == "look_alike_digits":
            shown = _look_alike(value, rng)
            text = _sentence(entity, shown, rng)
            forbidden = (shown, value)
        elif family == "url_encoded":
            shown = _percent(value, rng)
            sentence = _sentence(entity, value, rng)
            query = quote(sentence.replace(value, "\0"), safe="").replace("%00", shown)
            text = f"GET https://app.example.org/search?q={query}&lang=en HTTP/1.1"
            forbidden = (shown, value)
        elif family == "base64":
            token = _b64(_sentence(entity, value, rng), rng)
            text = f"{rng.choice(['payload', 'data', 'ctx', 'blob'])}={token} (request {i})"
            forbidden = (token, value)
        elif family == "phone_context_unassigned":
            entity = "PHONE_NUMBER"
            value = unassigned_phone(rng)
            text = rng.choice(_PHONE_CONTEXT).format(v=value)
            forbidden = (value,)
        elif family == "late_in_long_string":
            entity = ("PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD")[i % 3]
            value = _GENERATORS[entity](rng)
            text = _metadata_filler(rng, 50_000) + "; note=" + _sentence(entity, value, rng)
            forbidden = (value,)
        else:
            raise ValueError(f"unknown family {family!r}; known: {FAMILIES}")
        cases.append(FormCase(family, entity, text, forbidden))
    return cases


NEGATIVE_FAMILIES = (
    "base64_random_bytes",
    "url_encoded_prose",
    "numbers_near_context_words",
    "non_latin_prose",
)
#: Not PII, but shaped like a phone number next to a context word: the price of
#: recall over validity, reported by ``load_tests.eval_textforms``, not asserted.
KNOWN_FALSE_POSITIVES = ("ids_near_context_words",)


def make_negatives(family: str, n: int, seed: int) -> list[str]:
    """``n`` texts without PII in the forms the families above use."""
    rng = random.Random(f"neg:{family}:{seed}")
    out = []
    for i in range(n):
        if family == "base64_random_bytes":
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(12, 48)))
            token = (base64.urlsafe_b64encode if i % 2 else base64.b64encode)(raw).decode()
            out.append(f"nonce={token} session ok")
        elif family == "url_encoded_prose":
            words = rng.sample(
                ["bake", "bread", "100%", "whole", "wheat", "how", "to", "a/b", "test", "café"], 5
            )
            out.append(
                f"GET https://app.example.org/search?q={quote(' '.join(words), safe='')}&page="
                f"{rng.randint(1, 9)}"
            )
        elif family == "numbers_near_context_words":
            out.append(
                rng.choice(
                    [
                        f"call {rng.randint(2, 9)} times before noon",
                        f"call me in {rng.randint(5, 59)} minutes",
                        f"the phone has {rng.choice([64, 128, 256])} GB, {rng.randint(2, 8)} cores",
                        f"contact us at ext. {rng.randint(10, 99)}",
                        f"number of users: {rng.randint(1000, 99999)}",
                        f"call back in {rng.randint(2020, 2030)}",
                        f"text me {rng.randint(2, 5)} or {rng.randint(6, 9)} ideas",
                        f"version {rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 9)} "
                        "of the phone app",
                        f"call at 10:{rng.randint(10, 59)} on 2024-0{rng.randint(1, 9)}-1{i % 10}",
                        f"mobile traffic rose {rng.randint(1, 99)}.{rng.randint(0, 9)}% in Q3",
                        f"reach {rng.randint(100, 999)} customers by {rng.randint(1, 12)}/2025",
                        f"call the {rng.randint(2, 9)}.{rng.randint(1, 9)} release a number one",
                    ]
                )
            )
        elif family == "non_latin_prose":
            out.append(
                rng.choice(
                    [
                        "Привет, как дела? Позвони мне завтра.",
                        "请在周五之前把报告发给我。谢谢！",
                        "لدي ٣ كتب و٢ أقلام.",
                        "ｗｅｂ ＡＰＩ の　ＦＡＱ　を　ご覧ください。",
                        "Café über straße — naïve résumé",
                        "Ζήτησε τον αριθμό του δωματίου.",
                        "दो ४ पुस्तकें और ५ कलम",
                        "emoji 👍🏽 and ❤️ and 🇩🇪 flags",
                    ]
                )
                + f" ({rng.choice(string.ascii_lowercase)})"
            )
        elif family == "ids_near_context_words":
            digits = "".join(rng.choice(string.digits) for _ in range(rng.randint(10, 13)))
            out.append(
                rng.choice(
                    [
                        f"order number {digits} shipped",
                        f"call id {digits} was dropped",
                        f"contact record {digits} merged",
                        f"invoice number {digits[:4]}-{digits[4:]}",
                        f"the number of bytes is {digits}",
                    ]
                )
            )
        else:
            raise ValueError(f"unknown negative family {family!r}; known: {NEGATIVE_FAMILIES}")
    return out
