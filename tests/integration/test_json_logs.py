"""JSON logs (`log.format: json`): request ids on API lines, batch sizes and reasons, no values."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from service import logs
from service.logs import JsonFormatter, RequestIdFilter, configure_logging
from service.settings import GuardianSettings
from tests.api_helpers import api_settings, client_for, headers
from tests.e2e_streams import event, sample, wait_for
from tests.kafka_helpers import produce

#: Personal values fed through the pipeline and the API; none may reach a log line.
PII = {
    "email": "jane.roe.4711@example.org",
    "ssn": "123-45-6789",
    "card": "4111 1111 1111 1111",
    "phone": "+1 415 555 0134",
}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writes JSON lines to a buffer for the test; restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("service.x", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    RequestIdFilter().filter(rec)
    return rec


def test_a_line_is_one_object_with_safe_extras_only() -> None:
    rec = record(
        "batch of %d",
        3,
        batch_size=3,
        rejected={"invalid_json": 2},
        route="/v1/alerts",
        payload=b"raw bytes",  # not a number, string or {code: count}: dropped
        values=["jane@example.org"],
        fields={"email": "jane@example.org"},
    )
    doc = json.loads(JsonFormatter().format(rec))
    assert doc["message"] == "batch of 3" and doc["level"] == "INFO"
    assert doc["batch_size"] == 3 and doc["rejected"] == {"invalid_json": 2}
    assert doc["route"] == "/v1/alerts"
    assert not {"payload", "values", "fields", "request_id"} & doc.keys()


def test_the_request_id_comes_from_the_context() -> None:
    token = logs.request_id.set("req-42")
    try:
        doc = json.loads(JsonFormatter().format(record("hello")))
    finally:
        logs.request_id.reset(token)
    assert doc["request_id"] == "req-42"


def test_the_setting_takes_text_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_LOG__FORMAT", "json")
    assert GuardianSettings.load(None).log.format == "json"
    monkeypatch.setenv("GUARDIAN_LOG__FORMAT", "xml")
    with pytest.raises(ValueError, match="log.format"):
        GuardianSettings.load(None)


@pytest.mark.integration
async def test_pii_through_pipeline_and_api_never_reaches_the_json_log(
    kafka_bootstrap: str, guardian_factory: Any, captured: io.StringIO
) -> None:
    settings = api_settings(kafka_bootstrap)
    guardian = await guardian_factory(settings)
    text = " ".join(PII.values())
    good = [
        orjson.dumps(event("credit-risk", {"age": 30 + i, "note": text}, ts=1000.0 + i))
        for i in range(20)
    ]
    bad = [f'{{"not json": "{text}'.encode(), orjson.dumps({"inputs": {"text": text}})]
    await produce(kafka_bootstrap, settings.kafka.topics.events, good + bad)
    registry = guardian.metrics.registry
    await wait_for(
        lambda: sample(registry, "guardian_events_consumed_total") >= len(good) + len(bad),
        within=60,
        what="every event consumed",
    )
    await wait_for(
        lambda: (
            sum(
                s.value
                for f in registry.collect()
                for s in f.samples
                if s.name == "guardian_events_rejected_total"
            )
            >= len(bad)
        ),
        within=30,
        what="the bad events rejected",
    )
    async with client_for(guardian.app) as c:
        r = await c.get(
            "/v1/alerts",
            params={"q": PII["email"]},
            headers={**headers("viewer"), "X-Request-ID": "trace-1"},
        )
        assert r.headers["X-Request-ID"] == "trace-1"
        r = await c.post(
            "/v1/policies/redaction/dry-run",
            json={"event": {"inputs": {"text": text}}},
            headers={**headers("operator"), "X-Request-ID": "trace-2"},
        )
        assert r.headers["X-Request-ID"] == "trace-2"

    lines = [line for line in captured.getvalue().splitlines() if line]
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    for line in lines:
        for name, value in PII.items():
            assert value not in line, f"{name} in a log line: {line[:200]}"
    api = {d["request_id"]: d for d in docs if d.get("logger") == "service.api"}
    assert api["trace-1"]["route"] == "/v1/alerts" and api["trace-1"]["status"] == 200
    assert api["trace-2"]["route"] == "/v1/policies/redaction/dry-run"
    batches = [d for d in docs if "batch_size" in d]
    assert sum(d["events"] for d in batches) >= len(good) + len(bad)
    reasons = {reason for d in batches for reason in d["rejected"]}
    assert reasons  # reason codes, e.g. invalid_json, schema
    assert all(reason.replace("_", "").isalnum() for reason in reasons), reasons
