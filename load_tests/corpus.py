"""Seeded, realistic corpus of LLM prompts and outputs, some carrying PII or secrets.

Shape of real inference logs: lengths from 50 to 2,000 characters, about a
third of the texts carry personal data or a credential, and many texts repeat
exactly (system prompts, popular questions, canned refusals), drawn with a
Zipf-like popularity. Used by ``load_tests.bench_redaction`` and the tests.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CorpusItem:
    """One text and the PII values injected into it (empty for clean texts)."""

    text: str
    pii: tuple[tuple[str, str], ...]  # (entity, value)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def email(rng: random.Random) -> str:
    user = rng.choice(["john.doe", "maria", "a.schmidt", "li.wei", "kofi_mensah", "priya.r"])
    domain = rng.choice(["example.com", "mail.de", "corp.co.uk", "uni.edu"])
    return f"{user}{rng.randint(1, 999)}@{domain}"


def phone(rng: random.Random) -> str:
    """A US number that libphonenumber considers valid (as Presidio requires)."""
    import phonenumbers

    area = rng.choice(["212", "415", "617", "312", "206", "303"])
    while True:
        number = f"({area}) {rng.randint(200, 899)}-{rng.randint(1000, 9999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
            return number


def credit_card(rng: random.Random) -> str:
    digits = _luhn_complete(rng.choice(["4", "51", "55"]), 16, rng)
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random) -> str:
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    numeric = int(bban + "131400")  # "DE" -> 13 14, then "00"
    check = 98 - numeric % 97
    return f"DE{check:02d}{bban}"


def ip_address(rng: random.Random) -> str:
    return (
        f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    )


def us_ssn(rng: random.Random) -> str:
    return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def aws_key(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def github_token(rng: random.Random) -> str:
    return "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))


def slack_token(rng: random.Random) -> str:
    tail = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
    return f"xoxb-{rng.randint(10**11, 10**12 - 1)}-{rng.randint(10**11, 10**12 - 1)}-{tail}"


def jwt(rng: random.Random) -> str:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    sig = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(43))
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': str(rng.randint(1, 10**6))})}.{sig}"


def private_key(rng: random.Random) -> str:
    lines = [
        "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(64))
        for _ in range(4)
    ]
    return (
        "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"
    )


def password(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "!#%") for _ in range(12))


#: entity -> (value generator, sentence templates with ``{v}``).
PII_KINDS: dict[str, tuple[Callable[[random.Random], str], tuple[str, ...]]] = {
    "EMAIL_ADDRESS": (email, ("Please send the report to {v} by Friday.", "My email is {v}.")),
    "PHONE_NUMBER": (phone, ("Call me on my phone at {v} after five.", "My cell number is {v}.")),
    "CREDIT_CARD": (credit_card, ("My card number is {v}, why was it declined?",)),
    "IBAN_CODE": (iban, ("Transfer the deposit to IBAN {v} please.",)),
    "IP_ADDRESS": (ip_address, ("The server at {v} keeps timing out.",)),
    "US_SSN": (us_ssn, ("My social security number is {v} for the form.",)),
    "AWS_ACCESS_KEY": (aws_key, ("Why does boto fail with key {v}?",)),
    "GITHUB_TOKEN": (github_token, ("I set GH_TOKEN to {v} but push fails.",)),
    "SLACK_TOKEN": (slack_token, ("Our bot uses {v} to post messages.",)),
    "JWT": (jwt, ("Decode this token for me: {v}",)),
    "PRIVATE_KEY": (private_key, ("Here is my key, what format is it?\n{v}\n",)),
    "SECRET": (password, ("The config has password={v} in it, is that fine?",)),
}

_TASKS = [
    "Summarize the following text in three bullet points.",
    "Translate the paragraph below into French, keeping the tone.",
    "Write a Python function that parses a CSV file and returns the rows as dicts.",
    "Explain the difference between a process and a thread to a beginner.",
    "Draft a polite reply to a customer asking about a late delivery.",
    "Rewrite this paragraph so that it is easier to read.",
    "What are the pros and cons of microservices for a small team?",
    "Give me a recipe for a vegetarian lasagna for six people.",
]
_SENTENCES = [
    "The quarterly results exceeded expectations across most regions.",
    "Our team migrated the service to a new cluster last week without downtime.",
    "Customers mentioned that the onboarding flow felt long and confusing.",
    "The model was retrained on fresh data and evaluated against the holdout set.",
    "Please keep the answer short and avoid technical jargon where possible.",
    "In the meantime, the support queue has grown steadily since the release.",
    "A good first step is to reproduce the issue with a minimal example.",
    "Consider caching the results so that repeated queries are cheaper.",
    "The committee will review the proposal at its next meeting.",
    "Each step should be documented so that a new engineer can follow it.",
    "Latency improved after we moved the database closer to the application servers.",
    "We should compare both options on cost, risk and time to deliver.",
]
_OUTPUTS = [
    "Sure! Here is a summary of the main points:",
    "Certainly. Below is a step-by-step explanation.",
    "Here is a possible implementation:",
    "Great question. Let me break it down.",
]
_CANNED = [
    "I'm sorry, but I can't help with that request. Is there anything else?",
    "You are a helpful assistant. Answer concisely and cite sources when you can.",
    "Thanks for reaching out! Could you share more details about the problem?",
    "Summarize the following text in three bullet points.",
    "I don't have access to real-time data, but here is what I know as of my last update.",
    "def add(a, b):\n    return a + b\n\nThis function returns the sum of its two arguments.",
]


def _paragraph(rng: random.Random, length: int) -> str:
    parts: list[str] = []
    size = 0
    while size < length:
        s = rng.choice(_SENTENCES)
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)


def _fresh(rng: random.Random, cap: int = 1850) -> str:
    length = int(min(cap, max(50, rng.lognormvariate(5.6, 0.8))))
    if rng.random() < 0.5:
        return rng.choice(_TASKS) + "\n\n" + _paragraph(rng, length - 60)
    return rng.choice(_OUTPUTS) + "\n" + _paragraph(rng, length - 40)


def make_corpus(n: int, seed: int = 7, pii_share: float = 1 / 3) -> list[CorpusItem]:
    """``n`` texts of 50–2,000 characters; about ``pii_share`` carry PII or a secret.

    About a third of the clean texts are exact repeats (canned texts and a pool
    of popular prompts picked with a Zipf-like popularity), as in real logs.
    """
    rng = random.Random(seed)
    popular = [_fresh(rng) for _ in range(40)] + list(_CANNED)
    weights = [1 / (rank + 1) for rank in range(len(popular))]
    kinds = sorted(PII_KINDS)
    items: list[CorpusItem] = []
    for _ in range(n):
        if rng.random() < pii_share:
            base = _fresh(rng, cap=1500)
            pii = []
            for _ in range(rng.choice((1, 1, 2))):
                entity = rng.choice(kinds)
                make, templates = PII_KINDS[entity]
                value = make(rng)
                sentence = rng.choice(templates).format(v=value)
                cut = base.rfind(". ", 0, rng.randint(0, len(base)))
                base = base[: cut + 2] + sentence + " " + base[cut + 2 :]
                pii.append((entity, value))
            items.append(CorpusItem(base, tuple(pii)))
        elif rng.random() < 0.5:
            items.append(CorpusItem(rng.choices(popular, weights)[0], ()))
        else:
            items.append(CorpusItem(_fresh(rng), ()))
    return items
