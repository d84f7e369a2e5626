"""Synthetic inference events with known PII, drift and bias, reproducible from a seed.

Three models stand in for a serving fleet:

- ``credit-risk`` — tabular: ``age``, ``income``, ``debt_ratio`` (numeric),
  ``country``, ``employment`` (categorical); a binary prediction with a score;
  protected attributes ``gender`` and ``age_band``. Drift shifts ``income`` by
  ``drift_sigma`` standard deviations from ``drift_at``; bias lowers the
  approval rate of ``gender=f`` to ``bias_ratio`` of the others from ``bias_at``.
- ``support-chat`` — an LLM: prompts and answers, some carrying e-mail
  addresses, phone numbers, card numbers, IBANs, IPs and pasted secrets.
- ``fraud-detect`` — tabular with a string feature typed by people.

Every value is generated here; nothing is real personal data.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST_NAMES = ["alice", "bob", "chen", "dana", "emeka", "fatima", "goran", "hana", "ivan", "jun"]
LAST_NAMES = ["smith", "garcia", "kim", "nowak", "okafor", "rossi", "tanaka", "weber"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]
COUNTRIES = ["DE", "FR", "US", "IN", "BR", "JP"]
EMPLOYMENT = ["salaried", "self-employed", "student", "retired"]
GENDERS = ["f", "m", "x"]
AGE_BANDS = ["18-29", "30-39", "40-49", "50-64", "65+"]

PROMPTS = [
    "Please summarise my last three invoices and tell me which one is overdue.",
    "How do I reset the password on my account? The app keeps failing.",
    "Write a polite reply to a customer who wants a refund for order {order}.",
    "Translate 'the delivery is late' into German and French.",
    "What are the opening hours of the Berlin office?",
    "Draft an email to the team about the outage yesterday between {h1}:00 and {h2}:00.",
]
PII_PROMPTS = [
    "My email is {email}, can you update my contact details?",
    "Call me back on {phone} about the claim, please.",
    "I paid with card {card} but was charged twice, please refund.",
    "Transfer the refund to IBAN {iban}, account holder {name}.",
    "The server at {ip} keeps timing out when I log in as {email}.",
    "My SSN is {ssn}, please verify my identity.",
    "Here's my config: aws_access_key_id={aws} region=eu-west-1, why does it fail?",
    "Debug this: password={password} in settings.py and the login fails",
]
ANSWERS = [
    "Sure, here is a summary of your request. Let me know if anything else is needed.",
    "I have updated your details. You will receive a confirmation shortly.",
    "I cannot help with that, but a human agent will contact you.",
]

CARDS = ["4111111111111111", "5500 0000 0000 0004", "3400 000000 00009", "4012888888881881"]
IBANS = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
SSNS = ["078-05-1120", "219-09-9999", "457-55-5462"]
PHONES = ["+1 415-555-0132", "(212) 555-0199", "+44 20 7946 0958", "+49 30 901820"]


@dataclass(frozen=True)
class DemoConfig:
    """What the synthetic fleet does, and when drift and bias start."""

    seed: int = 7
    models: tuple[str, ...] = ("credit-risk", "support-chat", "fraud-detect")
    pii_fraction: float = 0.3
    drift_at: int | None = None
    drift_model: str = "credit-risk"
    drift_feature: str = "income"
    drift_sigma: float = 2.0
    bias_at: int | None = None
    bias_model: str = "credit-risk"
    bias_ratio: float = 0.6
    label_fraction: float = 1.0
    malformed_fraction: float = 0.0
    start: datetime = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    step_ms: float = 10.0


@dataclass(frozen=True)
class DemoRecord:
    """One published message: an event (or malformed bytes) and its later label, if any."""

    index: int
    key: bytes
    value: bytes | None
    event: dict[str, Any] | None
    label: dict[str, Any] | None


class DemoStream:
    """An endless, seeded stream of events.

    Examples
    --------
    >>> stream = DemoStream(DemoConfig(seed=1, models=("credit-risk",)))
    >>> first = next(iter(stream))
    >>> first.event["model"]["name"]
    'credit-risk'
    """

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def __iter__(self) -> Iterator[DemoRecord]:
        import orjson

        rng = self._rng
        cfg = self.config
        index = 0
        while True:
            model = cfg.models[index % len(cfg.models)]
            if cfg.malformed_fraction and rng.random() < cfg.malformed_fraction:
                yield DemoRecord(index, model.encode(), self._malformed(index), None, None)
                index += 1
                continue
            event, truth = self._event(model, index)
            label = None
            if truth is not None and rng.random() < cfg.label_fraction:
                label = {
                    "schema_version": 1,
                    "event_id": event["event_id"],
                    "model": event["model"],
                    "label": truth,
                    "timestamp": event["timestamp"],
                }
            yield DemoRecord(index, model.encode(), orjson.dumps(event), event, label)
            index += 1

    # ------------------------------------------------------------------ builders
    def _timestamp(self, index: int) -> str:
        ts = self.config.start + timedelta(milliseconds=index * self.config.step_ms)
        return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _event(self, model: str, index: int) -> tuple[dict[str, Any], int | None]:
        if model == "support-chat":
            return self._chat(index), None
        if model == "fraud-detect":
            return self._fraud(index)
        return self._credit(model, index)

    def _base(self, model: str, version: str, index: int) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "event_id": self._event_id(),
            "timestamp": self._timestamp(index),
            "model": {"name": model, "version": version},
            "tenant": self._rng.choice(["acme", "globex", "initech"]),
        }

    def _credit(self, model: str, index: int) -> tuple[dict[str, Any], int]:
        rng, cfg = self._rng, self.config
        age = max(18, min(90, int(rng.gauss(42, 12))))
        income = rng.gauss(52_000, 15_000)
        if cfg.drift_at is not None and index >= cfg.drift_at and model == cfg.drift_model:
            if cfg.drift_feature == "income":
                income += cfg.drift_sigma * 15_000
        debt_ratio = min(1.0, max(0.0, rng.gauss(0.35, 0.12)))
        gender = rng.choice(GENDERS)
        band = AGE_BANDS[min(4, max(0, (age - 18) // 12))]
        # The true outcome depends on the financial features only.
        p_good = 1 / (1 + 2.718281828 ** (-(income - 45_000) / 15_000 + 2.5 * (debt_ratio - 0.35)))
        truth = 1 if rng.random() < p_good else 0
        score = min(1.0, max(0.0, p_good + rng.gauss(0, 0.1)))
        biased = cfg.bias_at is not None and index >= cfg.bias_at and model == cfg.bias_model
        if biased and gender == "f" and score >= 0.5 and rng.random() > cfg.bias_ratio:
            score = rng.uniform(0.2, 0.49)
        prediction = 1 if score >= 0.5 else 0
        event = self._base(model, "3.2.0", index)
        event["inputs"] = {
            "features": {
                "age": age,
                "income": round(income, 2),
                "debt_ratio": round(debt_ratio, 4),
                "country": rng.choice(COUNTRIES),
                "employment": rng.choice(EMPLOYMENT),
            }
        }
        event["outputs"] = {"prediction": prediction, "score": round(score, 4)}
        event["latency_ms"] = round(abs(rng.gauss(12, 4)), 2)
        event["subject"] = {"protected": {"gender": gender, "age_band": band}}
        event["metadata"] = {"channel": rng.choice(["web", "branch", "mobile"])}
        return event, truth

    def _fraud(self, index: int) -> tuple[dict[str, Any], int]:
        rng = self._rng
        amount = abs(rng.lognormvariate(4, 1))
        truth = 1 if rng.random() < 0.03 else 0
        score = min(1.0, max(0.0, (0.7 if truth else 0.1) + rng.gauss(0, 0.15)))
        event = self._base("fraud-detect", "1.4.1", index)
        note = rng.choice(["", "gift", "rent", "groceries"])
        if rng.random() < self.config.pii_fraction / 3:
            note = f"refund to {self._email()}"
        event["inputs"] = {
            "features": {
                "amount": round(amount, 2),
                "merchant_category": rng.choice(["grocery", "travel", "electronics", "fuel"]),
                "card_present": rng.random() < 0.6,
                "note": note,
            }
        }
        event["outputs"] = {"prediction": score >= 0.5, "score": round(score, 4)}
        event["latency_ms"] = round(abs(rng.gauss(4, 1)), 2)
        return event, truth

    def _chat(self, index: int) -> dict[str, Any]:
        rng = self._rng
        if rng.random() < self.config.pii_fraction:
            prompt = rng.choice(PII_PROMPTS).format(**self._pii())
        else:
            prompt = rng.choice(PROMPTS).format(
                order=rng.randint(10_000, 99_999), h1=rng.randint(0, 11), h2=rng.randint(12, 23)
            )
        event = self._base("support-chat", "2026.11", index)
        event["inputs"] = {
            "features": {"prompt_tokens": len(prompt.split()), "language": "en"},
            "text": prompt,
        }
        answer = rng.choice(ANSWERS)
        event["outputs"] = {"text": answer, "score": round(rng.uniform(0.6, 1.0), 4)}
        event["latency_ms"] = round(abs(rng.gauss(450, 120)), 1)
        event["metadata"] = {"session": f"s-{rng.randint(1, 10_000)}"}
        if rng.random() < 0.1:
            event["metadata"]["user_email"] = self._email()
        return event

    def _email(self) -> str:
        rng = self._rng
        return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}@{rng.choice(DOMAINS)}"

    def _pii(self) -> dict[str, str]:
        rng = self._rng
        return {
            "email": self._email(),
            "phone": rng.choice(PHONES),
            "card": rng.choice(CARDS),
            "iban": rng.choice(IBANS),
            "ip": f"192.0.2.{rng.randint(1, 254)}",
            "ssn": rng.choice(SSNS),
            "name": f"{rng.choice(FIRST_NAMES).title()} {rng.choice(LAST_NAMES).title()}",
            "aws": "AKIA"
            + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
            "password": "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(12)),
        }

    def _malformed(self, index: int) -> bytes:
        kinds = [
            b"not json at all",
            b"\xff\xfe\x00garbage",
            b'{"schema_version": 1, "event_id": "x"}',
            b'{"schema_version": 99, "event_id": "e", "timestamp": "2026-11-30T12:00:00Z",'
            b' "model": {"name": "m", "version": "1"}}',
            b"[" * 5000 + b"]" * 5000,
        ]
        return kinds[index % len(kinds)]
