"""PII in other forms (Unicode look-alikes, invisible characters, %XX, base64, unassigned
phones next to a context word, values late in long strings) is found and its original
characters replaced; look-alike text without PII is left alone."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load_tests.corpus import make_corpus
from load_tests.eval_textforms import caught, redacted
from load_tests.forms_corpus import FAMILIES, NEGATIVE_FAMILIES, make_cases, make_negatives
from service.redaction import RedactionPolicy, RedactionSettings, Redactor
from service.redaction.encoded import MAX_TOKENS, decoded_tokens
from service.redaction.engine import GuardianAnalyzer, build_engine
from service.redaction.normalize import plain_view
from service.redaction.phone_context import phone_findings
from service.redaction.policy import PII_ENTITIES, SECRET_ENTITIES
from tests.strategies import texts_with_pii

ALL = PII_ENTITIES + SECRET_ENTITIES
SEED = 14  # the tests' seed; load_tests.eval_textforms keeps another one held out
CASES_PER_FAMILY = 10


@pytest.fixture(scope="module")
def engine() -> GuardianAnalyzer:
    return build_engine(RedactionPolicy.from_yaml("config/redaction.yaml"))


def _entities(engine: GuardianAnalyzer) -> tuple[str, ...]:
    return engine.policy.entities_for(engine.policy.scan[0])


# --------------------------------------------------------------------------- families
@pytest.mark.parametrize("family", FAMILIES)
def test_every_case_of_a_family_is_redacted(engine: GuardianAnalyzer, family: str) -> None:
    cases = make_cases(family, CASES_PER_FAMILY, SEED)
    assert len(cases) >= 10 and len({c.text for c in cases}) == len(cases)
    entities = _entities(engine)
    missed = [c for c in cases if not caught(c, engine.detect(c.text, entities))]
    assert not missed, [(c.entity, c.text[-100:]) for c in missed]


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "late_in_long_string"])
def test_plain_presidio_misses_most_of_each_family(engine: GuardianAnalyzer, family: str) -> None:
    """The families test what Presidio does not do (else the test above proves nothing)."""
    cases = make_cases(family, CASES_PER_FAMILY, SEED)
    entities = _entities(engine)
    presidio = sum(caught(c, engine.presidio_analyze(c.text, entities)) for c in cases)
    assert presidio <= len(cases) // 2


async def test_the_redactor_replaces_the_original_characters() -> None:
    """End to end: the event that leaves the redactor holds no form of any value."""
    cases = [c for family in FAMILIES for c in make_cases(family, 5, SEED + 1)]
    redactor = Redactor(
        # Five 50 kB strings of digit groups take seconds on a loaded machine.
        RedactionPolicy.from_yaml("config/redaction.yaml"),
        RedactionSettings(workers=0, timeout_s=300),
    )
    await redactor.start()
    try:
        outcomes = await redactor.redact_batch(
            [{"inputs": {"text": c.text}, "metadata": {"note": c.text}} for c in cases]
        )
    finally:
        await redactor.close()
    for case, outcome in zip(cases, outcomes, strict=True):
        assert not outcome.failed
        for shown in (outcome.event["inputs"]["text"], outcome.event["metadata"]["note"]):
            leaked = [form for form in case.forbidden if form in shown]
            assert not leaked, (case.family, case.entity, leaked)
        assert case.entity in outcome.entities or case.family == "base64"


def test_whole_original_span_is_replaced_including_invisible_characters(
    engine: GuardianAnalyzer,
) -> None:
    text = "write to jo\u200bhn.d\u00adoe@exam\u2060ple.com today"
    found = engine.detect(text, _entities(engine))
    assert redacted(text, found) == "write to <EMAIL_ADDRESS> today"
    wide = "ｍａｉｌ： ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ！"
    assert redacted(wide, engine.detect(wide, _entities(engine))) == "ｍａｉｌ： <EMAIL_ADDRESS>！"


def test_encoded_tokens_are_replaced_whole(engine: GuardianAnalyzer) -> None:
    token = base64.b64encode(b"contact: jane.roe@example.org").decode()
    text = f"x-ctx: {token} end"
    assert redacted(text, engine.detect(text, _entities(engine))) == "x-ctx: <EMAIL_ADDRESS> end"
    url = "GET /u?email=jane.roe%40example.org&x=1"
    assert redacted(url, engine.detect(url, _entities(engine))) == "GET /u?<EMAIL_ADDRESS>&x=1"


# --------------------------------------------------------------------------- negatives
@pytest.mark.parametrize("family", NEGATIVE_FAMILIES)
def test_look_alike_text_without_pii_is_not_redacted(engine: GuardianAnalyzer, family: str) -> None:
    texts = make_negatives(family, 12, SEED)
    entities = _entities(engine)
    flagged = [(t, engine.detect(t, entities)) for t in texts]
    assert [f for f in flagged if f[1]] == []


def test_ordinary_text_gives_the_same_findings_as_find(engine: GuardianAnalyzer) -> None:
    """On the benchmark corpus the extra forms add nothing: no false positives there."""
    entities = tuple(ALL)
    g = build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)}))
    total = 0
    for item in make_corpus(150, seed=11):
        found = g.find(item.text, entities)
        assert g.detect(item.text, entities) == found
        total += len(found)
    assert total >= 40


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        texts_with_pii().map(lambda t: t[0]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    )
)
def test_detect_keeps_every_finding_of_find(engine: GuardianAnalyzer, text: str) -> None:
    """Guardian redacts at least what plain Presidio finds (find equals Presidio)."""
    entities = _entities(engine)
    found = {(e, s, t) for e, s, t, _ in engine.find(text, entities)}
    assert found <= {(e, s, t) for e, s, t, _ in engine.detect(text, entities)}


# --------------------------------------------------------------------------- span map
_INVISIBLE = st.sampled_from(
    ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\ufe0f", "\u034f", "\u2063"]
)
# Printable ASCII without "%" (a "%41" in the base would be decoded: another test's subject)
# nor "?" (a "?" before an "@" becomes a space by design: "?@" would fail the identity).
_ASCII = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="%?"),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_ASCII, st.lists(st.tuples(st.integers(0, 60), _INVISIBLE), max_size=8), st.data())
def test_span_map_covers_the_original_characters(
    base: str, insertions: list[tuple[int, str]], data: st.DataObject
) -> None:
    chars = list(base)
    for position, ch in sorted(insertions, reverse=True):
        chars.insert(min(position, len(chars)), ch)
    original = "".join(chars)
    view = plain_view(original)
    if view is None:
        # Only invisible characters with nothing visible next to them are left alone.
        for k, ch in enumerate(original):
            if not ch.isascii():
                around = original[max(0, k - 1) : k] + original[k + 1 : k + 2]
                assert all(n == " " or not n.isascii() for n in around), original
        return
    assert view.text == base
    if not base:
        return
    start = data.draw(st.integers(0, len(base) - 1))
    end = data.draw(st.integers(start + 1, len(base)))
    first, last = view.original_span(start, end)
    # The original characters behind the span are exactly the span plus invisible ones...
    assert "".join(ch for ch in original[first:last] if ch.isascii()) == base[start:end]
    # ...and it starts and ends on a visible one (nothing outside the span is taken).
    assert original[first] == base[start] and original[last - 1] == base[end - 1]


_WIDE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="%"),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_WIDE, st.lists(st.booleans(), min_size=40, max_size=40))
def test_full_width_characters_map_one_to_one(base: str, widen: list[bool]) -> None:
    original = "".join(
        chr(ord(ch) + 0xFEE0) if w else ch for ch, w in zip(base, widen, strict=False)
    )
    view = plain_view(original)
    if view is None:
        # Only full-width punctuation with no letter or digit next to it is left alone.
        for k, ch in enumerate(original):
            if not ch.isascii():
                around = base[max(0, k - 1) : k] + base[k + 1 : k + 2]
                assert not base[k].isalnum() and not any(n.isalnum() for n in around)
        return
    assert view.text == base
    assert [view.original_span(i, i + 1) for i in range(len(base))] == [
        (i, i + 1) for i in range(len(base))
    ]


def test_plain_ascii_costs_no_copy() -> None:
    assert plain_view("Summarize the following article in three bullet points.") is None
    assert plain_view("100% sure, 50 %") is None
    assert plain_view("café über naïve") is None  # nothing to change: no second pass
    # Changes no recognizer can see do not cost a second pass either.
    for prose in [
        "word—word — text",
        "请在周五之前把报告发给我。谢谢！",
        "emoji 👍🏽 and ❤️ and 👨\u200d👩\u200d👧",
        "Mr.\u00a0Smith",
        "Привет, как дела?",
    ]:
        assert plain_view(prose) is None, prose
    assert decoded_tokens("internationalization and /usr/local/bin/python3") == []


@pytest.mark.parametrize(
    "text, plain",
    [
        ("ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "john@example.com"),
        ("ssn ٠٧٨-٠٥-١١٢١", "ssn 078-05-1121"),
        ("cell ०७९११ १२३४५६", "cell 07911 123456"),
        ("jоhn@exаmple.com", "john@example.com"),  # Cyrillic о and а
        ("call 212\u2010555\u20110187", "call 212-555-0187"),
        ("1\u00a02\u30003", "1 2 3"),
        ("4\u03361\u03361\u03361", "4111"),  # strike-through combining marks
        ("u=john%40example.com%E2%80%8B", "u=john@example.com"),
        ("%EF%BC%A0 and %zz and %C3%28", "@ and %zz and %C3%28"),
        ("bell\x07 in\x00side", "bell inside"),
    ],
)
def test_plain_forms(text: str, plain: str) -> None:
    view = plain_view(text)
    assert view is not None and view.text == plain


# --------------------------------------------------------------------------- base64
@pytest.mark.parametrize(
    "encode",
    [base64.b64encode, base64.urlsafe_b64encode],
    ids=["standard", "url-safe"],
)
@pytest.mark.parametrize("pad", [True, False])
def test_base64_tokens_decode(encode: object, pad: bool) -> None:
    raw = "mail me at ä.ö+x@example.com ~~~ ???".encode()
    token = encode(raw).decode()  # type: ignore[operator]
    token = token if pad else token.rstrip("=")
    text = f"blob={token};"
    [found] = decoded_tokens(text)
    assert found.decoded == raw.decode() and text[found.start : found.end] == token


def test_random_bytes_and_bound_on_tokens() -> None:
    rng = random.Random(SEED)
    noise = [base64.b64encode(rng.randbytes(rng.randint(12, 64))).decode() for _ in range(200)]
    assert sum(bool(decoded_tokens(t)) for t in noise) <= 2
    many = " ".join(
        base64.b64encode(f"note number {i:04d} ok".encode()).decode() for i in range(100)
    )
    assert len(decoded_tokens(many)) == MAX_TOKENS
    path = "/api/v1/" + base64.urlsafe_b64encode(b"jane.roe@example.org").decode() + "/x"
    [segment] = decoded_tokens(path)
    assert segment.decoded == "jane.roe@example.org"


# --------------------------------------------------------------------------- phones
@pytest.mark.parametrize(
    "text, numbers",
    [
        ("You can reach me at 397-528-2064", ["397-528-2064"]),
        ("397.528.2064 is my cell", ["397.528.2064"]),
        ("tel:+1 397 528 2064", ["+1 397 528 2064"]),
        ("my cell is (397) 528-2064.", ["(397) 528-2064"]),
        ("Whatsapp +44 7911 123456 pls", ["+44 7911 123456"]),
        ("call me 2024-01-15 397 528 2064", ["397 528 2064"]),
        ("call 3 times", []),
        ("call on 2024-01-15 10:30", []),
        ("contact 192.168.100.200", []),
        ("phone: 0.3975282064", []),
        ("reach 3975282064 customers", ["3975282064"]),  # recall over precision
        ("3975282064 is an ordinary id", []),
        ("the 3975282064 ten words away from the word call, far away", []),
    ],
)
def test_phone_shapes_next_to_context_words(text: str, numbers: list[str]) -> None:
    assert [text[s:e] for s, e in phone_findings(text)] == numbers


def test_unassigned_phone_needs_detect_not_find(engine: GuardianAnalyzer) -> None:
    text = "You can reach me at 397-528-2064"
    assert engine.find(text, ("PHONE_NUMBER",)) == []
    assert engine.detect(text, ("PHONE_NUMBER",)) == [("PHONE_NUMBER", 20, 32, 0.75)]
    assert engine.detect(text, ("EMAIL_ADDRESS",)) == []  # not asked for: not reported


def test_allow_list_applies_to_context_phones() -> None:
    policy = RedactionPolicy.from_mapping(
        {"entities": ["PHONE_NUMBER"], "allow_list": ["397-528-2064"]}
    )
    g = build_engine(policy)
    assert g.detect("call 397-528-2064 or 397-528-2065", ("PHONE_NUMBER",)) == [
        ("PHONE_NUMBER", 21, 33, 0.75)
    ]


# --------------------------------------------------------------------------- long strings
def test_phone_after_the_try_budget_is_still_found(engine: GuardianAnalyzer) -> None:
    """~150 kB of digit groups exhaust libphonenumber's 65,535 tries: the scan goes on."""
    from service.redaction.phone import PhoneScan

    unit = "x1 / 2 / 3 / 4 / 5 / 6 / 7 / 8 "
    text = unit * (150_000 // len(unit)) + "mail a.b@example.com, +1 212 555 0187"
    tail = text.index("+1 212")
    # The library's own pass (no resume) stops before the number.
    assert all(start < tail for start, _end in PhoneScan(text, 1).matches("US"))
    found = engine.find(text, ("PHONE_NUMBER", "EMAIL_ADDRESS"))
    assert ("PHONE_NUMBER", tail, len(text)) in {(e, s, t) for e, s, t, _ in found}
    assert redacted(text, engine.detect(text, _entities(engine))).endswith(
        "mail <EMAIL_ADDRESS>, <PHONE_NUMBER>"
    )


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789 +-().x/:abc\n")), max_size=80),
    st.integers(1, 6),
    st.sampled_from(["US", "GB", "DE"]),
)
def test_resumed_scan_extends_the_library_scan(text: str, budget: int, region: str) -> None:
    import phonenumbers

    from service.redaction.phone import PhoneScan

    text += " call +1 212 555 0187"
    library = [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=1, max_tries=budget)
    ]
    resumed = PhoneScan(text, 1, max_tries=budget, resume=True).matches(region)
    assert resumed[: len(library)] == library
    full = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=1)]
    assert set(full) <= set(resumed)


