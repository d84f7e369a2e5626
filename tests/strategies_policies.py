"""Hypothesis strategies of redaction and retention policy *documents* (valid, unsafe, broken).

Each field is drawn from values that validate most of the time, with a share
of unsafe choices (empty lists, ``keep``, no expiry, very long durations) and
of junk (wrong types, malformed names and paths, unknown keys), so the fuzz
reaches every layer: schema, cross-field checks, unsafe-setting checks and the
running redactor.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.strategies_retention import rule_matches

ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "URL", "SECRET"]
CUSTOM = "EMPLOYEE_ID"
PATHS = ["inputs.text", "outputs.text", "metadata.**", "inputs.features.*", "metadata.note"]
BAD_PATHS = ["", "a..b", "guardian.x", "**.*.", "inputs.*x"]
OPERATORS = ["replace", "mask", "redact", "hmac", "drop", "keep"]

JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def sometimes_junk(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``valid``, now and then anything at all."""
    return st.one_of(valid, valid, valid, valid, JUNK)


def _operator() -> st.SearchStrategy[Any]:
    spec = st.fixed_dictionaries(
        {"type": st.sampled_from(OPERATORS)},
        optional={
            "mask_char": st.sampled_from(["*", "#", "", "xx"]),
            "keep_last": st.integers(-1, 10),
            "digest_chars": st.integers(4, 70),
        },
    )
    return sometimes_junk(st.one_of(st.sampled_from(OPERATORS), spec))


def _entity_list() -> st.SearchStrategy[Any]:
    names = st.sampled_from([*ENTITIES, CUSTOM, "lower_case", "PERSON"])
    return sometimes_junk(st.lists(names, max_size=4, unique=True))


def _operators() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["default", *ENTITIES, CUSTOM, "NOT_KNOWN"])
    return sometimes_junk(st.dictionaries(keys, _operator(), max_size=3))


def _scan_rule() -> st.SearchStrategy[Any]:
    return sometimes_junk(
        st.fixed_dictionaries(
            {"path": st.sampled_from(PATHS + BAD_PATHS[:1] + PATHS)},
            optional={"entities": _entity_list(), "operators": _operators()},
        )
    )


def _recognizer() -> st.SearchStrategy[Any]:
    pattern = st.fixed_dictionaries(
        {
            "name": st.sampled_from(["emp", "x"]),
            "regex": st.sampled_from([r"\bEMP-\d{6}\b", "(", r"\d+"]),
            "score": st.sampled_from([0.9, 0.5, 1.5]),
        }
    )
    return sometimes_junk(
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["employee_id", "emp"]),
                "entity": st.sampled_from([CUSTOM, "bad name"]),
                "patterns": st.lists(pattern, min_size=0, max_size=2),
            },
            optional={"context": st.lists(st.sampled_from(["badge", "staff"]), max_size=2)},
        )
    )


def _override() -> st.SearchStrategy[Any]:
    return sometimes_junk(st.fixed_dictionaries({"reason": st.sampled_from(["agreed: T-1", ""])}))


@st.composite
def redaction_documents(draw: st.DrawFn) -> Any:
    """A redaction policy as a client or a file would give it."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JUNK)
    optional = {
        "version": sometimes_junk(st.sampled_from(["2026-01", "v2", None])),
        "score_threshold": sometimes_junk(st.sampled_from([0.0, 0.4, 0.85, 1.0, 1.5])),
        "entities": _entity_list(),
        "phone_regions": sometimes_junk(st.lists(st.sampled_from(["US", "DE", "usa"]), max_size=2)),
        "allow_list": sometimes_junk(
            st.lists(st.sampled_from(["ok@example.com", "("]), max_size=2)
        ),
        "allow_list_match": sometimes_junk(st.sampled_from(["exact", "regex"])),
        "operators": _operators(),
        "scan": sometimes_junk(st.lists(_scan_rule(), max_size=3)),
        "fields": sometimes_junk(
            st.dictionaries(
                st.sampled_from(["inputs.features.email", "metadata.user", *BAD_PATHS[:2]]),
                _operator(),
                max_size=2,
            )
        ),
        "recognizers": sometimes_junk(st.lists(_recognizer(), max_size=2)),
        "override": _override(),
        "unknown_key": JUNK,
    }
    keys = draw(st.sets(st.sampled_from(sorted(optional))))
    return {key: draw(optional[key]) for key in keys}


@st.composite
def retention_documents(draw: st.DrawFn) -> Any:
    """A retention policy as a client or a file would give it."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JUNK)
    names = draw(
        st.lists(
            st.sampled_from(["short", "standard", "forever", "bad name"]),
            min_size=0,
            max_size=3,
            unique=True,
        )
    )
    durations = st.sampled_from(["1d", "7d", "30d", "365d", "500d", None, "0s", "7 days", 30])
    classes = {
        name: draw(
            sometimes_junk(
                st.fixed_dictionaries(
                    {"duration": durations},
                    optional={"legal_hold": st.sampled_from([True, False, "yes"])},
                )
            )
        )
        for name in names
    }
    rules = draw(
        st.lists(
            sometimes_junk(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["pii", "eu", "r 1", ""]),
                        "class": st.sampled_from([*names, "missing"] if names else ["missing"]),
                        "match": rule_matches(),
                    }
                )
            ),
            max_size=3,
        )
    )
    doc: dict[str, Any] = {
        "default_class": draw(sometimes_junk(st.sampled_from([*names, "missing"]))),
        "classes": classes,
        "rules": rules,
    }
    if draw(st.booleans()):
        doc["override"] = draw(_override())
    if draw(st.booleans()):
        doc["version"] = draw(sometimes_junk(st.sampled_from(["r1", ""])))
    return doc
