"""The shared-scan phone matcher equals libphonenumber's matcher, region by region."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from load_tests.corpus import make_corpus
from service.redaction import phone
from service.redaction.phone import PhoneScan
from service.redaction.presidio_compat.phone_results import phone_analyze

REGIONS = ("US", "GB", "DE", "FR", "IN", "NU", "CA", "BR")


def _library(text: str, region: str, leniency: int = 1, max_tries: int = 65535) -> list:
    import phonenumbers

    return [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=leniency, max_tries=max_tries
        )
    ]


def _replay(text: str, region: str, leniency: int = 1, max_tries: int = 65535) -> list:
    return PhoneScan(text, leniency, max_tries).matches(region)


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    texts = list(dict.fromkeys(item.text for item in make_corpus(400, 11)))
    return [t for t in texts if any(ch.isdigit() for ch in t)]


def test_corpus_matches_equal_the_library_per_region(corpus_texts: list[str]) -> None:
    phone._MEMO.clear()
    found = 0
    for text in corpus_texts:
        scan = PhoneScan(text, 1)
        for region in REGIONS:
            expected = _library(text, region)
            assert scan.matches(region) == expected, (region, text[:60])
            found += len(expected)
    assert found > 20  # the corpus does contain phone numbers


_PHONEISH = st.text(
    alphabet=st.sampled_from(list("0123456789 +-().x/:;%$abcABe٣\n")), min_size=0, max_size=60
)
_FRAGMENTS = st.sampled_from(
    [
        "(212) 555-0187",
        "+44 20 7946 0958",
        "+49 30 901820",
        "030 901820",
        "+33 1 42 68 53 00",
        "01 42 68 53 00",
        "+91 22 2778 2000",
        "022 2778 2000",
        "011 44 20 7946 0958",
        "00 49 30 901820",
        "4111 1111 1111 1111",
        "10.1.2.3",
        "12/03/2024",
        "2024-03-12 10:30",
        "ext. 1234",
        "1-800-FLOWERS",
        "+683 4002",
        "call ",
        " or ",
        "x",
        "abc",
        "$",
        "%",
        "3-5 (12",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_FRAGMENTS, _PHONEISH), min_size=1, max_size=8).map("".join),
    st.sampled_from(REGIONS),
    st.sampled_from([0, 1, 2, 3]),
)
def test_generated_text_matches_equal_the_library(text: str, region: str, leniency: int) -> None:
    assert _replay(text, region, leniency) == _library(text, region, leniency)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(_FRAGMENTS, _PHONEISH), min_size=1, max_size=8).map("".join),
    st.sampled_from(REGIONS),
    st.integers(min_value=0, max_value=6),
)
def test_try_budget_is_spent_like_the_library(text: str, region: str, max_tries: int) -> None:
    """The matcher gives up after ``max_tries`` failed candidates; the replay counts the same."""
    assert _replay(text, region, 1, max_tries) == _library(text, region, 1, max_tries)


def test_memo_shared_across_texts_stays_exact() -> None:
    phone._MEMO.clear()
    texts = ["call 030 901820 now", "030 901820", "x030 901820", "030 901820y", "(030) 901820"]
    for _ in range(2):  # the second round is served from the memo
        for text in texts:
            for region in ("DE", "US"):
                assert _replay(text, region) == _library(text, region)


def test_phone_analyze_equals_presidio_recognizer() -> None:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    rec = PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IN"))
    for text in [
        "call (212) 555-0187 or +44 20 7946 0958, also 030 901820 and +49 30 901820",
        "nothing here 12 34",
        "card 4111 1111 1111 1111 and +91 22 2778 2000",
    ]:
        expected = rec.analyze(text=text, entities=["PHONE_NUMBER"], nlp_artifacts=None)
        got = phone_analyze(rec, text)
        assert [(r.entity_type, r.start, r.end, r.score) for r in got] == [
            (r.entity_type, r.start, r.end, r.score) for r in expected
        ]
        assert [r.recognition_metadata for r in got] == [r.recognition_metadata for r in expected]
        assert [r.analysis_explanation.textual_explanation for r in got] == [
            r.analysis_explanation.textual_explanation for r in expected
        ]


def _valid_in(candidate: str, region: str) -> bool:
    """libphonenumber's own parse + VALID check of one candidate (no screens)."""
    from phonenumbers import PhoneNumberMatcher
    from phonenumbers.phonenumbermatcher import _verify
    from phonenumbers.phonenumberutil import NumberParseException, parse

    try:
        numobj = parse(candidate, region, keep_raw_input=True)
    except NumberParseException:
        return False
    return bool(_verify(1, numobj, candidate, PhoneNumberMatcher(candidate, region)))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(
        ["", "0", "00", "011", "1", "44", "49", "33", "91", "(0)", "0 ", "00 683 ", "011 683 "]
    ),
    st.text(alphabet=st.sampled_from(list("0123456789 -.()/ext")), max_size=9),
    st.sampled_from(REGIONS),
)
def test_short_candidates_below_the_region_floor_are_never_valid(
    head: str, tail: str, region: str
) -> None:
    """The per-region floor only rules out candidates libphonenumber rejects too."""
    candidate = head + tail
    digits = sum(1 for ch in candidate if ch.isdigit() or ch.isalpha())
    if digits < phone.region_floor(region):
        assert not _valid_in(candidate, region)


