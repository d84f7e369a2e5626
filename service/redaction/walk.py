"""The walk: both passes over an event, and the fast path that proves a walk unneeded.

The first pass (:class:`Collect`) lists the texts an event needs analysed; the
second (:class:`Apply`) builds the sanitized copy from the findings. Both go
through :func:`walk`, so they visit the same values in the same order.
:func:`clean_without_walk` answers, for a structured event whose scanned
strings are all known clean, that the walk would change nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.redaction.operators import Pseudonymizer, merge_spans, replacement, structured_text
from service.redaction.path_rules import KEYED_VALUE_PATH, PathRules, TextKey
from service.redaction.policy import FieldRule, ScanRule
from service.redaction.shapes import NUMBER_FLOOR

if TYPE_CHECKING:
    from service.redaction.engine import Finding
    from service.redaction.pool import FindingsCache

MAX_DEPTH = 64
_NUMBERS = frozenset({int, float, bool, type(None)})
_LEAVES = frozenset({int, float, bool, type(None), str})
_CONTAINERS = frozenset({dict, list})
#: Values a secret-named key's rule replaces; containers are walked, booleans and null kept.
SECRET_VALUE_TYPES = frozenset({str, int, float})
_DROP: Any = object()


class TooDeep(Exception):
    """A value sits deeper than :data:`MAX_DEPTH`: the event is refused."""


def _big_number(value: Any) -> bool:
    """Cheap test before :func:`number_entity`: a number with 9 or more digits."""
    kind = type(value)
    return (kind is int or kind is float) and not -NUMBER_FLOOR < value < NUMBER_FLOOR


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


@dataclass
class Collect:
    """First pass: which (text, entities) an event needs analysed."""

    rules: PathRules
    wanted: dict[TextKey, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    keys: list[TextKey] = field(default_factory=list)
    #: Whether a field rule applies somewhere in the event, or a long number reads as PII:
    #: the second pass must run.
    saw_field: bool = False
    #: This pass's copy of the event: texts and keys as they were, guardian block left out.
    copy: Any = None
    #: Scanned strings known clean (:attr:`PathRules.clean`): not looked up again.
    known: int = 0

    def text(self, rule: ScanRule, text: str, shown: tuple[str, ...]) -> Any:
        if (id(rule), text) in self.rules.clean:
            # Short-cut for the many repeated short strings of an event that is walked
            # (keys, categories); Apply knows an absent key means exactly this.
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
class Apply:
    """Second pass: replace findings, apply field rules, record what was done."""

    rules: PathRules
    findings: dict[TextKey, list[Finding]]
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


def clean_without_walk(
    node: dict[str, Any],
    raw: tuple[str, ...],
    depth: int,
    rules: PathRules,
    cache: FindingsCache,
    check_depth: bool = True,
) -> int:
    """Number of scanned strings when :func:`walk` would find and change nothing, else -1.

    The fast path for structured events: follows each dict's :class:`ShapePlan`,
    checks each scanned string against the strings known clean (or the findings
    cache), and gives up (-1) on anything the walk handles specially: a field
    rule, a list or other container on a scanned path, a string not known clean,
    a depth near the bound. Only then does the event take the full walk.
    """
    plan = rules.plan(raw, tuple(node))
    if plan is None or depth + 1 > MAX_DEPTH:
        return -1
    clean = rules.clean
    # Every scanned key is counted: if one is not known clean, the result is -1 anyway.
    scanned = plan.scanned_keys
    keys_clean = plan.keys_clean
    for key, key_scan, value_rule, below, child in plan.steps:
        if key_scan is not None and not keys_clean and not _text_clean(rules, cache, key_scan, key):
            return -1
        value = node[key]
        kind = type(value)
        if kind is str:
            if value_rule is not None:
                if (id(value_rule), value) not in clean and not known_clean(
                    rules, cache, value_rule, value
                ):
                    return -1
                scanned += 1
        elif kind in _NUMBERS and (
            value_rule is None
            or not (kind is int or kind is float)
            or -NUMBER_FLOOR < value < NUMBER_FLOOR  # not _big_number, inlined
            or rules.number_entity(value_rule, value) is None
        ):
            continue  # the walk keeps it as it is (a long number that reads as PII falls through)
        elif kind is dict and below:
            found = clean_without_walk(value, child, depth + 1, rules, cache, check_depth)
            if found < 0:
                return -1
            scanned += found
        elif (
            kind not in _CONTAINERS
            or below
            or value_rule is not None
            or (check_depth and _deeper_than(value, MAX_DEPTH - depth - 1))
        ):
            # Anything the walk handles specially (a PII number, a list on a scanned path),
            # or a container whose depth it would refuse.
            return -1
    if not keys_clean:
        plan.keys_clean = True  # every key passed (the walk above returns -1 otherwise)
    return scanned


def _text_clean(rules: PathRules, cache: FindingsCache, rule: ScanRule, text: str) -> bool:
    return (id(rule), text) in rules.clean or known_clean(rules, cache, rule, text)


def known_clean(rules: PathRules, cache: FindingsCache, rule: ScanRule, text: str) -> bool:
    """Whether the findings cache says ``text`` has no findings under ``rule``; remembered."""
    found = cache.peek(rules.text_key(rule, text))
    if found is None or found:
        return False
    if len(rules.clean) > 50_000:
        rules.clean.clear()
    rules.clean.add((id(rule), text))
    return True


def walk(
    node: Any,
    raw: tuple[str, ...],
    shown: tuple[str, ...],
    depth: int,
    rules: PathRules,
    visit: Collect | Apply,
) -> Any:
    """Both passes walk the event the same way; ``visit`` decides what a text becomes."""
    if depth > MAX_DEPTH:
        raise TooDeep
    scan_rule, field_rule, _wild = rules.lookup(raw) if raw else (None, None, False)
    if field_rule is not None and (
        field_rule.path != KEYED_VALUE_PATH or type(node) in SECRET_VALUE_TYPES
    ):
        if isinstance(visit, Apply):
            return visit.field(field_rule, node, shown)
        visit.saw_field = True
        return node
    if isinstance(node, str):
        return visit.text(scan_rule, node, shown) if scan_rule is not None else node
    if scan_rule is not None and _big_number(node):
        return visit.number(scan_rule, node, shown)
    if isinstance(node, dict):
        return _walk_dict(node, raw, shown, depth, rules, visit)
    if isinstance(node, list):
        items = []
        for i, value in enumerate(node):
            new_value = walk(value, (*raw, str(i)), (*shown, str(i)), depth + 1, rules, visit)
            items.append(None if new_value is _DROP else new_value)
        return items
    return node


def _walk_dict(
    node: dict[Any, Any],
    raw: tuple[str, ...],
    shown: tuple[str, ...],
    depth: int,
    rules: PathRules,
    visit: Collect | Apply,
) -> dict[str, Any]:
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
        if key_field is None:
            new_value = _unruled_child(value, key_rule, child, shown, new_key, depth, rules, visit)
        else:
            new_value = walk(value, child, (*shown, new_key), depth + 1, rules, visit)
        if new_value is not _DROP:
            out[new_key] = new_value
    return out


def _unruled_child(
    value: Any,
    key_rule: ScanRule | None,
    child: tuple[str, ...],
    shown: tuple[str, ...],
    new_key: str,
    depth: int,
    rules: PathRules,
    visit: Collect | Apply,
) -> Any:
    """What :func:`walk` gives for a value no field rule applies to, without the call
    where the answer is known (the fast path for structured events)."""
    kind = type(value)
    if (
        (key_rule is None and kind in _LEAVES)
        or (kind in _NUMBERS and (key_rule is None or not _big_number(value)))
        or (
            kind in _CONTAINERS
            and not rules.relevant_below(child)
            and not _deeper_than(value, MAX_DEPTH - depth - 1)
        )
    ):
        # Nothing can apply to this value or below it: keep it as it is (same result
        # as walking it, without the copy).
        if depth + 1 > MAX_DEPTH:
            raise TooDeep
        return value
    if kind is str or (key_rule is not None and _big_number(value)):
        # A scanned text (key_rule is set) or a long number on a scanned path.
        if depth + 1 > MAX_DEPTH:
            raise TooDeep
        if kind is str:
            return visit.text(key_rule, value, (*shown, new_key))  # type: ignore[arg-type]
        return visit.number(key_rule, value, (*shown, new_key))  # type: ignore[arg-type]
    return walk(value, child, (*shown, new_key), depth + 1, rules, visit)
