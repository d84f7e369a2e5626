"""The redact stage: scan an event's text fields, replace findings, fail closed.

Analysis (the expensive part) runs in worker processes with one engine each;
texts are de-duplicated within a batch and remembered across batches (keyed by
a hash of the text, the entity set and the policy's content hash), so a prompt
template seen before costs a dictionary lookup. Operators are applied here, in
the main process, so HMAC keys never leave it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import regex

from service.redaction.engine import Finding
from service.redaction.operators import (
    MissingHmacKey,
    Pseudonymizer,
    merge_spans,
    replacement,
    structured_text,
)
from service.redaction.policy import (
    NER_ENTITIES,
    FieldRule,
    RedactionPolicy,
    RedactionPolicyError,
    ScanRule,
)
from service.redaction.scrub import scrub_payload
from service.redaction.secret_keys import is_secret_key
from service.redaction.settings import RedactionSettings
from service.redaction.shapes import NUMBER_FLOOR, find_shapes, number_entity
from service.redaction.workers import analyze_chunk, warm

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics

logger = logging.getLogger(__name__)

MAX_DEPTH = 64
_NUMBERS = frozenset({int, float, bool, type(None)})
_LEAVES = frozenset({int, float, bool, type(None), str})
_CONTAINERS = frozenset({dict, list})
#: Values a secret-named key's rule replaces; containers are walked, booleans and null kept.
SECRET_VALUE_TYPES = frozenset({str, int, float})
#: The path of the field rule made for a secret-named key (not a path a policy can write).
_KEYED_VALUE_PATH = "keyed_value"
_DROP: Any = object()
_Key = tuple[str, tuple[str, ...], bytes]  # (policy content hash, entities, text digest)


@dataclass(frozen=True, slots=True)
class Redaction:
    """One kind of change made to one field; never carries the value."""

    path: str
    entity: str
    operator: str
    count: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "entity": self.entity,
            "operator": self.operator,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class RedactionOutcome:
    """The sanitized event and what was done, or ``failed`` with a value-free reason."""

    event: dict[str, Any]
    redactions: list[Redaction]
    entities: frozenset[str]
    failed: bool = False
    reason: str | None = None
    policy_version: str = ""
    #: Reason code of the DLQ record when ``failed``.
    dlq_reason: str = "redaction_failed"

    @property
    def pii_header(self) -> str:
        """Value of the ``guardian-pii`` header: entity types found, comma-separated."""
        return ",".join(sorted(self.entities))


class _TooDeep(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Refused:
    """An event that fails closed before analysis: DLQ reason code and value-free reason."""

    dlq_reason: str
    reason: str


#: Identifiers: never redacted (events are keyed, joined and counted by them), so one
#: that looks like PII refuses the event (``pii_in_identifier``).
IDENTIFIER_PATHS = (("event_id",), ("tenant",), ("model", "name"), ("model", "version"))


def _big_number(value: Any) -> bool:
    """Cheap test before :func:`number_entity`: a number with 9 or more digits."""
    kind = type(value)
    return (kind is int or kind is float) and not -NUMBER_FLOOR < value < NUMBER_FLOOR


def _match_below(pattern: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    """Whether ``pattern`` could match some path that extends ``prefix`` (conservative)."""
    for i, part in enumerate(prefix):
        if i >= len(pattern):
            return False
        head = pattern[i]
        if head == "**":
            return True
        if head != "*" and head != part:
            return False
    return len(pattern) > len(prefix)


def _deeper_than(node: Any, levels: int) -> bool:
    """Whether any value sits more than ``levels`` below container ``node``.

    The walk refuses values deeper than :data:`MAX_DEPTH`; a skipped subtree
    must be refused exactly when walking it would have been.
    """
    stack: list[tuple[Any, int]] = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current
        if children and depth + 1 > levels:
            return True
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not pattern:
        return not path
    head = pattern[0]
    if head == "**":
        return any(_match(pattern[1:], path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and _match(pattern[1:], path[1:])


def _below_only(pattern: tuple[str, ...]) -> tuple[str, ...]:
    return (*pattern[:-1], "*", "**") if pattern and pattern[-1] == "**" else pattern


class _PathRules:
    """First-match lookup of scan and field rules by path, memoised (paths repeat).

    With ``ner`` (a NER pipeline is running), a string on one of the policy's
    ``ner_paths`` gets its scan rule with the policy's ``ner_entities`` added, so
    NER findings take the same findings -> operators -> redactions path as any other.
    """

    def __init__(self, policy: RedactionPolicy, ner: bool = False) -> None:
        self.policy = policy
        #: What engines and findings are cached by: the content, not the (editable) version.
        self.content_hash = policy.content_hash()
        # A trailing '**' of a NER path means "something below": never the container's own
        # key (``metadata.**`` would otherwise read the key text "metadata").
        self._ner = [_below_only(tuple(p.split("."))) for p in policy.ner_paths] if ner else []
        self._ner_rules: dict[int, ScanRule] = {}
        self._scan = [(tuple(r.path.split(".")), r) for r in policy.scan]
        self._fields = [(tuple(r.path.split(".")), r) for r in policy.fields]
        self._memo: dict[tuple[str, ...], tuple[ScanRule | None, FieldRule | None, bool]] = {}
        self._below: dict[tuple[str, ...], bool] = {}
        self._keys: dict[tuple[int, str], _Key] = {}
        self._plans: dict[tuple[tuple[str, ...], tuple[Any, ...]], _ShapePlan | None] = {}
        #: (id(rule), text) of scanned strings known to have no findings under this policy.
        self.clean: set[tuple[int, str]] = set()
        self._identifiers: dict[tuple[Any, ...], _Refused | None] = {}
        terms = [t for t in policy.allow_list if t]
        self._allowed_exact = frozenset(terms) if policy.allow_list_match == "exact" else None
        self._allowed_regex = (
            regex.compile("|".join(terms)) if terms and policy.allow_list_match == "regex" else None
        )

    def number_entity(self, rule: ScanRule, value: Any) -> str | None:
        """The entity a long number at a path scanned by ``rule`` is redacted as, if any.

        Only entities the rule looks for count, and the policy's allow list
        applies to the number's digits as it does to a finding in text.
        """
        entity = number_entity(value)
        if entity is None or entity not in self.policy.entities_for(rule):
            return None
        if self._allowed_exact is not None or self._allowed_regex is not None:
            digits = str(abs(int(value)))
            if self._allowed_exact is not None and digits in self._allowed_exact:
                return None
            if self._allowed_regex is not None and self._allowed_regex.search(digits):
                return None
        return entity

    def identifier_refusal(self, event: dict[str, Any]) -> _Refused | None:
        """Why ``event`` is refused for an identifier that looks like PII, else ``None``.

        Tenants and models repeat: their verdict is remembered per (tenant, name,
        version), so a structured event pays one dictionary lookup and the check
        of its event id (a canonical UUID costs one match).
        """
        model = event.get("model")
        if type(model) is dict:
            envelope = (event.get("tenant"), model.get("name"), model.get("version"))
        else:
            envelope = (event.get("tenant"), None, None)
        memo = self._identifiers
        try:
            refused = memo[envelope]
        except KeyError:
            refused = self._refusal(IDENTIFIER_PATHS[1:], envelope)
            if len(memo) > 10_000:
                memo.clear()
            memo[envelope] = refused
        except TypeError:  # a list or object as identifier (the schema refuses it)
            refused = self._refusal(IDENTIFIER_PATHS[1:], envelope)
        if refused is not None:
            return refused
        event_id = event.get("event_id")
        if type(event_id) is str:
            found = find_shapes(event_id, self.policy.phone_regions)
            if found:
                return _Refused("pii_in_identifier", f"event_id looks like {found[0][0]}")
        return None

    def _refusal(
        self, paths: tuple[tuple[str, ...], ...], values: tuple[Any, ...]
    ) -> _Refused | None:
        for path, value in zip(paths, values, strict=True):
            if type(value) is not str:
                continue
            found = find_shapes(value, self.policy.phone_regions)
            if found:
                return _Refused("pii_in_identifier", f"{'.'.join(path)} looks like {found[0][0]}")
        return None

    def _with_ner(self, rule: ScanRule | None, pattern: tuple[str, ...]) -> ScanRule:
        """``rule`` (or an NER-only rule) also looking for the policy's NER entities."""
        variant = self._ner_rules.get(id(rule))
        if variant is None:
            policy = self.policy
            base = rule if rule is not None else ScanRule(path=".".join(pattern), entities=[])
            entities = sorted(set(policy.entities_for(base)) | set(policy.ner_entities))
            variant = base.model_copy(update={"entities": entities})
            self._ner_rules[id(rule)] = variant
        return variant

    def plan(self, raw: tuple[str, ...], keys: tuple[Any, ...]) -> _ShapePlan | None:
        """The :class:`_ShapePlan` of a dict at ``raw`` with these keys (memoised by shape)."""
        memo_key = (raw, keys)
        try:
            return self._plans[memo_key]
        except KeyError:
            pass
        plan = _ShapePlan.build(self, raw, keys)
        if len(self._plans) > 10_000:
            self._plans.clear()
        self._plans[memo_key] = plan
        return plan

    def relevant_below(self, path: tuple[str, ...]) -> bool:
        """Whether any rule could apply strictly below ``path``; if not, the walk skips it."""
        hit = self._below.get(path)
        if hit is None:
            hit = any(_match_below(p, path) for p, _ in (*self._scan, *self._fields))
            if len(self._below) > 50_000:
                self._below.clear()
            self._below[path] = hit
        return hit

    def text_key(self, rule: ScanRule, text: str) -> _Key:
        """:func:`_text_key`, memoised: structured values (``"DE"``, ``"web"``) repeat a lot."""
        memo_key = (id(rule), text)
        key = self._keys.get(memo_key)
        if key is None:
            key = _text_key(self, rule, text)
            if len(self._keys) > 20_000:
                self._keys.clear()
            self._keys[memo_key] = key
        return key

    def _secret_value(self, rule: ScanRule, key: str) -> FieldRule | None:
        """A field rule for the value of a secret-named key (``{"db_password": "x"}``).

        The text ``"x"`` alone holds nothing a recognizer can see; its key says what it
        is. Applies where the path is scanned for ``SECRET``; the walk still descends
        into a container value (see :data:`SECRET_VALUE_TYPES`).
        """
        if "SECRET" not in self.policy.entities_for(rule) or not is_secret_key(key):
            return None
        return FieldRule(
            path=_KEYED_VALUE_PATH,
            operator=self.policy.operator_for(rule, "SECRET"),
            entity="SECRET",
        )

    def lookup(self, path: tuple[str, ...]) -> tuple[ScanRule | None, FieldRule | None, bool]:
        """(scan rule, field rule, whether the last segment is a wildcard match)."""
        hit = self._memo.get(path)
        if hit is None:
            field_rule = next((r for p, r in self._fields if _match(p, path)), None)
            scan_pat = next(((p, r) for p, r in self._scan if _match(p, path)), None)
            scan_rule = scan_pat[1] if scan_pat else None
            wildcard = bool(scan_pat) and any(s in ("*", "**") for s in scan_pat[0])  # type: ignore[index]
            ner_pat = next((p for p in self._ner if _match(p, path)), None)
            if ner_pat is not None:
                scan_rule = self._with_ner(scan_rule, ner_pat)
            if field_rule is None and scan_rule is not None:
                field_rule = self._secret_value(scan_rule, path[-1])
            hit = (scan_rule, field_rule, wildcard)
            if len(self._memo) > 50_000:
                self._memo.clear()
            self._memo[path] = hit
        return hit


