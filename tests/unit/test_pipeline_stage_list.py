"""The stage list is the whole chain: what ``guardian.stages`` lists is what the worker runs.

The checkpointer is a stage (it tracks which models live on which input
partition, after the detectors saw them) and is listed last; it takes the
worker's commit and rebalance hooks, never a place in the chain by itself.
"""

from __future__ import annotations

import pytest

from service.composition import build_guardian
from tests.kafka_helpers import make_settings
from tests.resilience_helpers import SIGNING_KEY

NO_BROKER = "127.0.0.1:9"  # nothing connects: the Guardian is only built


def test_with_a_signing_key_the_checkpointer_is_the_last_listed_stage() -> None:
    guardian = build_guardian(make_settings(NO_BROKER, state={"signing_key": SIGNING_KEY}))
    assert [s.name for s in guardian.stages] == [
        "validate",
        "redact",
        "retain",
        "detect",
        "checkpoint",
    ]
    assert guardian.worker.stages == guardian.stages
    assert guardian.stages[-1] is guardian.checkpointer
    assert guardian.checkpointer is not None and guardian.checkpointer.worker is guardian.worker


def test_without_a_signing_key_four_stages_are_listed_and_run() -> None:
    guardian = build_guardian(make_settings(NO_BROKER))
    assert guardian.checkpointer is None
    assert [s.name for s in guardian.worker.stages] == ["validate", "redact", "retain", "detect"]
    assert guardian.worker.stages == guardian.stages


def test_a_checkpointer_outside_the_chain_is_refused() -> None:
    guardian = build_guardian(make_settings(NO_BROKER, state={"signing_key": SIGNING_KEY}))
    assert guardian.checkpointer is not None
    guardian.worker.stages.pop()
    with pytest.raises(ValueError, match="last stage"):
        guardian.checkpointer.attach(guardian.worker)
