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