@dataclass
class _Collect:
    """First pass: which (text, entities) an event needs analysed."""

    rules: _PathRules
    wanted: dict[_Key, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    keys: list[_Key] = field(default_factory=list)
    #: Whether a field rule applies somewhere in the event, or a long number reads as PII:
    #: the second pass must run.
    saw_field: bool = False
    #: This pass's copy of the event: texts and keys as they were, guardian block left out.
    copy: Any = None
    #: Scanned strings known clean (:attr:`_PathRules.clean`): not looked up again.
    known: int = 0

    def text(self, rule: ScanRule, text: str, shown: tuple[str, ...]) -> Any:
        if (id(rule), text) in self.rules.clean:
            # Short-cut for the many repeated short strings of an event that is walked
            # (keys, categories); _Apply knows an absent key means exactly this.
            self.known += 1
            return text
        key = self.rules.text_key(rule, text)
        self.wanted.setdefault(key, (text, key[1]))
        self.keys.append(key)
        return text

    def number(self, rule: ScanRule, value: Any, shown: tuple[str, ...]) -> Any:
        if self.rules.number_entity(rule, value) is not None:
            self.saw_field = True  # decided locally: the second pass replaces it
        return value


@dataclass
class _Apply:
    """Second pass: replace findings, apply field rules, record what was done."""

    rules: _PathRules
    findings: dict[_Key, list[Finding]]
    pseudonyms: Pseudonymizer
    done: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    entities: set[str] = field(default_factory=set)

    def text(self, rule: ScanRule, text: str, shown: tuple[str, ...]) -> Any:
        policy = self.rules.policy
        if (id(rule), text) in self.rules.clean:
            return text
        # Absent: known clean when collected (the set may have been cleared since).
        found = self.findings.get(self.rules.text_key(rule, text))
        if not found:
            return text
        path = ".".join(shown)
        self.entities.update(f[0] for f in found)
        merged = merge_spans(found)
        ops = [policy.operator_for(rule, f[0]) for f in merged]
        if any(op.type == "drop" for op in ops):
            for f in merged:
                self.done[(path, f[0], "drop")] += 1
            return _DROP
        pieces, cursor = [], 0
        for (entity, start, end, _score), op in zip(merged, ops, strict=True):
            pieces.append(text[cursor:start])
            pieces.append(replacement(op, entity, text[start:end], self.pseudonyms))
            cursor = end
            self.done[(path, entity, op.type)] += 1
        pieces.append(text[cursor:])
        return "".join(pieces)

    def number(self, rule: ScanRule, value: Any, shown: tuple[str, ...]) -> Any:
        """A long number that reads as PII becomes the operator's output (a string) or goes."""
        entity = self.rules.number_entity(rule, value)
        if entity is None:
            return value
        op = self.rules.policy.operator_for(rule, entity)
        self.entities.add(entity)
        self.done[(".".join(shown), entity, op.type)] += 1
        if op.type == "drop":
            return _DROP
        return replacement(op, entity, str(abs(int(value))), self.pseudonyms)

    def field(self, rule: FieldRule, value: Any, shown: tuple[str, ...]) -> Any:
        self.done[(".".join(shown), rule.entity, rule.operator.type)] += 1
        if rule.operator.type == "drop":
            return _DROP
        if rule.operator.type == "keep":
            return value  # accepted with an override; recorded above
        return replacement(rule.operator, rule.entity, structured_text(value), self.pseudonyms)


def _text_key(rules: _PathRules, rule: ScanRule, text: str) -> _Key:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return (rules.content_hash, rules.policy.entities_for(rule), digest)


_KEEP, _SCAN, _DESCEND = 0, 1, 2


@dataclass(slots=True)
class _ShapePlan:
    """What :func:`_walk` would do with each key of a dict of one shape, decided once.

    Per key: ``(key, rule scanning the key text or None, scan rule of the value or
    None, whether rules reach below the value, the value's raw path)``. ``None``
    instead of a plan means a field rule applies to some key: the walk must run.
    """

    steps: tuple[tuple[str, ScanRule | None, ScanRule | None, bool, tuple[str, ...]], ...]
    #: Every scanned key of this shape is known clean. Findings are a function of the
    #: text under one policy (plans live as long as their policy), so this stays true and
    #: the fast path stops checking the keys: feature names cost nothing after the first.
    keys_clean: bool = False

    @classmethod
    def build(
        cls, rules: _PathRules, raw: tuple[str, ...], keys: tuple[Any, ...]
    ) -> _ShapePlan | None:
        steps = []
        for key in keys:
            if type(key) is not str:
                return None
            if raw == () and key == "guardian":
                continue
            child = (*raw, key)
            key_rule, key_field, wildcard = rules.lookup(child)
            if key_field is not None:
                return None
            key_scan = key_rule if key_rule is not None and wildcard else None
            steps.append((key, key_scan, key_rule, rules.relevant_below(child), child))
        return cls(tuple(steps))


def _clean_without_walk(
    node: dict[str, Any],
    raw: tuple[str, ...],
    depth: int,
    rules: _PathRules,
    cache: _LRU,
    check_depth: bool = True,
) -> int:
    """Number of scanned strings when :func:`_walk` would find and change nothing, else -1.

    The fast path for structured events: follows each dict's :class:`_ShapePlan`,
    checks each scanned string against the strings known clean (or the findings
    cache), and gives up (-1) on anything the walk handles specially: a field
    rule, a list or other container on a scanned path, a string not known clean,
    a depth near the bound. Only then does the event take the full walk.
    """
    plan = rules.plan(raw, tuple(node))
    if plan is None or depth + 1 > MAX_DEPTH:
        return -1
    clean = rules.clean
    scanned = 0
    keys_clean = plan.keys_clean
    for key, key_scan, value_rule, below, child in plan.steps:
        if key_scan is not None:
            if (
                not keys_clean
                and (id(key_scan), key) not in clean
                and not _known_clean(rules, cache, key_scan, key)
            ):
                return -1
            scanned += 1
        value = node[key]
        kind = type(value)
        if kind is str:
            if value_rule is not None:
                if (id(value_rule), value) not in clean and not _known_clean(
                    rules, cache, value_rule, value
                ):
                    return -1
                scanned += 1
        elif kind in _NUMBERS:
            if (
                value_rule is not None
                and (kind is int or kind is float)
                and not -NUMBER_FLOOR < value < NUMBER_FLOOR  # _big_number, inlined
                and rules.number_entity(value_rule, value) is not None
            ):
                return -1
            continue
        elif kind is dict and below:
            found = _clean_without_walk(value, child, depth + 1, rules, cache, check_depth)
            if found < 0:
                return -1
            scanned += found
        elif kind in _CONTAINERS and not below and value_rule is None:
            if check_depth and _deeper_than(value, MAX_DEPTH - depth - 1):
                return -1
        else:
            return -1
    if not keys_clean:
        plan.keys_clean = True  # every key passed (the walk above returns -1 otherwise)
    return scanned


def _known_clean(rules: _PathRules, cache: _LRU, rule: ScanRule, text: str) -> bool:
    """Whether the findings cache says ``text`` has no findings under ``rule``; remembered."""
    found = cache.peek(rules.text_key(rule, text))
    if found is None or found:
        return False
    if len(rules.clean) > 50_000:
        rules.clean.clear()
    rules.clean.add((id(rule), text))
    return True


def _walk(
    node: Any,
    raw: tuple[str, ...],
    shown: tuple[str, ...],
    depth: int,
    rules: _PathRules,
    visit: _Collect | _Apply,
) -> Any:
    """Both passes walk the event the same way; ``visit`` decides what a text becomes."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    scan_rule, field_rule, _wild = rules.lookup(raw) if raw else (None, None, False)
    if field_rule is not None and (
        field_rule.path != _KEYED_VALUE_PATH or type(node) in SECRET_VALUE_TYPES
    ):
        if isinstance(visit, _Apply):
            return visit.field(field_rule, node, shown)
        visit.saw_field = True
        return node
    if isinstance(node, str):
        return visit.text(scan_rule, node, shown) if scan_rule is not None else node
    if scan_rule is not None and _big_number(node):
        return visit.number(scan_rule, node, shown)
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if raw == () and key == "guardian":
                continue  # Guardian's own block is rewritten, never trusted from input
            child = (*raw, str(key))
            new_key: Any = str(key)
            key_rule, key_field, wildcard = rules.lookup(child)
            if key_rule is not None and wildcard and key_field is None:
                new_key = visit.text(key_rule, str(key), (*shown, "<key>"))
                if new_key is _DROP:
                    continue
            while new_key in out:
                # Only after a redacted key (JSON keys are unique): keep both entries.
                new_key += "#"
            if key_field is None and (
                (key_rule is None and type(value) in _LEAVES)
                or (type(value) in _NUMBERS and (key_rule is None or not _big_number(value)))
                or (
                    type(value) in _CONTAINERS
                    and not rules.relevant_below(child)
                    and not _deeper_than(value, MAX_DEPTH - depth - 1)
                )
            ):
                # Nothing can apply to this value or below it: keep it as it is (fast path
                # for structured events; same result as walking it, without the copy).
                if depth + 1 > MAX_DEPTH:
                    raise _TooDeep
                out[new_key] = value
                continue
            if key_field is None and type(value) is str:
                # A scanned text (key_rule is set): what _walk would do, without the call.
                if depth + 1 > MAX_DEPTH:
                    raise _TooDeep
                new_value = visit.text(key_rule, value, (*shown, new_key))  # type: ignore[arg-type]
                if new_value is not _DROP:
                    out[new_key] = new_value
                continue
            if key_field is None and key_rule is not None and _big_number(value):
                if depth + 1 > MAX_DEPTH:
                    raise _TooDeep
                new_value = visit.number(key_rule, value, (*shown, new_key))
                if new_value is not _DROP:
                    out[new_key] = new_value
                continue
            new_value = _walk(value, child, (*shown, new_key), depth + 1, rules, visit)
            if new_value is not _DROP:
                out[new_key] = new_value
        return out
    if isinstance(node, list):
        items = []
        for i, value in enumerate(node):
            new_value = _walk(value, (*raw, str(i)), (*shown, str(i)), depth + 1, rules, visit)
            items.append(None if new_value is _DROP else new_value)
        return items
    return node


class _LRU:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[_Key, list[Finding]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: _Key) -> list[Finding] | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
            self._data.move_to_end(key)
        return value

    def peek(self, key: _Key) -> list[Finding] | None:
        """The cached findings, without counting a hit or a miss or refreshing the entry."""
        return self._data.get(key)

    def put(self, key: _Key, value: list[Finding]) -> None:
        if self.capacity <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()


def _unchanged(event: dict[str, Any], version: str) -> RedactionOutcome:
    """The outcome of an event in which nothing was found and no field rule applies.

    Equal to what the walk builds (the event without an input ``guardian`` key,
    then Guardian's block with no redactions), sharing the nested values the
    walk would only have copied.
    """
    sanitized = dict(event)
    given = sanitized.pop("guardian", None)
    guardian = dict(given or {}) if isinstance(given, dict) else {}
    guardian["redactions"] = []
    sanitized["guardian"] = guardian
    return RedactionOutcome(sanitized, [], frozenset(), policy_version=version)


class _Analysis:
    """One batch's analysis: cache first, then chunks submitted to the workers as they fill.

    ``add`` is called while the batch is walked; a chunk goes to the pool as soon
    as it holds ``chunk_size`` texts, so the workers start before the walk ends.
    ``finish`` spreads the rest over every worker and waits (one deadline for the
    batch, counted from the first submission), fail closed: a text whose chunk
    failed or timed out maps to the exception.
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        settings = redactor.settings
        self.workers = settings.workers
        # One chunk per batch for the in-process thread (nothing to overlap with).
        self.chunk = settings.chunk_size if settings.workers else 1 << 30
        self.args = (redactor._policy_json, redactor._rules.content_hash, redactor.ner_model)
        self.results: dict[_Key, list[Finding] | BaseException] = {}
        self.items: dict[_Key, tuple[str, tuple[str, ...]]] = {}
        self.pending: list[_Key] = []
        self.futures: dict[asyncio.Future[list[list[Finding]]], list[_Key]] = {}
        self.deadline: float | None = None

    def add(self, key: _Key, item: tuple[str, tuple[str, ...]]) -> bool:
        """Look ``key`` up or queue it; ``False`` if this batch already has it."""
        if key in self.results or key in self.items:
            return False
        cached = self.redactor._cache.get(key)
        if cached is not None:
            self.results[key] = cached
            return True
        self.items[key] = item
        self.pending.append(key)
        if len(self.pending) >= self.chunk:
            self._submit(self.pending)
            self.pending = []
        return True

    def _submit(self, keys: list[_Key]) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self.redactor._executor,
            self.redactor._analyze_override or analyze_chunk,
            *self.args,
            [self.items[k] for k in keys],
        )
        self.futures[future] = keys
        if self.deadline is None:
            self.deadline = time.monotonic() + self.redactor.settings.timeout_s

    async def finish(self) -> dict[_Key, list[Finding] | BaseException]:
        rest = self.pending
        self.pending = []
        if rest:
            # Spread the last texts over every worker rather than one chunk.
            size = max(1, -(-len(rest) // max(1, self.workers))) if self.workers else len(rest)
            for i in range(0, len(rest), size):
                self._submit(rest[i : i + size])
        if not self.futures:
            return self.results
        assert self.deadline is not None
        timeout = max(0.0, self.deadline - time.monotonic())
        done, pending = await asyncio.wait(self.futures, timeout=timeout)
        redactor = self.redactor
        timeout_s = redactor.settings.timeout_s
        for future in pending:
            future.cancel()
            for key in self.futures[future]:
                self.results[key] = TimeoutError(f"analysis exceeded {timeout_s}s")
        broken = bool(pending)
        for future in done:
            keys = self.futures[future]
            exc = future.exception()
            if exc is not None:
                broken |= isinstance(exc, BrokenProcessPool)
                for key in keys:
                    self.results[key] = exc
                continue
            for key, found in zip(keys, future.result(), strict=True):
                redactor._cache.put(key, found)
                self.results[key] = found
        if broken:
            logger.warning("redaction workers stuck or broken; restarting the pool")
            redactor._kill_pool()
        return self.results


def _resolve_ner(settings: RedactionSettings, policy: RedactionPolicy) -> str | None:
    """Check ``redaction.spacy_model`` once, in this process; what the workers will load."""
    from service.errors import ConfigError
    from service.redaction.engine import EngineUnavailable
    from service.redaction.ner import resolve_model

    try:
        model = resolve_model(settings.spacy_model, policy.language)
    except EngineUnavailable as exc:
        raise ConfigError(str(exc)) from None
    if model is not None:
        logger.info("NER on %s: %s", policy.ner_paths, model.summary)
    return model.name if model is not None else None


class Redactor:
    """Fail-closed PII and secret redaction of inference events.

    Parameters
    ----------
    policy
        What to scan and how to replace findings.
    settings
        Keys, worker processes, NER model, timeout, cache size.
    metrics
        When given, ``guardian_redactions_total{entity}``, failures and batch
        time are recorded here.

    Examples
    --------
    >>> import asyncio
    >>> async def demo():
    ...     r = Redactor(RedactionPolicy(), RedactionSettings(workers=0))
    ...     await r.start()
    ...     [out] = await r.redact_batch([{"inputs": {"text": "mail bob@example.com"}}])
    ...     await r.close()
    ...     return out.event["inputs"]["text"], out.pii_header
    >>> asyncio.run(demo())
    ('mail <EMAIL_ADDRESS>', 'EMAIL_ADDRESS')
    """

    #: What runs in the executor instead of this module's ``analyze_chunk`` / ``warm``
    #: (``None``: those, which a process pool can pickle); the dry-run sandbox
    #: (:mod:`service.api.dry_run`) sets its own to run a private engine in its thread.
    _analyze_override: Callable[..., list[list[Finding]]] | None = None
    _warm_override: Callable[..., int] | None = None

    def __init__(
        self,
        policy: RedactionPolicy,
        settings: RedactionSettings,
        metrics: GuardianMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._pseudonyms = Pseudonymizer(settings.hmac_keys, settings.active_hmac_key)
        self._cache = _LRU(settings.cache_size)
        self._executor: Executor | None = None
        self._ner_model = _resolve_ner(settings, policy)
        self._install(policy)

    @classmethod
    def from_settings(
        cls, settings: RedactionSettings, metrics: GuardianMetrics | None = None
    ) -> Redactor:
        """Load ``settings.policy_file`` and build a redactor (not started)."""
        return cls(RedactionPolicy.from_yaml(settings.policy_file), settings, metrics)

    # ------------------------------------------------------------------ policy
    @property
    def policy(self) -> RedactionPolicy:
        return self._policy

    def _install(self, policy: RedactionPolicy) -> None:
        if policy.uses_hmac and self.settings.active_hmac_key is None:
            raise MissingHmacKey(
                f"redaction policy {policy.version} uses the hmac operator but no HMAC key is "
                "configured (set redaction.hmac_keys and redaction.active_hmac_key)"
            )
        ner = sorted(policy.all_entities & set(NER_ENTITIES))
        if ner and self._ner_model is None:
            raise RedactionPolicyError(
                f"redaction policy asks for NER entities {ner} but no spaCy pipeline is "
                "installed or redaction.spacy_model is off (see docs/redaction.md)"
            )
        self._policy = policy
        self._policy_json = policy.model_dump_json()
        self._rules = _PathRules(policy, ner=self._ner_model is not None)

    @property
    def ner_model(self) -> str | None:
        """The NER pipeline the workers load (package or path), or ``None`` when NER is off."""
        return self._ner_model

    def replace_policy(self, policy: RedactionPolicy) -> None:
        """Apply a new policy to the next batches; workers build its engine on first use.

        Raises before changing anything if the policy cannot run with these settings.
        """
        self._install(policy)
        self._cache.clear()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start worker processes (or the in-process thread) and build their engines."""
        args = (self._policy_json, self._rules.content_hash, self.ner_model)
        loop = asyncio.get_running_loop()
        if self.settings.workers == 0:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="redaction")
            await loop.run_in_executor(self._executor, self._warm_override or warm, *args)
            return
        self._executor = self._new_pool()
        # Return only once every process has built its engine (in its initializer),
        # so the first batch does not wait for a slow start.
        deadline = time.monotonic() + 120.0
        pids: set[int] = set()
        while len(pids) < self.settings.workers and time.monotonic() < deadline:
            pids |= set(
                await asyncio.gather(
                    *(
                        loop.run_in_executor(self._executor, warm, *args)
                        for _ in range(self.settings.workers)
                    )
                )
            )

    def _new_pool(self) -> ProcessPoolExecutor:
        from service.lifeline import start_forkserver
        from service.redaction.workers import init_worker

        start_forkserver()  # its workers and itself die with this process (service.lifeline)
        return ProcessPoolExecutor(
            max_workers=self.settings.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=init_worker,
            initargs=(self._policy_json, self._rules.content_hash, self.ner_model),
        )

    def _kill_pool(self) -> None:
        """A worker stuck past the deadline cannot be cancelled: kill the pool, start anew."""
        pool = self._executor
        if isinstance(pool, ProcessPoolExecutor):
            processes = list((pool._processes or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.kill()
            self._executor = self._new_pool()

    async def close(self) -> None:
        """Stop workers; in-flight analysis is abandoned."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(executor.shutdown, True)

    # ------------------------------------------------------------------ analysis
    async def analyze_texts(
        self, items: Sequence[tuple[str, tuple[str, ...]]]
    ) -> list[list[Finding] | BaseException]:
        """Findings per ``(text, entities)`` (cache first), or the exception that stopped it."""
        analysis = self._analysis()
        version = self._rules.content_hash
        keys: list[_Key] = []
        for text, entities in items:
            digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            key = (version, entities, digest)
            keys.append(key)
            analysis.add(key, (text, entities))
        results = await analysis.finish()
        out: list[list[Finding] | BaseException] = []
        for key in keys:
            result = results.get(key)
            out.append(RuntimeError("not analysed") if result is None else result)
        return out

    def _analysis(self) -> _Analysis:
        if self._executor is None:
            raise RuntimeError("Redactor.start() was not awaited")
        return _Analysis(self)

    async def redact_batch(
        self, events: list[dict[str, Any]], *, depth_at_most: int | None = None
    ) -> list[RedactionOutcome]:
        """Sanitize ``events``; one whose analysis fails comes back ``failed`` (fail closed).

        Texts go to the workers in chunks while the batch is still being walked, so
        the walk of the parent overlaps the analysis in the workers. ``depth_at_most``:
        the events are known to nest no deeper (validated against ``limits.max_depth``);
        when that is well within :data:`MAX_DEPTH`, the fast path skips the depth checks
        of subtrees it does not walk, which could then never fail.
        """
        started = time.perf_counter()
        rules = self._rules
        analysis = self._analysis()
        plans: list[_Collect | _Refused | None] = []
        distinct = 0
        cache = self._cache
        check_depth = depth_at_most is None or depth_at_most >= MAX_DEPTH - 2
        for event in events:
            if type(event) is dict:
                refused = rules.identifier_refusal(event)
                if refused is not None:
                    plans.append(refused)
                    continue
                scanned = _clean_without_walk(event, (), 0, rules, cache, check_depth)
                if scanned >= 0:
                    # Every scanned string is known clean and no field rule applies:
                    # the walk would return a copy equal to the event (see _finish).
                    cache.hits += scanned
                    plans.append(None)
                    continue
            collect = _Collect(rules)
            try:
                collect.copy = _walk(event, (), (), 0, rules, collect)
            except _TooDeep:
                plans.append(_Refused("redaction_failed", f"nesting deeper than {MAX_DEPTH}"))
                continue
            for key, item in collect.wanted.items():
                if analysis.add(key, item):
                    distinct += 1
            plans.append(collect)
        # Texts repeated within the batch are analysed once: count them as cache hits.
        self._cache.hits += (
            sum(len(p.keys) + p.known for p in plans if isinstance(p, _Collect)) - distinct
        )
        results = await analysis.finish()
        findings: dict[_Key, list[Finding]] = {}
        errors: dict[_Key, BaseException] = {}
        for key, result in results.items():
            if isinstance(result, BaseException):
                errors[key] = result
            else:
                findings[key] = result
        outcomes = [
            self._finish(event, plan, findings, errors, rules)
            for event, plan in zip(events, plans, strict=True)
        ]
        if self.metrics is not None:
            self.metrics.redaction_seconds.observe(time.perf_counter() - started)
            for outcome in outcomes:
                if outcome.failed:
                    self.metrics.redaction_failures.inc()
                for r in outcome.redactions:
                    self.metrics.redactions.labels(self.metrics.entity_label(r.entity)).inc(r.count)
        return outcomes

    def _finish(
        self,
        event: dict[str, Any],
        plan: _Collect | _Refused | None,
        findings: dict[_Key, list[Finding]],
        errors: dict[_Key, BaseException],
        rules: _PathRules,
    ) -> RedactionOutcome:
        version = rules.policy.version or ""
        if plan is None:
            return _unchanged(event, version)
        if isinstance(plan, _Refused):
            return self._failed(event, plan.reason, version, plan.dlq_reason)
        failures = [errors[k] for k in plan.keys if k in errors]
        if failures:
            kind = (
                "timeout" if isinstance(failures[0], TimeoutError) else type(failures[0]).__name__
            )
            return self._failed(event, f"analysis failed ({kind})", version)
        if not plan.saw_field and not any(findings[k] for k in plan.keys):
            # Nothing found and no field rule: the second pass would rebuild the same copy.
            sanitized: dict[str, Any] = plan.copy
            redactions: list[Redaction] = []
            found: set[str] = set()
        else:
            apply = _Apply(rules, findings, self._pseudonyms)
            sanitized = _walk(event, (), (), 0, rules, apply)
            redactions = [Redaction(p, e, o, n) for (p, e, o), n in apply.done.items()]
            found = apply.entities
        guardian = (
            dict(event.get("guardian") or {}) if isinstance(event.get("guardian"), dict) else {}
        )
        guardian["redactions"] = [r.as_dict() for r in redactions]
        sanitized["guardian"] = guardian
        entities = frozenset(found | {r.entity for r in redactions})
        return RedactionOutcome(sanitized, redactions, entities, policy_version=version)

    def _failed(
        self,
        event: dict[str, Any],
        reason: str,
        version: str,
        dlq_reason: str = "redaction_failed",
    ) -> RedactionOutcome:
        """Fail closed: the event as the DLQ keeps it (:func:`.scrub.scrub_payload`)."""
        scrubbed = scrub_payload(event)
        body = scrubbed if isinstance(scrubbed, dict) else {"raw": scrubbed}
        return RedactionOutcome(
            body,
            [],
            frozenset(),
            failed=True,
            reason=reason,
            policy_version=version,
            dlq_reason=dlq_reason,
        )
