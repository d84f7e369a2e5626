"""The leak corpus: personal data and secrets written the way careless users and attackers do.

Generated from a seed (``generate(TUNING_SEED)`` for development,
``generate(HELDOUT_SEED)`` for measurement on cases nobody tuned against), so
the project keeps the generator, not a file of fake PII. Each case carries one
value in one family's form, placed in one part of an inference event; every
value is unique within a corpus, so a leak names its case.

Families (``FAMILIES``): e-mails, phones (US and international, with a context
word, unassigned US area codes), cards, SSNs, IBANs, IP addresses, secrets as
key=value (env, JSON, YAML, URL query), HTTP auth headers, vendor keys, PEM
blocks (multi-line, literal ``\\n``, one line, truncated, lowercase armour),
Unicode forms (full-width, zero-width inside), URL-encoded and base64 e-mails,
values late in a 20 kB string, names in many shapes and places, and the rest of
Presidio's English types (ITIN, passport, licence, bank account, NHS, DEA, Bitcoin,
MAC: :mod:`tests.leak_corpus_ids`).

Out of scope, on purpose: e-mails spelled out in lower-case prose ("maria at
example dot com") are not generated; a redactor that matched "at"/"dot" prose
would mangle ordinary text. Bracketed and upper-case forms (``maria[at]example[dot]com``,
``MARIA AT EXAMPLE DOT COM``) are, in ``email_obfuscated``.

Names and places are placed only in ``inputs.text`` and ``outputs.text``, the
default ``ner_paths``: NER reads free text, not identifiers or metadata.
"""

from __future__ import annotations

import base64
import random
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.leak_corpus_ids import id_family_makers
from tests.leak_corpus_values import (
    _HEADER_FORMS,
    _SECRET_FORMS,
    _VENDOR,
    CITIES,
    NAME_TEMPLATES,
    PLACE_TEMPLATES,
    TITLES,
    _card,
    _email,
    _fullwidth,
    _iban_value,
    _intl_phone,
    _ip,
    _long,
    _name,
    _password,
    _pem,
    _ssn,
    _unassigned_phone,
    _Unique,
    _us_phone,
    _zero_width,
)

TUNING_SEED = 1400
HELDOUT_SEED = 1414

#: Where a case's text sits in the event.
PLACES = ("text", "output", "feature", "prediction", "protected", "metadata", "metadata_list")
NER_PLACES = ("text", "output")
LONG_PLACES = ("long_metadata", "long_text")


@dataclass(frozen=True)
class LeakCase:
    """One value that must not survive, the text carrying it and where that text goes."""

    case_id: str
    family: str
    #: The entity a redactor should report (``SECRET`` family-wide for credentials).
    entity: str
    value: str
    text: str
    place: str
    #: Further strings that must not appear (decoded forms, PEM body lines).
    extra: tuple[str, ...] = ()
    #: For names: whether the name is written capitalised (the NER recall goal's subset).
    capitalised: bool = True
    tags: tuple[str, ...] = field(default=())

    @property
    def needles(self) -> tuple[str, ...]:
        """Every string whose presence in output means this case leaked."""
        return (self.value, *self.extra)

    def event(self, seq: int = 0) -> dict[str, Any]:
        """A valid inference event (schema v1) with :attr:`text` at :attr:`place`."""
        body: dict[str, Any] = {
            "schema_version": 1,
            "event_id": f"leak-{self.case_id}-{seq}",
            "timestamp": "2026-03-01T12:00:00.000Z",
            "model": {"name": "leak-corpus", "version": "1.0"},
            "inputs": {"features": {"age": 41.0}},
            "outputs": {"prediction": "ok"},
            "metadata": {"region": "eu"},
        }
        place = self.place
        if place in ("text", "long_text"):
            body["inputs"]["text"] = self.text
        elif place == "output":
            body["outputs"]["text"] = self.text
        elif place == "feature":
            body["inputs"]["features"]["note"] = self.text
        elif place == "prediction":
            body["outputs"]["prediction"] = self.text
        elif place == "protected":
            body["subject"] = {"protected": {"group": self.text}}
        elif place == "metadata":
            body["metadata"]["thread"] = {"turn": {"notes": self.text}}
        elif place == "metadata_list":
            body["metadata"]["items"] = ["first", {"n": 2, "body": self.text}]
        elif place == "long_metadata":
            body["metadata"]["log"] = self.text
        else:  # pragma: no cover - PLACES is closed
            raise ValueError(place)
        return body


