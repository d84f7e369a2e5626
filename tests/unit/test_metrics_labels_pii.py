"""Only identifiers (bounded) and fixed vocabularies reach /metrics labels; feature names
only after redaction. In-process: the stages, outputs and metrics of a default Guardian."""

from __future__ import annotations

import orjson
from prometheus_client import generate_latest

from load_tests.workload import StageDriver
from service.composition import build_guardian
from service.settings import GuardianSettings

EMAIL = "label.leak@example.org"
PHONE = "212-555-0143"


def _event(i: int, **changes: object) -> bytes:
    event: dict[str, object] = {
        "schema_version": 1,
        "event_id": f"e-{i}",
        "timestamp": "2026-11-30T12:00:00Z",
        "model": {"name": "credit-risk", "version": "3.2.0"},
        "inputs": {"features": {EMAIL: float(i % 7), "age": 30 + i % 20}},
        "outputs": {"prediction": i % 2, "score": 0.5},
        "subject": {"protected": {"gender": "f" if i % 2 else "m"}},
    }
    event.update(changes)
    return orjson.dumps(event)


async def test_metrics_labels_carry_redacted_feature_names_and_no_pii() -> None:
    guardian = build_guardian(GuardianSettings.load(None, redaction={"workers": 0}))
    await guardian.redactor.start()
    try:
        driver = StageDriver(guardian)
        records = [(b"credit-risk", _event(i)) for i in range(200)]
        records.append((PHONE.encode(), _event(999, model={"name": PHONE, "version": "1"})))
        await driver.run_batch(records)
        assert driver.rejected == 1
    finally:
        await guardian.redactor.close()
    text = generate_latest(guardian.metrics.registry).decode()
    assert EMAIL not in text and PHONE not in text
    # Drift on the feature whose key was an e-mail runs under its redacted name.
    assert 'feature="<EMAIL_ADDRESS>"' in text
    assert 'guardian_events_rejected_total{reason="pii_in_identifier"} 1.0' in text
