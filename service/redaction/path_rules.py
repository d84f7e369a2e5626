"""Which rules apply where: the policy compiled into memoised lookups by path.

:class:`PathRules` answers, for a path of an event, its scan rule, field rule
and whether a wildcard matched; whether any rule applies below a path (so the
walk can skip a subtree); the :class:`ShapePlan` of a dict of a given shape
(what the walk would do with each of its keys); and whether an identifier of
the event looks like PII. Everything is keyed by the policy's content hash and
memoised, since paths and shapes repeat from event to event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import regex

from service.redaction.outcome import Refused
from service.redaction.policy import FieldRule, RedactionPolicy, ScanRule
from service.redaction.secret_keys import is_secret_key
from service.redaction.shapes import find_shapes, number_entity

#: The path of the field rule made for a secret-named key (not a path a policy can write).
KEYED_VALUE_PATH = "keyed_value"
#: What findings are cached by: (policy content hash, entities, text digest).
TextKey = tuple[str, tuple[str, ...], bytes]

#: Identifiers: never redacted (events are keyed, joined and counted by them), so one
#: that looks like PII refuses the event (``pii_in_identifier``).
IDENTIFIER_PATHS = (("event_id",), ("tenant",), ("model", "name"), ("model", "version"))


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


class PathRules:
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
        self._keys: dict[tuple[int, str], TextKey] = {}
        self._plans: dict[tuple[tuple[str, ...], tuple[Any, ...]], ShapePlan | None] = {}
        #: (id(rule), text) of scanned strings known to have no findings under this policy.
        self.clean: set[tuple[int, str]] = set()
        self._identifiers: dict[tuple[Any, ...], Refused | None] = {}
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

    def identifier_refusal(self, event: dict[str, Any]) -> Refused | None:
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
                return Refused("pii_in_identifier", f"event_id looks like {found[0][0]}")
        return None

    def _refusal(
        self, paths: tuple[tuple[str, ...], ...], values: tuple[Any, ...]
    ) -> Refused | None:
        for path, value in zip(paths, values, strict=True):
            if type(value) is not str:
                continue
            found = find_shapes(value, self.policy.phone_regions)
            if found:
                return Refused("pii_in_identifier", f"{'.'.join(path)} looks like {found[0][0]}")
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

    def plan(self, raw: tuple[str, ...], keys: tuple[Any, ...]) -> ShapePlan | None:
        """The :class:`ShapePlan` of a dict at ``raw`` with these keys (memoised by shape)."""
        memo_key = (raw, keys)
        try:
            return self._plans[memo_key]
        except KeyError:
            pass
        plan = ShapePlan.build(self, raw, keys)
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

    def text_key(self, rule: ScanRule, text: str) -> TextKey:
        """:func:`text_key`, memoised: structured values (``"DE"``, ``"web"``) repeat a lot."""
        memo_key = (id(rule), text)
        key = self._keys.get(memo_key)
        if key is None:
            key = text_key(self, rule, text)
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
            path=KEYED_VALUE_PATH,
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


def text_key(rules: PathRules, rule: ScanRule, text: str) -> TextKey:
    """The findings-cache key of ``text`` scanned by ``rule`` (a digest, never the text)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return (rules.content_hash, rules.policy.entities_for(rule), digest)


@dataclass(slots=True)
class ShapePlan:
    """What the walk would do with each key of a dict of one shape, decided once.

    Per key: ``(key, rule scanning the key text or None, scan rule of the value or
    None, whether rules reach below the value, the value's raw path)``. ``None``
    instead of a plan means a field rule applies to some key: the walk must run.
    """

    steps: tuple[tuple[str, ScanRule | None, ScanRule | None, bool, tuple[str, ...]], ...]
    #: Every scanned key of this shape is known clean. Findings are a function of the
    #: text under one policy (plans live as long as their policy), so this stays true and
    #: the fast path stops checking the keys: feature names cost nothing after the first.
    keys_clean: bool = False
    #: How many of the keys are scanned (``steps`` whose key rule is set).
    scanned_keys: int = 0

    @classmethod
    def build(
        cls, rules: PathRules, raw: tuple[str, ...], keys: tuple[Any, ...]
    ) -> ShapePlan | None:
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
        return cls(tuple(steps), scanned_keys=sum(1 for step in steps if step[1] is not None))