def _families(rng: random.Random, unique: _Unique) -> dict[str, Callable[[int], LeakCase]]:
    """family -> make(i) of one case (text with the value; place chosen by the caller)."""

    def case(family: str, entity: str, value: str, text: str, **kw: Any) -> LeakCase:
        return LeakCase("", family, entity, value, text, "", **kw)

    def email(i: int) -> LeakCase:
        v = unique(_email)
        text = rng.choice(
            [
                "Please send the report to {v} by Friday.",
                "Contact: <{v}>",
                "mailto:{v}",
                "My email is {v}, reply there.",
                "cc {v};bob-team@lists",
            ]  # fmt: skip
        )
        return case("email", "EMAIL_ADDRESS", v, text.format(v=v))

    def phone(i: int) -> LeakCase:
        make = rng.choice([_us_phone, _intl_phone])
        v = unique(make)
        text = rng.choice(
            [
                "Call me on {v} after five.",
                "My cell number is {v}.",
                "tel: {v}",
                "You can reach me at {v} tomorrow.",
                "Text me on WhatsApp: {v}",
            ]  # fmt: skip
        )
        return case("phone", "PHONE_NUMBER", v, text.format(v=v))

    def phone_unassigned(i: int) -> LeakCase:
        v = unique(_unassigned_phone)
        text = rng.choice(
            [
                "You can reach me at {v}.",
                "Call me at {v} tonight.",
                "my mobile: {v}",
                "Phone {v} if the door is locked.",
            ]  # fmt: skip
        )
        return case("phone_unassigned", "PHONE_NUMBER", v, text.format(v=v))

    def card(i: int) -> LeakCase:
        v = unique(_card)
        text = rng.choice(["My card number is {v}, why was it declined?", "card: {v} exp 09/28"])
        return case("card", "CREDIT_CARD", v, text.format(v=v))

    def ssn(i: int) -> LeakCase:
        v = unique(_ssn)
        text = rng.choice(["My social security number is {v} for the form.", "SSN {v}"])
        return case("ssn", "US_SSN", v, text.format(v=v))

    def iban(i: int) -> LeakCase:
        v = unique(_iban_value)
        text = rng.choice(["Transfer the deposit to IBAN {v} please.", "IBAN: {v}"])
        return case("iban", "IBAN_CODE", v, text.format(v=v))

    def ip(i: int) -> LeakCase:
        v = unique(_ip)
        text = rng.choice(["The server at {v} keeps timing out.", "client_ip={v} status=500"])
        return case("ip", "IP_ADDRESS", v, text.format(v=v))

    def secret_assignment(i: int) -> LeakCase:
        form, template = rng.choice(_SECRET_FORMS)
        v = unique(_password)
        text = "My config has this, is it right?\n" + template.format(v=v)
        return case("secret_assignment", "SECRET", v, text, tags=(form,))

    def auth_header(i: int) -> LeakCase:
        template, make = rng.choice(_HEADER_FORMS)
        v = unique(make)
        text = f"curl fails with these headers:\n{template.format(v=v)}\nAccept: */*"
        return case("auth_header", "SECRET", v, text, tags=(template.split(":")[0],))

    def vendor_key(i: int) -> LeakCase:
        vendor, make = rng.choice(_VENDOR)
        v = unique(make)
        text = rng.choice(["Why does the client reject {v}?", "key={v}", "use {v} for the demo"])
        return case("vendor_key", "SECRET", v, text.format(v=v), tags=(vendor,))

    def pem(i: int) -> LeakCase:
        block, lines, form = _pem(rng)
        while any(line in unique.seen for line in lines):  # pragma: no cover - 64 random chars
            block, lines, form = _pem(rng)
        unique.seen.update(lines)
        text = f"Here is my key, what format is it? {block} thanks"
        return case("pem", "PRIVATE_KEY", lines[0], text, extra=tuple(lines[1:]), tags=(form,))

    def unicode_form(i: int) -> LeakCase:
        kind = rng.choice(["fw_email", "fw_phone", "fw_card", "zw_email", "zw_phone", "zw_ssn"])
        if kind.endswith("email"):
            plain, entity, template = unique(_email), "EMAIL_ADDRESS", "write to {v} today"
        elif kind.endswith("phone"):
            plain, entity, template = unique(_us_phone), "PHONE_NUMBER", "call me at {v}"
        elif kind.endswith("card"):
            plain, entity, template = unique(_card), "CREDIT_CARD", "card number {v}"
        else:
            plain, entity, template = unique(_ssn), "US_SSN", "my SSN is {v}"
        v = _fullwidth(plain) if kind.startswith("fw") else _zero_width(plain, rng)
        return case("unicode", entity, v, template.format(v=v), extra=(plain,), tags=(kind,))

    def encoded(i: int) -> LeakCase:
        plain = unique(_email)
        kind = rng.choice(["url", "url_query", "base64"])
        if kind == "base64":
            v = base64.b64encode(plain.encode()).decode()
            text = rng.choice(["token: {v}", "decode {v} please", "user={v}"]).format(v=v)
        else:
            v = urllib.parse.quote(plain, safe="")
            text = (
                f"https://shop.example.com/unsubscribe?email={v}&id=7"
                if kind == "url_query"
                else f"the log line says user {v} failed"
            )
        return case("encoded", "EMAIL_ADDRESS", v, text, extra=(plain,), tags=(kind,))

    def long_string(i: int) -> LeakCase:
        kind, make, template, entity = rng.choice(
            [
                ("email", _email, "send it to {v} later", "EMAIL_ADDRESS"),
                ("phone", _us_phone, "call me on {v} tonight", "PHONE_NUMBER"),
                ("card", _card, "card number {v}", "CREDIT_CARD"),
                ("ssn", _ssn, "my SSN is {v}", "US_SSN"),
                ("iban", _iban_value, "IBAN {v}", "IBAN_CODE"),
            ]
        )
        v = unique(make)
        return case("long_string", entity, v, _long(rng, template.format(v=v)), tags=(kind,))

    def person(i: int) -> LeakCase:
        v, shape = "", ""
        capitalised = True
        for _ in range(1000):
            v, shape, capitalised = _name(rng)
            if v not in unique.seen:
                break
        unique.seen.add(v)
        written = v
        if shape == "title":
            written = f"{rng.choice(TITLES)} {v}"
        text = rng.choice(NAME_TEMPLATES).format(v=written)
        return case("person", "PERSON", v, text, capitalised=capitalised, tags=(shape,))

    def location(i: int) -> LeakCase:
        v = rng.choice([c for c in CITIES if c not in unique.seen])
        unique.seen.add(v)
        return case("location", "LOCATION", v, rng.choice(PLACE_TEMPLATES).format(v=v))

    return {
        "email": email,
        "phone": phone,
        "phone_unassigned": phone_unassigned,
        "card": card,
        "ssn": ssn,
        "iban": iban,
        "ip": ip,
        "secret_assignment": secret_assignment,
        "auth_header": auth_header,
        "vendor_key": vendor_key,
        "pem": pem,
        "unicode": unicode_form,
        "encoded": encoded,
        "long_string": long_string,
        "person": person,
        "location": location,
        **id_family_makers(rng, unique, case),
    }