@pytest.mark.parametrize("gap", [0, 1, 5, 40, 400])
def test_context_window_over_long_runs_of_stop_words_equals_presidio(gap: int) -> None:
    """The bisected keyword window is Presidio's walk, however far the keywords are."""
    g = build_engine(RedactionPolicy.from_mapping({"entities": list(ALL)}))
    filler = " , the of a -" * gap
    text = f"my phone{filler} 212 555 0187{filler} ssn{filler} 536228812{filler} and 10.1.2.3"
    assert g.find(text, ALL) == g.presidio_analyze(text, ALL)


@pytest.mark.parametrize(
    "text",
    [
        "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ",
        "am9obkBleGFtcGxlLmNvbQ==",
        "u=jane%40example.org",
    ],
)
def test_the_prefilter_gates_each_form_on_its_own_text(engine: GuardianAnalyzer, text: str) -> None:
    """The original cannot hold an e-mail match (no "@"): the prefilter rightly skips the
    recognizer there, and the decoded or plain copy, gated on its own text, opens it."""
    from service.redaction.prefilter import AtomChecker

    plan = next(
        p for p in engine.fast.plans.values() if "EMAIL_ADDRESS" in p.recognizer.supported_entities
    )
    assert not AtomChecker(text).opens(plan.gate)
    assert engine.find(text, ("EMAIL_ADDRESS",)) == []
    assert [(e, s, t) for e, s, t, _ in engine.detect(text, ("EMAIL_ADDRESS",))] == [
        ("EMAIL_ADDRESS", 0, len(text))  # "u=" is a valid local-part prefix
    ]
