"""Values, names and forms the leak corpus draws from (see :mod:`tests.leak_corpus`).

Kept apart from the families so that each module stays readable; the draws, and
so every seeded corpus, are the same as when they were one module.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable

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
