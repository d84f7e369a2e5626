"""Config documents on guardian.config are signed; anything else is refused and counted (15.5)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from service.control.document import CURRENT_KEY, ConfigDocument, history_key, utc_now
from service.control.signing import REFUSAL_REASONS, ConfigCodec, ConfigRefused, ReplayGuard
from service.settings import ControlSettings, GuardianSettings, describe_validation_error
from service.signing import KEY_ID_HEADER, SIGNATURE_HEADER, RecordSigner
from tests.api_helpers import api_settings, eventually, running
from tests.kafka_helpers import CONTROL_KEYS, drain, free_port

GROUP_KEY = CONTROL_KEYS["signing_keys"]["test-k1"].encode()
OTHER_KEY = b"a-key-nobody-in-the-group-has-0123"


def _refused(guardian: Any, reason: str) -> float:
    return guardian.metrics.registry.get_sample_value(
        "guardian_config_refused_total", {"reason": reason}
    )


def _patch(delta: float) -> Any:
    def change(doc: ConfigDocument) -> dict[str, Any]:
        patches = {**doc.detectors.patches, "m/1/x/adwin": {"delta": delta}}
        return {"detectors": doc.detectors.model_copy(update={"patches": patches})}

    return change


async def _send(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, list[Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_only_signed_fresh_documents_are_applied(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = api_settings(kafka_bootstrap)
    topic = settings.kafka.topics.config
    async with running(settings) as a:
        store = a.control
        await store.commit("alice", _patch(0.001))
        written = await drain(kafka_bootstrap, topic, idle_s=0.5, timeout_s=10)
        [v1_current] = [
            m for m in written if m.key == CURRENT_KEY and orjson.loads(m.value)["version"] == 1
        ]
        assert dict(v1_current.headers)[KEY_ID_HEADER] == b"test-k1"
        await store.commit("alice", _patch(0.002))
        applied = store.current
        assert applied.version == 2

        # What someone with write access to the topic, but not the key, can write.
        forged = applied.model_copy(
            update={
                "version": 3,
                "updated_by": "mallory",
                "updated_at": utc_now(),
                "comment": "take-over",
            }
        )
        value = forged.model_dump_json().encode()
        group = RecordSigner({"test-k1": GROUP_KEY}, "test-k1")
        stranger = RecordSigner({"test-k9": OTHER_KEY}, "test-k9")
        junk = b'{"version": 3, "updated_by": "mallory"'
        await _send(
            kafka_bootstrap,
            topic,
            [
                (CURRENT_KEY, value, []),
                (CURRENT_KEY, value, [(SIGNATURE_HEADER, b"0" * 64), (KEY_ID_HEADER, b"test-k1")]),
                # a valid signature for another key: the value was moved
                (CURRENT_KEY, value, group.sign(history_key(3), value)),
                (CURRENT_KEY, value, stranger.sign(CURRENT_KEY, value)),
                (CURRENT_KEY, junk, group.sign(CURRENT_KEY, junk)),
                # a signed, older document written again
                (v1_current.key, v1_current.value, list(v1_current.headers)),
            ],
        )
        expected = {
            "unsigned": 1,
            "bad_signature": 2,
            "unknown_key": 1,
            "malformed": 1,
            "replayed": 1,
        }

        async def all_counted() -> bool:
            return all(_refused(a, r) == n for r, n in expected.items())

        await eventually(all_counted)
        assert store.current == applied  # nothing was applied
        assert max(store.history) == 2 and "mallory" not in store.current.model_dump_json()

        # Another replica holding the group's key: its change is applied here.
        b_settings = settings.model_copy(
            update={"http": settings.http.model_copy(update={"port": free_port()})}
        )
        async with running(b_settings) as b:
            assert b.control.current == applied
            await b.control.commit("bob", _patch(0.003))

            async def applied_here() -> bool:
                return store.current.version == 3

            await eventually(applied_here)
            assert store.current.updated_by == "bob"
            assert store.current.detectors.patches["m/1/x/adwin"] == {"delta": 0.003}
            assert all(_refused(a, r) == n for r, n in expected.items())

    # A replica started now reads the whole topic: the same records are refused, v3 applies.
    async with running(settings) as c:
        assert c.control.current.version == 3 and c.control.current.updated_by == "bob"
        assert {r: _refused(c, r) for r in expected} == expected

    logged = caplog.text
    assert "refused" in logged
    assert "mallory" not in logged and "take-over" not in logged


def _doc(version: int, at: str, by: str = "alice") -> ConfigDocument:
    return ConfigDocument(
        version=version,
        redaction={},
        retention={},
        detectors={"specs": {}},
        updated_by=by,
        updated_at=at,
        origin="r",
    )


def test_rotation_old_key_verifies_new_key_signs() -> None:
    old = ConfigCodec(RecordSigner({"k1": GROUP_KEY}, "k1"))
    rotated = ConfigCodec.from_settings(
        ControlSettings.model_validate(
            {
                "signing_keys": {"k1": GROUP_KEY.decode(), "k2": OTHER_KEY.decode()},
                "active_signing_key": "k2",
            }
        )
    )
    doc = _doc(1, "2026-12-01T10:00:00.000Z")
    value, headers = old.encode(CURRENT_KEY, doc)
    assert rotated.decode(CURRENT_KEY, value, headers) == doc  # written before the rotation
    value, headers = rotated.encode(CURRENT_KEY, doc)
    assert dict(headers)[KEY_ID_HEADER] == b"k2"
    with pytest.raises(ConfigRefused) as refused:
        old.decode(CURRENT_KEY, value, headers)  # a replica not yet given k2
    assert refused.value.reason == "unknown_key"


def test_no_key_configured_signs_with_a_random_key_of_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = (
        ConfigCodec.from_settings(ControlSettings()),
        ConfigCodec.from_settings(ControlSettings()),
    )
    assert first.ephemeral and "GUARDIAN_CONTROL__SIGNING_KEYS" in caplog.text
    value, headers = first.encode(CURRENT_KEY, _doc(0, "2026-12-01T10:00:00.000Z"))
    with pytest.raises(ConfigRefused):
        second.decode(CURRENT_KEY, value, headers)


@pytest.mark.parametrize(
    "control, field",
    [
        ({"signing_keys": {"k1": "0123456789abcdef"}}, "active_signing_key"),
        ({"signing_keys": {"k1": "short"}, "active_signing_key": "k1"}, "16 bytes"),
        ({"signing_keys": {"k 1": "0123456789abcdef"}, "active_signing_key": "k 1"}, "key ids"),
        ({"signing_keys": {"k1": "0123456789abcdef"}, "active_signing_key": "k2"}, "not a key"),
    ],
)
def test_bad_signing_settings_stop_start_up(control: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        GuardianSettings.load(None, control=control)
    line = describe_validation_error(exc.value)  # what start-up prints
    assert "GUARDIAN_CONTROL" in line and field in line
    assert "0123456789abcdef" not in line and "short" not in line


@pytest.mark.parametrize(
    "seen, doc, replayed",
    [
        ([(5, "T05")], (3, "T03"), True),  # an older copy
        ([(5, "T05")], (5, "T05"), False),  # the same document again (a retried send)
        ([(5, "T05")], (5, "T04"), False),  # a concurrent write of the same version that lost
        ([(5, "T05")], (4, "T06"), False),  # a replica that had not seen v5 yet
        ([(5, "T05")], (6, "T06"), False),
    ],
)
def test_replay_rule(seen: list[tuple[int, str]], doc: tuple[int, str], replayed: bool) -> None:
    guard = ReplayGuard()
    for version, at in seen:
        guard.check(CURRENT_KEY, _doc(version, at))
    if replayed:
        with pytest.raises(ConfigRefused, match="replayed"):
            guard.check(CURRENT_KEY, _doc(*doc))
    else:
        guard.check(CURRENT_KEY, _doc(*doc))


def test_refusal_reasons_are_the_documented_ones() -> None:
    assert set(REFUSAL_REASONS) == {
        "unsigned",
        "bad_signature",
        "unknown_key",
        "replayed",
        "malformed",
    }
