"""Hypothesis strategies shared by the tests: PII values and where they hide."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from load_tests.corpus import PII_KINDS

# Filler that cannot create findings of its own next to a value: letters, spaces, punctuation.
_FILLER = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.,;!?\n")), max_size=120
)


@st.composite
def pii_values(
    draw: st.DrawFn, kinds: tuple[str, ...] = tuple(sorted(PII_KINDS))
) -> tuple[str, str]:
    """(entity, value) drawn from the corpus generators, seeded by Hypothesis."""
    entity = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    make, _templates = PII_KINDS[entity]
    return entity, make(random.Random(seed))


@st.composite
def texts_with_pii(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Random text with 1–3 PII values injected between random filler, space-separated."""
    values = [draw(pii_values()) for _ in range(draw(st.integers(1, 3)))]
    parts = [draw(_FILLER)]
    for entity, value in values:
        # A bare random password is not detectable: it is a secret by its assignment.
        shown = f"password={value}" if entity == "SECRET" else value
        # Values are separated by a word: libphonenumber (hence Presidio) rejects a phone
        # number run straight into the digit groups of another value, by design.
        parts += [" ", shown, " and ", draw(_FILLER)]
    return "".join(parts), [v for _, v in values]


@st.composite
def events_with_pii(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """An event whose prompt, output and random nested metadata carry PII values."""
    prompt, in_values = draw(texts_with_pii())
    output, out_values = draw(texts_with_pii())
    meta_text, meta_values = draw(texts_with_pii())
    keys = draw(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=3))
    metadata: Any = meta_text
    for key in keys:
        metadata = {key: metadata} if draw(st.booleans()) else {key: [1, metadata]}
    event = {
        "schema_version": 1,
        "event_id": "e-1",
        "model": {"name": "m", "version": "1"},
        "inputs": {"text": prompt, "features": {"x": 1.0}},
        "outputs": {"text": output, "score": 0.5},
        "metadata": metadata if isinstance(metadata, dict) else {"m": metadata},
    }
    return event, in_values + out_values + meta_values


def _luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it pass Luhn."""
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@st.composite
def pii_numbers(draw: st.DrawFn) -> int:
    """A JSON number that is PII: a Luhn-valid 16-digit card or a 9-digit SSN-shaped one."""
    if draw(st.booleans()):
        body = str(draw(st.sampled_from([4, 5, 6, 3]))) + "".join(
            str(draw(st.integers(0, 9))) for _ in range(14)
        )
        return int(_luhn_complete(body))
    area = draw(st.integers(100, 665))  # no leading zero: a 9-digit number
    return int(f"{area:03d}{draw(st.integers(1, 99)):02d}{draw(st.integers(1, 9999)):04d}")


#: Where :func:`events_with_pii_everywhere` hides a value: (container path, as a key?).
PII_SLOTS = (
    ("inputs.features", False),
    ("inputs.features", True),
    ("outputs.prediction", False),
    ("subject.protected", False),
    ("metadata", False),
    ("metadata", True),
    ("metadata.list", False),
    ("metadata.nested", True),
    ("extra", False),
    ("extra", True),
)


@st.composite
def events_with_pii_everywhere(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A valid-identifier event with PII strings (values and keys) and numbers at random paths.

    Returns the event and every injected value as it would appear in JSON.
    """
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "e-1",
        "model": {"name": "m", "version": "1"},
        "inputs": {"features": {"age": 41}},
        "outputs": {"score": 0.5},
        "subject": {"protected": {"gender": "f"}},
        "metadata": {"channel": "web"},
    }
    injected: list[str] = []
    for i in range(draw(st.integers(1, 5))):
        path, as_key = draw(st.sampled_from(PII_SLOTS))
        if draw(st.integers(0, 4)) == 0 and not as_key and path != "outputs.prediction":
            number = draw(pii_numbers())
            value: Any = number
            injected.append(str(number))
        else:
            value, values = draw(texts_with_pii())
            injected.extend(values)
        if path == "outputs.prediction":
            event["outputs"]["prediction"] = value
            continue
        if path == "metadata.list":
            event["metadata"].setdefault("items", [1]).append(value)
            continue
        if path == "metadata.nested":
            target = event["metadata"].setdefault("nested", {"inner": {}})["inner"]
        elif path == "extra":
            target = event.setdefault("extra", {})
        else:
            section, _, name = path.partition(".")
            target = event[section][name] if name else event[section]
        if as_key:
            target[value] = i
        else:
            target[f"slot{i}"] = value
    return event, injected
