"""Lowercase people's names (which the NER model misses) from the census name lists."""

from __future__ import annotations

import pytest

from service.redaction.lowercase_names import LowercaseNames


@pytest.fixture(scope="module")
def names() -> LowercaseNames:
    return LowercaseNames.load()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("can you check whether olivia kowalski signed the form?", ["olivia kowalski"]),
        ("dear claire hoffman, your subscription was renewed", ["claire hoffman"]),
        ("ask sean o'brien or patricia nguyen", ["sean o'brien", "patricia nguyen"]),
        ("tom white called twice", ["tom white"]),
        ("forward it to maria gonzalez-ruiz today", ["maria gonzalez-ruiz"]),
    ],
)
def test_lowercase_first_and_last_name_pairs_are_found(
    names: LowercaseNames, text: str, expected: list[str]
) -> None:
    assert [text[s:e] for s, e in names.find(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "i love new york",
        "the grace period ends in may",
        "please mark the date and will call back",
        "a little more time for the best man",
        "we need to pick up the kids from school at five",
        "carry the load, then turn left at the park",
        "Olivia Kowalski signed",  # capitalised: the model's job, not this rule's
        "else we'll see",
    ],
)
def test_everyday_phrases_and_capitalised_names_are_left_alone(
    names: LowercaseNames, text: str
) -> None:
    assert names.find(text) == []
