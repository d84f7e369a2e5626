"""The redact stage: scan an event's text fields, replace findings, fail closed.

:class:`Redactor` is the facade the pipeline uses. It holds the policy
(compiled into :class:`~service.redaction.path_rules.PathRules`), walks each
event (:mod:`service.redaction.walk`), sends the texts to the analysis pool
(:mod:`service.redaction.pool`) and applies the operators here, in the main
process, so HMAC keys never leave it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from service.redaction.operators import MissingHmacKey, Pseudonymizer
from service.redaction.outcome import Redaction, RedactionOutcome, Refused, unchanged
from service.redaction.path_rules import IDENTIFIER_PATHS, PathRules, TextKey
from service.redaction.policy import NER_ENTITIES, RedactionPolicy, RedactionPolicyError
from service.redaction.pool import AnalysisPool, BatchAnalysis, FindingsCache, WorkerArgs
from service.redaction.settings import RedactionSettings
from service.redaction.walk import MAX_DEPTH, Apply, Collect, TooDeep, clean_without_walk, walk
from service.redaction.workers import analyze_chunk, warm

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics
    from service.redaction.engine import Finding

__all__ = ["IDENTIFIER_PATHS", "MAX_DEPTH", "Redaction", "RedactionOutcome", "Redactor"]

logger = logging.getLogger(__name__)

#: What :meth:`Redactor.redact_batch` decided for one event before analysis: texts to
#: analyse, a refusal, or ``None`` (nothing to change, known without a walk).
_Plan = Collect | Refused | None


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


def _resolve_fast_path(settings: RedactionSettings) -> bool:
    """Check ``redaction.fast_path`` against the installed Presidio once, in this process."""
    from service.errors import ConfigError
    from service.redaction.presidio_compat import PresidioVersionMismatch, use_fast_path

    try:
        return use_fast_path(settings.fast_path)
    except PresidioVersionMismatch as exc:
        raise ConfigError(str(exc)) from None


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

    #: What runs in the executor instead of :mod:`.workers`' ``analyze_chunk`` / ``warm``
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
        self._cache = FindingsCache(settings.cache_size)
        self._pool = AnalysisPool(settings.workers)
        self._ner_model = _resolve_ner(settings, policy)
        self._fast_path = _resolve_fast_path(settings)
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
        self._rules = PathRules(policy, ner=self._ner_model is not None)

    @property
    def fast_path(self) -> bool:
        """Whether analysis takes the fast path (``redaction.fast_path`` and Presidio's version)."""
        return self._fast_path

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
    def _worker_args(self) -> WorkerArgs:
        return (self._policy_json, self._rules.content_hash, self.ner_model, self._fast_path)

    async def start(self) -> None:
        """Start worker processes (or the in-process thread) and build their engines."""
        await self._pool.start(self._worker_args(), self._warm_override or warm)

    @property
    def _executor(self) -> Executor | None:
        return self._pool.executor

    def _kill_pool(self) -> None:
        """A worker stuck past the deadline cannot be cancelled: kill the pool, start anew."""
        self._pool.restart(self._worker_args())

    async def close(self) -> None:
        """Stop workers; in-flight analysis is abandoned."""
        await self._pool.close()

    # ------------------------------------------------------------------ analysis
    async def analyze_texts(
        self, items: Sequence[tuple[str, tuple[str, ...]]]
    ) -> list[list[Finding] | BaseException]:
        """Findings per ``(text, entities)`` (cache first), or the exception that stopped it."""
        analysis = self._analysis()
        version = self._rules.content_hash
        keys: list[TextKey] = []
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

    def _analysis(self) -> BatchAnalysis:
        executor = self._pool.executor
        if executor is None:
            raise RuntimeError("Redactor.start() was not awaited")
        settings = self.settings
        return BatchAnalysis(
            executor,
            workers=settings.workers,
            cache=self._cache,
            analyze=self._analyze_override or analyze_chunk,
            args=self._worker_args(),
            chunk_size=settings.chunk_size,
            timeout_s=settings.timeout_s,
            on_broken=self._kill_pool,
        )

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
        check_depth = depth_at_most is None or depth_at_most >= MAX_DEPTH - 2
        plans: list[_Plan] = []
        distinct = 0
        for event in events:
            plan = self._plan(event, rules, check_depth)
            if isinstance(plan, Collect):
                # Submitted as the batch is walked: chunks start while later events are walked.
                for key, item in plan.wanted.items():
                    if analysis.add(key, item):
                        distinct += 1
            plans.append(plan)
        # Texts repeated within the batch are analysed once: count them as cache hits.
        self._cache.hits += (
            sum(len(p.keys) + p.known for p in plans if isinstance(p, Collect)) - distinct
        )
        results = await analysis.finish()
        findings: dict[TextKey, list[Finding]] = {}
        errors: dict[TextKey, BaseException] = {}
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
            self._record(outcomes, time.perf_counter() - started)
        return outcomes

    def _plan(self, event: dict[str, Any], rules: PathRules, check_depth: bool) -> _Plan:
        """The first pass over one event (or why it needs none)."""
        if type(event) is dict:
            refused = rules.identifier_refusal(event)
            if refused is not None:
                return refused
            scanned = clean_without_walk(event, (), 0, rules, self._cache, check_depth)
            if scanned >= 0:
                # Every scanned string is known clean and no field rule applies:
                # the walk would return a copy equal to the event (see _finish).
                self._cache.hits += scanned
                return None
        collect = Collect(rules)
        try:
            collect.copy = walk(event, (), (), 0, rules, collect)
        except TooDeep:
            return Refused("redaction_failed", f"nesting deeper than {MAX_DEPTH}")
        return collect

    def _record(self, outcomes: list[RedactionOutcome], seconds: float) -> None:
        metrics = self.metrics
        assert metrics is not None
        metrics.redaction_seconds.observe(seconds)
        for outcome in outcomes:
            if outcome.failed:
                metrics.redaction_failures.inc()
            for r in outcome.redactions:
                metrics.redactions.labels(metrics.entity_label(r.entity)).inc(r.count)

    def _finish(
        self,
        event: dict[str, Any],
        plan: _Plan,
        findings: dict[TextKey, list[Finding]],
        errors: dict[TextKey, BaseException],
        rules: PathRules,
    ) -> RedactionOutcome:
        version = rules.policy.version or ""
        if plan is None:
            return unchanged(event, version)
        if isinstance(plan, Refused):
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
            apply = Apply(rules, findings, self._pseudonyms)
            sanitized = walk(event, (), (), 0, rules, apply)
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
        """Fail closed: the outcome carries no sanitized event (the DLQ scrubs the original)."""
        return RedactionOutcome(
            None,
            [],
            frozenset(),
            failed=True,
            reason=reason,
            policy_version=version,
            dlq_reason=dlq_reason,
            source=event,
        )
