"""Leak-corpus families for the rest of Presidio's English types, and e-mails written to dodge.

US ITINs, passports, driver's licences and bank accounts, UK NHS numbers, DEA
registration numbers (``MEDICAL_LICENSE``), Bitcoin addresses (``CRYPTO``) and
MAC addresses. Values pass the checksums Presidio checks (NHS modulus 11, the
DEA check digit, Base58Check), so a redactor that validates finds them; the
weakly shaped ones (passport, licence, bank account) come with the context
word a person writes next to them, as plain Presidio needs. ``email_obfuscated``
writes addresses the way people hide them from scrapers (``jane[at]example[dot]com``,
``JANE AT EXAMPLE DOT COM``); plain Presidio has no recognizer for those.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable
from typing import Any

Make = Callable[[random.Random], str]
#: The DEA registrant-type letters Presidio accepts first.
_DEA_FIRST = "ABCDEFGHJKLMPRSTUX"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def itin(rng: random.Random) -> str:
    group = rng.choice([*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)])
    return f"9{_digits(rng, 2)}-{group}-{_digits(rng, 4)}"


def passport(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return str(rng.randint(1, 9)) + _digits(rng, 8)
    return rng.choice(string.ascii_uppercase) + _digits(rng, 8)


def driver_license(rng: random.Random) -> str:
    shape = rng.choice(["A7", "A8", "A12", "AA6"])
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(2 if shape == "AA6" else 1))
    return letters + _digits(rng, int(shape.lstrip("A")))


def bank_account(rng: random.Random) -> str:
    return str(rng.randint(1, 9)) + _digits(rng, rng.randint(9, 13))


def nhs(rng: random.Random) -> str:
    while True:
        body = _digits(rng, 9)
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
        if check == 11:
            check = 0
        if check != 10:
            number = body + str(check)
            sep = rng.choice([" ", "-", ""])
            return sep.join((number[:3], number[3:6], number[6:]))


def dea(rng: random.Random) -> str:
    first = rng.choice(_DEA_FIRST)
    second = rng.choice(string.ascii_uppercase)
    body = _digits(rng, 6)
    d = [int(c) for c in body]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return f"{first}{second}{body}{check}"


def _base58check(payload: bytes) -> str:
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(payload + checksum, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _BASE58[rest] + out
    leading = len(payload + checksum) - len((payload + checksum).lstrip(b"\0"))
    return "1" * leading + out


def bitcoin(rng: random.Random) -> str:
    version = rng.choice([b"\x00", b"\x05"])  # P2PKH ("1…") or P2SH ("3…")
    return _base58check(version + bytes(rng.randrange(256) for _ in range(20)))


def mac(rng: random.Random) -> str:
    octets = [f"{rng.randrange(256):02X}" for _ in range(6)]
    if rng.random() < 0.5:
        octets = [o.lower() for o in octets]
    form = rng.choice([":", "-", "."])
    if form == ".":
        joined = "".join(octets)
        return ".".join(joined[i : i + 4] for i in range(0, 12, 4))
    return form.join(octets)


_USERS = ("maria.k", "j.doe", "kofi", "li.wei", "priya_r", "tom.h", "nadia", "olu")
_HOSTS = ("example", "mailbox", "corp", "uni", "proton")
_TLDS = ("com", "org", "de", "co.uk", "edu", "io")


def obfuscated_email(rng: random.Random) -> str:
    user = rng.choice(_USERS) + str(rng.randint(1, 999))
    host, tld = rng.choice(_HOSTS), rng.choice(_TLDS)
    style = rng.choice(["square", "round", "curly", "upper", "mixed"])
    if style == "upper":
        return f"{user.upper()} AT {host.upper()} DOT {tld.upper().replace('.', ' DOT ')}"
    if style == "mixed":
        return f"{user} [at] {host}.{tld}"
    o, c = {"square": "[]", "round": "()", "curly": "{}"}[style]
    dot = f"{o}dot{c}" if rng.random() < 0.5 else f" {o}dot{c} "
    at = f"{o}at{c}" if rng.random() < 0.5 else f" {o}at{c} "
    return f"{user.replace('.', dot)}{at}{host}{dot}{tld.replace('.', dot)}"


#: family -> (entity, value maker, templates with the context a person writes).
ID_FAMILIES: dict[str, tuple[str, Make, tuple[str, ...]]] = {
    "us_itin": (
        "US_ITIN",
        itin,
        (
            "My ITIN is {v}, I do not have an SSN.",
            "taxpayer id: {v}",
            "Please use ITIN {v} on the W-7 form.",
        ),
    ),
    "us_passport": (
        "US_PASSPORT",
        passport,
        (
            "My passport number is {v}.",
            "US passport {v}, expires next May",
            "travel document: {v}",
        ),
    ),
    "us_driver_license": (
        "US_DRIVER_LICENSE",
        driver_license,
        (
            "driver's license {v}",
            "My driving licence number is {v}.",
            "DL# {v} issued in Ohio. License renewed last year.",
        ),
    ),
    "us_bank": (
        "US_BANK_NUMBER",
        bank_account,
        (
            "Please debit account {v} on the first.",
            "bank acct {v}",
            "Checking account number: {v}",
        ),
    ),
    "uk_nhs": (
        "UK_NHS",
        nhs,
        (
            "NHS number {v}",
            "Patient NHS no. {v}, seen in clinic today.",
            "nhs: {v}",
        ),
    ),
    "medical_license": (
        "MEDICAL_LICENSE",
        dea,
        (
            "Prescriber DEA {v}",
            "DEA certificate number {v} on the script.",
            "the doctor's DEA registration is {v}",
        ),
    ),
    "crypto": (
        "CRYPTO",
        bitcoin,
        (
            "Send the refund to my wallet {v}",
            "BTC address: {v}",
            "pay {v} before noon",
        ),
    ),
    "email_obfuscated": (
        "EMAIL_ADDRESS",
        obfuscated_email,
        (
            "reach me at {v} (no spam please)",
            "Contact: {v}",
            "write to {v} if the form breaks",
        ),
    ),
    "mac_address": (
        "MAC_ADDRESS",
        mac,
        (
            "device mac {v} dropped off the network",
            "MAC address: {v}",
            "ethernet {v} seen on port 4",
        ),
    ),
}


def id_family_makers(
    rng: random.Random,
    unique: Callable[[Make], str],
    case: Callable[..., Any],
) -> dict[str, Callable[[int], Any]]:
    """family -> make(i), in the style of :func:`tests.leak_corpus._families`."""

    def maker(family: str) -> Callable[[int], Any]:
        entity, make, templates = ID_FAMILIES[family]

        def make_case(i: int) -> Any:
            value = unique(make)
            return case(family, entity, value, rng.choice(templates).format(v=value))

        return make_case

    return {family: maker(family) for family in ID_FAMILIES}
