"""Numeric and categorical streams of LLM traffic, named ``text.<field>.<statistic>``.

For every configured text field of an event (``inputs.text`` as ``input``,
``outputs.text`` as ``output`` by default) :meth:`TextStatistics.features`
returns the statistics as extra features, which the detect stage hands to the
drift registry with the event's own features: they get the same detectors,
alerts, ``/v1/detectors`` entries and ``guardian_drift_statistic{feature="text.…"}``
series as any feature, and no text reaches a detector.

=========================  =====================================================
``chars``, ``tokens``      length in characters and in word/punctuation tokens
``language``               ISO 639-1 code (categorical: the detector watches shares)
``empty``                  1000 for an empty or blank text, else 0
``refusal``                1000 for a refusal-like answer, else 0
``pii.<ENTITY>``           1000 when the redaction stage found ENTITY in the field
``ngram_js``               JS divergence of the text's trigrams from the reference
=========================  =====================================================

Rates are 0/1000 per text, so a detector's mean reads "per 1,000 texts". PII
findings are the redaction stage's own (``guardian.redactions`` of the
sanitized event): no second scan. Statistics are computed on the sanitized
text, so a redacted value counts by its placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from detectors.text.config import ModelTextConfig, TextConfig
from detectors.text.language import LanguageIdentifier
from detectors.text.ngrams import ReferenceProfile, profile

PREFIX = "text."
PER_1000 = 1000.0
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SEP = "|"
_MAX_CACHED_MODELS = 10_000


class _Field:
    """What one (model, version, field) remembers: its reference and the entities seen."""

    __slots__ = ("reference", "entities")

    def __init__(self, cfg: ModelTextConfig) -> None:
        self.reference = ReferenceProfile(cfg.reference_texts, cfg.buckets)
        self.entities: list[str] = []


def _at(event: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    node: Any = event
    for part in parts:
        # events are JSON-decoded dicts; the ABC check only for other mappings (it is slow)
        if type(node) is not dict and not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


_PARTS: dict[str, tuple[str, ...]] = {}


def _parts(path: str) -> tuple[str, ...]:
    found = _PARTS.get(path)
    if found is None:
        found = _PARTS[path] = tuple(path.split("."))
    return found


class TextStatistics:
    """Turns the text fields of sanitized events into ``text.*`` features.

    Examples
    --------
    >>> cfg = TextConfig.from_mapping({"models": [{"model": "chat-*",
    ...     "statistics": ["chars", "tokens", "empty", "refusal", "pii"]}]})
    >>> stats = TextStatistics(cfg)
    >>> event = {"inputs": {"text": "Mail me at <EMAIL_ADDRESS>"},
    ...          "outputs": {"text": "I'm sorry, I can't help with that."},
    ...          "guardian": {"redactions": [{"path": "inputs.text", "entity": "EMAIL_ADDRESS"}]}}
    >>> sorted(stats.features("chat-bot", "1", event).items())  # doctest: +NORMALIZE_WHITESPACE
    [('text.input.chars', 26), ('text.input.empty', 0.0), ('text.input.pii.EMAIL_ADDRESS', 1000.0),
     ('text.input.tokens', 6), ('text.output.chars', 34), ('text.output.empty', 0.0),
     ('text.output.refusal', 1000.0), ('text.output.tokens', 13)]
    """

    def __init__(self, config: TextConfig) -> None:
        self.config = config
        self._fields: dict[tuple[str, str, str], _Field] = {}
        self._refusals: dict[int, re.Pattern[str]] = {}
        self._language: dict[int, LanguageIdentifier] = {}
        self.refused = 0  # streams not created at max_streams
        #: model name -> its config entry (glob matching once per name, not per event)
        self._configs: dict[str, ModelTextConfig | None] = {}

    @property
    def active(self) -> bool:
        """Whether any model has text statistics (without one, :meth:`features` is empty)."""
        return bool(self.config.models)

    def load(self) -> None:
        """Load the language identifier now (start-up), not on the first text."""
        for cfg in self.config.models:
            if "language" in cfg.statistics:
                self._identifier(cfg).load()

    def _identifier(self, cfg: ModelTextConfig) -> LanguageIdentifier:
        found = self._language.get(id(cfg))
        if found is None:
            found = self._language[id(cfg)] = LanguageIdentifier(cfg.language_min_chars)
        return found

    def _refusal(self, cfg: ModelTextConfig) -> re.Pattern[str]:
        found = self._refusals.get(id(cfg))
        if found is None:
            found = self._refusals[id(cfg)] = re.compile(
                "|".join(f"(?:{p})" for p in cfg.refusal_patterns), re.IGNORECASE
            )
        return found

    def _field(self, cfg: ModelTextConfig, key: tuple[str, str, str]) -> _Field | None:
        state = self._fields.get(key)
        if state is None:
            if len(self._fields) >= self.config.max_streams:
                self.refused += 1
                return None
            state = self._fields[key] = _Field(cfg)
        return state

    def features(
        self, model: str, version: str, event: Mapping[str, Any]
    ) -> dict[str, float | int | str]:
        """The ``text.*`` features of one sanitized event (empty when the model has none)."""
        try:
            cfg = self._configs[model]
        except KeyError:
            if len(self._configs) >= _MAX_CACHED_MODELS:  # a publisher inventing names
                self._configs.clear()
            cfg = self._configs[model] = self.config.for_model(model)
        if cfg is None:
            return {}
        out: dict[str, float | int | str] = {}
        found: dict[str, set[str]] | None = None
        for name, path in cfg.fields.items():
            text = _at(event, _parts(path))
            if not isinstance(text, str):
                continue
            state = self._field(cfg, (model, version, name))
            if state is None:
                continue
            if "pii" in cfg.statistics and found is None:
                found = _findings(event)
            self._add(cfg, name, text, state, found.get(path, set()) if found else set(), out)
        return out

    def _add(
        self,
        cfg: ModelTextConfig,
        name: str,
        text: str,
        state: _Field,
        entities: set[str],
        out: dict[str, float | int | str],
    ) -> None:
        stats, base = cfg.statistics, f"{PREFIX}{name}."
        if "chars" in stats:
            out[base + "chars"] = len(text)
        if "tokens" in stats:
            out[base + "tokens"] = len(_TOKEN.findall(text))
        if "empty" in stats:
            out[base + "empty"] = PER_1000 if not text.strip() else 0.0
        if "refusal" in stats and name in cfg.refusal_fields:
            out[base + "refusal"] = PER_1000 if self._refusal(cfg).search(text) else 0.0
        if "language" in stats:
            code = self._identifier(cfg).identify(text)
            if code is not None:
                out[base + "language"] = code
        if "pii" in stats:
            self._add_pii(cfg, base, state, entities, out)
        if "ngram_js" in stats:
            counts = profile(text, cfg.buckets)
            distance = state.reference.divergence(counts)
            if distance is None:
                state.reference.learn(counts)
            else:
                out[base + "ngram_js"] = distance

    @staticmethod
    def _add_pii(
        cfg: ModelTextConfig,
        base: str,
        state: _Field,
        entities: set[str],
        out: dict[str, float | int | str],
    ) -> None:
        for entity in entities:
            if entity not in state.entities and len(state.entities) < cfg.max_entities:
                state.entities.append(entity)
        for entity in state.entities:  # zeros too, once an entity was seen on this field
            out[f"{base}pii.{entity}"] = PER_1000 if entity in entities else 0.0

    # ------------------------------------------------------------------ state
    def export_state(self, model: str) -> dict[str, Any]:
        """Reference profiles and entities of one model's fields (for its checkpoint)."""
        return {
            f"{version}{_SEP}{name}": {
                "reference": state.reference.export_state(),
                "entities": list(state.entities),
            }
            for (m, version, name), state in self._fields.items()
            if m == model
        }

    def import_state(self, model: str, saved: Mapping[str, Any]) -> None:
        cfg = self.config.for_model(model)
        if cfg is None:
            return
        for key, record in saved.items():
            version, _, name = str(key).rpartition(_SEP)
            if name not in cfg.fields or len(self._fields) >= self.config.max_streams:
                continue
            state = _Field(cfg)
            state.reference = ReferenceProfile.from_state(
                cfg.reference_texts, cfg.buckets, record["reference"]
            )
            state.entities = [str(e) for e in record.get("entities", [])][: cfg.max_entities]
            self._fields[(model, version, name)] = state

    def drop_model(self, model: str) -> None:
        for key in [k for k in self._fields if k[0] == model]:
            del self._fields[key]


def _findings(event: Mapping[str, Any]) -> dict[str, set[str]]:
    """Entity types the redaction stage found, per field path (from ``guardian.redactions``)."""
    block = event.get("guardian")
    redactions = block.get("redactions") if isinstance(block, Mapping) else None
    found: dict[str, set[str]] = {}
    if not isinstance(redactions, list):
        return found
    for item in redactions:
        if isinstance(item, Mapping):
            path, entity = item.get("path"), item.get("entity")
            if isinstance(path, str) and isinstance(entity, str):
                found.setdefault(path, set()).add(entity)
    return found