def test_region_floor_follows_the_metadata() -> None:
    assert phone.region_floor("US") == 6  # NANPA numbers have 10 digits; IDD numbers 6+
    assert phone.region_floor("DE") == 4  # German numbers can be 4 digits long
    assert phone.region_floor("XX") == 4  # unknown region: the global floor
    assert _valid_in("(212) 555-0187", "US") and not _valid_in("55501", "US")


def test_scan_seeded_by_the_gate_equals_the_library(corpus_texts: list[str]) -> None:
    """The candidate searches the gate already did are reused without changing anything."""
    from service.redaction.prefilter import phone_may_match

    seeded = 0
    for text in corpus_texts + ["call 12 then 030 901820", "1 2 3", "x 4111 1111 1111 1111"]:
        searched: dict = {}
        if not phone_may_match(text, searched):
            assert all(not _library(text, region) for region in REGIONS)
            continue
        seeded += len(searched)
        scan = PhoneScan(text, 1, searched=searched)
        for region in REGIONS:
            assert scan.matches(region) == _library(text, region)
    assert seeded > 50


# -- the ceiling: plainly written candidates with too many digits (phone_ceiling) ----------


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(
        ["", "0", "00", "011", "1", "1 ", "44", "44 0", "49", "33", "91", "52", "0049 ", "180020"]
    ),
    st.text(alphabet=st.sampled_from(list("0123456789 -.()/")), min_size=8, max_size=26),
    st.sampled_from((*REGIONS, "MX", "IT", "NU", "AU", "JP")),
)
def test_long_candidates_over_the_region_ceiling_are_never_valid(
    head: str, tail: str, region: str
) -> None:
    """The per-region ceiling only rules out candidates libphonenumber rejects too."""
    from service.redaction.phone_ceiling import too_long

    candidate = head + tail
    digits = sum(1 for ch in candidate if ch.isdigit() or ch.isalpha())
    if too_long(candidate, digits, region):
        assert not _valid_in(candidate, region)


def test_no_example_number_of_any_region_is_over_its_ceiling() -> None:
    """libphonenumber's example numbers, written as people write them, are never cut."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from service.redaction.phone_ceiling import too_long

    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        code = str(phonenumbers.country_code_for_region(region))
        prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix or ""
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            nsn = phonenumbers.national_significant_number(number)
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            for written in (national, nsn, code + " " + nsn, code + prefix + nsn, prefix + nsn):
                digits = sum(1 for ch in written if ch.isdigit() or ch.isalpha())
                if _valid_in(written, region):
                    checked += 1
                    assert not too_long(written, digits, region), (region, written)
    assert checked > 500


def test_region_ceiling_follows_the_metadata() -> None:
    from service.redaction.phone_ceiling import region_ceiling, too_long

    card = "4111 1111 1111 1111"
    assert region_ceiling("US")[:3] == (10, "1", 1)  # type: ignore[index]
    assert region_ceiling("FR")[:3] == (9, "33", 1)  # type: ignore[index]
    assert region_ceiling("BR") is None  # a national prefix with a transform rule
    assert too_long(card, 16, "US") and too_long(card, 16, "FR") and too_long(card, 16, "IN")
    assert not too_long(card, 16, "DE")  # German numbers reach 15 digits: parsed
    assert not too_long("91 4111 1111 1111", 14, "IN")  # starts with the country code
    assert not too_long("011 44 20 7946 0958 12", 17, "US")  # an IDD: parsed
    assert not too_long("1-800-FLOWERS-NOW-1", 19, "US")  # letters: parsed