#: Cases per family: ≥ 400 in all; names get more (many shapes).
COUNTS = {
    "email": 24, "phone": 28, "phone_unassigned": 16, "card": 24, "ssn": 20, "iban": 24,
    "ip": 20, "secret_assignment": 32, "auth_header": 24, "vendor_key": 30, "pem": 20,
    "unicode": 30, "encoded": 24, "long_string": 20, "person": 56, "location": 30,
    # Appended last, so the families above keep their cases (the rng is shared).
    "us_itin": 16, "us_passport": 16, "us_driver_license": 16, "us_bank": 16, "uk_nhs": 16,
    "medical_license": 16, "crypto": 16, "email_obfuscated": 16, "mac_address": 16,
}  # fmt: skip
FAMILIES = tuple(COUNTS)
NER_FAMILIES = ("person", "location")


def generate(seed: int = TUNING_SEED) -> list[LeakCase]:
    """The corpus of ``seed``: the same cases, in the same order, on every run."""
    from dataclasses import replace

    rng = random.Random(seed)
    unique = _Unique(rng)
    makers = _families(rng, unique)
    cases: list[LeakCase] = []
    for family, count in COUNTS.items():
        places = (
            NER_PLACES
            if family in NER_FAMILIES
            else LONG_PLACES
            if family == "long_string"
            else PLACES
        )
        for i in range(count):
            made = makers[family](i)
            cases.append(
                replace(made, case_id=f"{seed}-{family}-{i}", place=places[i % len(places)])
            )
    return cases
