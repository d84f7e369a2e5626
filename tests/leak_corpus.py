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
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.leak_corpus_ids import id_family_makers

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


# --------------------------------------------------------------------------- values


class _Unique:
    """Draws values until one is new: every value in a corpus is distinct."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def __call__(self, make: Callable[[random.Random], str]) -> str:
        for _ in range(1000):
            value = make(self.rng)
            if value not in self.seen and not any(value in s or s in value for s in self.seen):
                self.seen.add(value)
                return value
        raise RuntimeError("value space exhausted")


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits


def _luhn(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _chars(rng, string.digits, length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country) + "00"
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


_USERS = ["maria", "j.doe", "kofi", "li.wei", "a.schmidt", "priya", "tom_h", "nadia.k", "olu"]
_DOMAINS = ["example.com", "mail.de", "corp.co.uk", "uni.edu", "gmail.com", "proton.me"]


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_USERS)}{rng.randint(10, 9999)}@{rng.choice(_DOMAINS)}"


def _us_phone(rng: random.Random) -> str:
    import phonenumbers

    while True:
        area = rng.choice(["212", "415", "617", "312", "206", "303", "512", "646"])
        a, b = rng.randint(200, 899), rng.randint(1000, 9999)
        number = rng.choice(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {} {} {}"]).format(
            area, a, b
        )
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
            return number


def _intl_phone(rng: random.Random) -> str:
    kind = rng.choice(["uk", "de", "fr", "in"])
    if kind == "uk":
        return f"+44 20 7{rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if kind == "de":
        return f"+49 30 {rng.randint(100000, 999999)}"
    if kind == "fr":
        return f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} 00"
    return f"+91 22 {rng.randint(2000, 2999)} {rng.randint(1000, 9999)}"


def _unassigned_phone(rng: random.Random) -> str:
    """Area codes libphonenumber calls unassigned: plain Presidio drops these."""
    area = rng.choice(["397", "398", "399", "529", "533", "536"])
    return f"{area}-{rng.randint(200, 899)}-{rng.randint(1000, 9999)}"


def _card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "mc", "amex"])
    if kind == "amex":
        d = _luhn(rng.choice(["34", "37"]), 15, rng)
        return rng.choice([f"{d[:4]} {d[4:10]} {d[10:]}", d])
    d = _luhn("4" if kind == "visa" else rng.choice(["51", "55"]), 16, rng)
    sep = rng.choice([" ", "-", ""])
    return sep.join(d[i : i + 4] for i in range(0, 16, 4))


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(101, 665) if n != 666])
    return f"{area}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def _iban_value(rng: random.Random) -> str:
    kind = rng.choice(["DE", "GB", "FR"])
    if kind == "DE":
        value = _iban("DE", _chars(rng, string.digits, 18))
    elif kind == "GB":
        value = _iban("GB", "NWBK" + _chars(rng, string.digits, 14))
    else:
        value = _iban("FR", _chars(rng, string.digits, 23))
    if rng.random() < 0.5:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        first, last = rng.randint(11, 223), rng.randint(1, 254)
        return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{last}"
    return "2001:db8:" + ":".join(f"{rng.randint(1, 0xFFFF):x}" for _ in range(6))


def _password(rng: random.Random) -> str:
    return _chars(rng, ALNUM, rng.randint(10, 14)) + rng.choice("!#%") + _chars(rng, ALNUM, 3)


def _opaque(rng: random.Random) -> str:
    return _chars(rng, ALNUM, rng.randint(28, 40))


# --------------------------------------------------------------------------- names and places

FIRST = [
    "Maria", "James", "Olivia", "Daniel", "Sophie", "Michael", "Emma", "Robert", "Laura",
    "Thomas", "Hannah", "William", "Claire", "Peter", "Rachel", "David", "Julia", "Kevin",
]  # fmt: skip
LAST = [
    "Gonzalez", "Whitaker", "Jensen", "Kowalski", "Harrison", "Fischer", "Brennan", "Castillo",
    "Thompson", "Novak", "Sullivan", "Romano", "Lindgren", "Carter", "Hoffman", "Delgado",
]  # fmt: skip
TITLES = ["Dr.", "Mr.", "Mrs.", "Ms.", "Prof."]
HYPHENATED = [
    ("Anne-Marie", "Dubois"), ("Jean-Luc", "Moreau"), ("Mary-Kate", "Olsen-Reed"),
    ("Hans-Peter", "Vogel"), ("Lucy", "Lopez-Garcia"), ("Marie-Claire", "Fontaine"),
]  # fmt: skip
APOSTROPHES = [
    ("Seán", "O'Brien"), ("Liam", "O'Connor"), ("Chiara", "D'Angelo"), ("Niamh", "O'Sullivan"),
    ("Patrick", "O'Neill"), ("Luca", "Dell'Acqua"), ("Siobhan", "O'Malley"),
]  # fmt: skip
NON_ENGLISH = [
    ("Björn", "Lindqvist"), ("Nguyễn Văn", "An"), ("Aisha", "Al-Farsi"), ("François", "Lefèvre"),
    ("Zoë", "Müller"), ("José", "Ramírez"), ("Małgorzata", "Kowalska"), ("Şebnem", "Yıldız"),
    ("Oluwaseun", "Adeyemi"), ("Hiroshi", "Tanaka"), ("Søren", "Kjærgaard"), ("Ingrid", "Åström"),
    ("Priya", "Raghunathan"), ("Chen", "Wei"), ("Dmitri", "Volkov"), ("Mehmet", "Öztürk"),
    ("Javier", "Peña"), ("Kwame", "Mensah"), ("Fatima", "Zahra"), ("Yuki", "Nakamura"),
]  # fmt: skip
NAME_TEMPLATES = [
    "My name is {v} and I need help with my account.",
    "Please forward the contract to {v} before Friday.",
    "{v} reported the outage yesterday afternoon.",
    "Write a short thank-you note to {v} for the presentation.",
    "The patient, {v}, was admitted on Monday with chest pain.",
    "Hi, this is {v}. Can you summarise the attached notes?",
    "Dear {v}, your subscription has been renewed.",
    "Can you check whether {v} already signed the form?",
]
CITIES = [
    "Stockholm", "Marseille", "Rotterdam", "Barcelona", "Edinburgh", "Krakow", "Nairobi",
    "Osaka", "Melbourne", "Toronto", "Chicago", "Denver", "Lisbon", "Vienna", "Dublin",
    "Seattle", "Munich", "Hamburg", "Boston", "Atlanta", "Istanbul", "Mumbai", "Lagos",
    "Santiago", "Montreal", "Copenhagen", "Helsinki", "Prague", "Budapest", "Warsaw",
    "Manchester", "Birmingham", "Glasgow", "Phoenix", "Houston", "Zurich", "Geneva", "Milan",
    "Naples", "Seville", "Valencia", "Antwerp", "Bristol", "Leeds", "Cardiff", "Oslo",
]  # fmt: skip
PLACE_TEMPLATES = [
    "I moved to {v} last year and need to update my address.",
    "Our office in {v} will be closed next Monday.",
    "The parcel was shipped from {v} on Tuesday.",
    "I was born in {v} and still live there.",
    "Book me a hotel in {v} for the conference.",
]


def _name(rng: random.Random) -> tuple[str, str, bool]:
    """(value as written, shape tag, capitalised)."""
    shape = rng.choice(["plain", "title", "hyphen", "apostrophe", "foreign", "middle", "lower"])
    if shape == "hyphen":
        first, last = rng.choice(HYPHENATED)
        if rng.random() < 0.5:
            first = rng.choice(FIRST)
        return f"{first} {last}", shape, True
    if shape == "apostrophe":
        first, last = rng.choice(APOSTROPHES)
        return f"{rng.choice([first, rng.choice(FIRST)])} {last}", shape, True
    if shape == "foreign":
        first, last = rng.choice(NON_ENGLISH)
        return f"{first} {last}", shape, True
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if shape == "middle":
        return f"{first} {rng.choice(string.ascii_uppercase)}. {last}", shape, True
    if shape == "lower":
        return f"{first.lower()} {last.lower()}", shape, False
    return f"{first} {last}", shape, True


# --------------------------------------------------------------------------- families


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _zero_width(text: str, rng: random.Random) -> str:
    i = rng.randint(1, len(text) - 2)
    return text[:i] + rng.choice(["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad"]) + text[i:]


_FILLER = (
    "The service restarted after the deploy and the health checks passed again. ",
    "We compared the latency histograms before and after the change. ",
    "Nothing in the queue looked unusual until the nightly batch started. ",
    "The team agreed to revisit the retry policy next sprint. ",
)


def _long(rng: random.Random, sentence: str, size: int = 20_000) -> str:
    parts: list[str] = []
    total = 0
    while total < size:
        piece = rng.choice(_FILLER)
        parts.append(piece)
        total += len(piece)
    return "".join(parts) + sentence + " " + rng.choice(_FILLER)


def _pem(rng: random.Random) -> tuple[str, list[str], str]:
    """(block as written, body lines, form)."""
    form = rng.choice(["multiline", "escaped", "oneline", "truncated", "lowercase"])
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    lines = [_chars(rng, ALNUM + "+/", 64) for _ in range(rng.randint(3, 5))]
    head, tail = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
    if form == "lowercase":
        head, tail = head.lower(), tail.lower()
    if form == "multiline" or form == "lowercase":
        block = "\n".join([head, *lines, tail])
    elif form == "escaped":
        block = "\\n".join([head, *lines, tail])
    elif form == "oneline":
        block = " ".join([head, *lines, tail])
    else:
        block = "\n".join([head, *lines])
    return block, lines, form


_SECRET_FORMS: list[tuple[str, str]] = [
    ("env", "DB_PASSWORD={v}"),
    ("env", "export MYSQL_PWD={v}"),
    ("env", "GITHUB_TOKEN={v}"),
    ("env", "AWS_SECRET_ACCESS_KEY={v}"),
    ("env", "SMTP_Passwd='{v}'"),
    ("env", "app.secretKey = {v}"),
    ("json", '{{"db_password": "{v}", "host": "db.internal"}}'),
    ("json", '{{"clientSecret":"{v}"}}'),
    ("json", '{{"auth": {{"apiKey": "{v}"}}}}'),
    ("yaml", "database:\n  password: {v}\n  user: app"),
    ("yaml", "api_key: {v}"),
    ("yaml", 'private_key_passphrase: "{v}"'),
    ("url", "https://api.example.com/v1/items?access_token={v}&page=2"),
    ("url", "GET /export?user=7&apikey={v} HTTP/1.1"),
    ("url", "postgres://app:{v}@db.internal:5432/prod"),
    ("cli", "mysql -u root --password={v} prod"),
]
_HEADER_FORMS: list[tuple[str, Callable[[random.Random], str]]] = [
    ("Authorization: Bearer {v}", _opaque),
    ("authorization: bearer {v}", _opaque),
    (
        "Authorization: Basic {v}",
        lambda r: base64.b64encode(f"user{r.randint(1, 999)}:{_password(r)}".encode()).decode(),
    ),
    ("Proxy-Authorization: Basic {v}", lambda r: base64.b64encode(_password(r).encode()).decode()),
    ("Authorization: Token {v}", _opaque),
    (
        'Authorization: Digest username="app", realm="api", nonce="abc", response="{v}"',
        lambda r: _chars(r, "0123456789abcdef", 32),
    ),
    ("X-Api-Key: {v}", _opaque),
    ("X-Auth-Token: {v}", _opaque),
]
_VENDOR: list[tuple[str, Callable[[random.Random], str]]] = [
    ("openai", lambda r: "sk-" + _chars(r, ALNUM, 48)),
    ("openai_proj", lambda r: "sk-proj-" + _chars(r, ALNUM + "-_", 56)),
    ("stripe", lambda r: r.choice(["sk_live_", "rk_live_"]) + _chars(r, ALNUM, 24)),
    ("google", lambda r: "AIza" + _chars(r, ALNUM + "-_", 35)),
    ("gitlab", lambda r: "glpat-" + _chars(r, ALNUM + "-_", 20)),
    (
        "slack",
        lambda r: (
            f"xox{r.choice('bpa')}-{r.randint(10**10, 10**11)}-{r.randint(10**10, 10**11)}-"
            + _chars(r, ALNUM, 24)
        ),
    ),
    ("github", lambda r: r.choice(["ghp_", "gho_", "ghs_"]) + _chars(r, ALNUM, 36)),
    ("github_pat", lambda r: "github_pat_" + _chars(r, ALNUM, 22) + "_" + _chars(r, ALNUM, 59)),
    ("huggingface", lambda r: "hf_" + _chars(r, string.ascii_letters, 34)),
    (
        "aws",
        lambda r: r.choice(["AKIA", "ASIA"]) + _chars(r, string.ascii_uppercase + "234567", 16),
    ),
]


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
