"""Code that runs inside analysis worker processes (or the in-process thread).

Each process builds its engine once (in the pool initializer) and keeps it per
policy version, so a live policy change only costs one rebuild per process.
The policy travels with every task as JSON: a worker never analyses under a
policy other than the one the batch was planned with.
"""

from __future__ import annotations

import signal
from collections import OrderedDict

from service.redaction.engine import Finding, GuardianAnalyzer, build_engine, quiet_presidio
from service.redaction.policy import RedactionPolicy

_ENGINES: OrderedDict[str, GuardianAnalyzer] = OrderedDict()
_KEEP = 2  # the current policy and the previous one, during a change


def engine_for(policy_json: str, version: str, spacy_model: str | None) -> GuardianAnalyzer:
    """The engine of this process for ``version``, built on first use."""
    engine = _ENGINES.get(version)
    if engine is None:
        policy = RedactionPolicy.model_validate_json(policy_json)
        engine = build_engine(policy, spacy_model)
        _ENGINES[version] = engine
        while len(_ENGINES) > _KEEP:
            _ENGINES.popitem(last=False)
    else:
        _ENGINES.move_to_end(version)
    return engine


def init_worker(policy_json: str, version: str, spacy_model: str | None) -> None:
    """Pool initializer: ignore Ctrl-C (the parent decides), quiet Presidio, build the engine."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_presidio()
    engine_for(policy_json, version, spacy_model)


def analyze_chunk(
    policy_json: str,
    version: str,
    spacy_model: str | None,
    items: list[tuple[str, tuple[str, ...]]],
) -> list[list[Finding]]:
    """Findings for each ``(text, entities)`` item, in order."""
    engine = engine_for(policy_json, version, spacy_model)
    return [engine.find(text, entities) for text, entities in items]


def warm(policy_json: str, version: str, spacy_model: str | None) -> int:
    """Build the engine now (used at start so the first batch does not pay for it)."""
    engine_for(policy_json, version, spacy_model)
    import os

    return os.getpid()
