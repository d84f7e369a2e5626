"""Code that runs inside analysis worker processes (or the in-process thread).

Each process builds its engine once (in the pool initializer) and keeps it per
policy version, so a live policy change only costs one rebuild per process.
The policy travels with every task as JSON: a worker never analyses under a
policy other than the one the batch was planned with.
"""

from __future__ import annotations

import os
import signal
import time
from collections import OrderedDict

from service.redaction.engine import Finding, GuardianAnalyzer, build_engine, quiet_presidio
from service.redaction.policy import RedactionPolicy

_ENGINES: OrderedDict[str, GuardianAnalyzer] = OrderedDict()
_KEEP = 2  # the current policy and the previous one, during a change
_WARMUP_TEXT = (
    "mail a.b@example.com, call (212) 555-0199 or +44 20 7946 0958, +49 30 901820, "
    "+33 1 42 68 53 00, +91 22 2778 2000, card 4111 1111 1111 1111, "
    "IBAN DE89370400440532013000, ip 10.1.2.3, password=hunter22, ssn 123-45-6789, "
    "key AKIAIOSFODNN7EXAMPLE, token ghp_0123456789abcdefghijABCDEFGHIJ012345, "
    # Other forms (textforms): full width, %-escapes, base64, an unassigned number.
    "ｍａｉｌ＠ｅｘａｍｐｌｅ．ｃｏｍ u=a%40example.com am9obkBleGFtcGxlLmNvbQ== "
    "reach me at 397-528-2064"
)


def engine_for(policy_json: str, version: str, spacy_model: str | None) -> GuardianAnalyzer:
    """The engine of this process for ``version``, built on first use."""
    engine = _ENGINES.get(version)
    if engine is None:
        policy = RedactionPolicy.model_validate_json(policy_json)
        engine = build_engine(policy, spacy_model)
        # libphonenumber loads each region's metadata on first sight of it (the first
        # events would pay for it, per process): load all of it now, ~0.1 s.
        from phonenumbers import PhoneMetadata

        PhoneMetadata.load_all()
        # Presidio compiles patterns and loads the suffix list on first use: pay that now.
        engine.detect(_WARMUP_TEXT, tuple(sorted(policy.all_entities)))
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
    return [engine.detect(text, entities) for text, entities in items]


def warm(policy_json: str, version: str, spacy_model: str | None) -> int:
    """Build the engine now and report which process ran (start waits for every worker)."""
    engine_for(policy_json, version, spacy_model)
    time.sleep(0.02)  # let a sibling still in its initializer take the next warm task
    return os.getpid()
