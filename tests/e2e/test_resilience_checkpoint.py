"""The checkpoint format: signed, versioned, verified before parsing; drop/export helpers."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from service.state import checkpoint as checkpoint_module
from service.state.checkpoint import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    Checkpoint,
    CheckpointCodec,
    CheckpointRefused,
    key_id,
)

KEY = b"unit-test-signing-key-0123456789"
OTHER_KEY = b"another-signing-key-9876543210xx"


def _cp(**changes: object) -> Checkpoint:
    fields: dict[str, object] = {
        "key": "credit-risk/1/x/adwin",
        "kind": "drift",
        "model": "credit-risk",
        "partition": 2,
        "offset": 41,
        "state": {"state": {"n_seen": 40}},
        "created_at": 1.5,
    }
    fields.update(changes)
    return Checkpoint(**fields)  # type: ignore[arg-type]


def _signed(value: bytes, record_key: bytes = b"k", key: bytes = KEY) -> list[tuple[str, bytes]]:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(len(record_key).to_bytes(4, "big") + record_key + value)
    return [(SIGNATURE_HEADER, mac.hexdigest().encode()), (KEY_ID_HEADER, key_id(key).encode())]


def test_round_trip_keeps_every_field() -> None:
    codec = CheckpointCodec(KEY)
    cp = _cp()
    value, headers = codec.encode(cp)
    assert codec.decode(cp.key.encode(), value, headers) == cp
    envelope = orjson.loads(value)
    assert envelope["v"] == 1 and envelope["kind"] == "drift" and envelope["partition"] == 2


def _flip(value: bytes) -> bytes:
    return value[:-2] + bytes([value[-2] ^ 0x01]) + value[-1:]


@pytest.mark.parametrize(
    "tamper, reason",
    [
        pytest.param(lambda k, v, h: (k, _flip(v), h), "refused_signature", id="corrupted-value"),
        pytest.param(
            lambda k, v, h: (b"other/1/x/adwin", v, h), "refused_signature", id="moved-key"
        ),
        pytest.param(lambda k, v, h: (k, v, []), "refused_signature", id="unsigned"),
        pytest.param(
            lambda k, v, h: (k, v, [(n, b"0" * 64 if n == SIGNATURE_HEADER else x) for n, x in h]),
            "refused_signature",
            id="forged-mac",
        ),
        pytest.param(
            lambda k, v, h: (k, v, _signed(v, k, OTHER_KEY)), "refused_signature", id="unknown-key"
        ),
        pytest.param(
            lambda k, v, h: (k, v, [(n, b"ffff" if n == KEY_ID_HEADER else x) for n, x in h]),
            "refused_signature",
            id="unknown-key-id",
        ),
        pytest.param(lambda k, v, h: (k, None, h), "refused_malformed", id="tombstone"),
        pytest.param(
            lambda k, v, h: (k, b"\x80\x04not json", _signed(b"\x80\x04not json", k)),
            "refused_malformed",
            id="signed-pickle-bytes",
        ),
        pytest.param(
            lambda k, v, h: (k, b"[1, 2]", _signed(b"[1, 2]", k)), "refused_malformed", id="array"
        ),
        pytest.param(
            lambda k, v, h: (k, _reversion(v, 2), _signed(_reversion(v, 2), k)),
            "refused_version",
            id="version-2",
        ),
        pytest.param(
            lambda k, v, h: (k, _without(v, "state"), _signed(_without(v, "state"), k)),
            "refused_malformed",
            id="no-state",
        ),
        pytest.param(
            lambda k, v, h: (k, _with(v, partition=-1), _signed(_with(v, partition=-1), k)),
            "refused_malformed",
            id="negative-partition",
        ),
        pytest.param(
            lambda k, v, h: (k, _with(v, kind="pickle"), _signed(_with(v, kind="pickle"), k)),
            "refused_malformed",
            id="unknown-kind",
        ),
    ],
)
def test_tampered_records_are_refused_with_their_reason(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    codec = CheckpointCodec(KEY)
    cp = _cp()
    value, headers = codec.encode(cp)
    k, v, h = tamper(cp.key.encode(), value, headers)
    with pytest.raises(CheckpointRefused) as refused:
        codec.decode(k, v, h)
    assert refused.value.reason == reason


def _reversion(value: bytes, v: int) -> bytes:
    return _with(value, v=v)


def _with(value: bytes, **changes: object) -> bytes:
    return orjson.dumps({**orjson.loads(value), **changes})


def _without(value: bytes, field: str) -> bytes:
    envelope = orjson.loads(value)
    del envelope[field]
    return orjson.dumps(envelope)


def test_bad_signature_is_refused_before_any_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = CheckpointCodec(KEY)
    value, headers = codec.encode(_cp())
    parsed: list[bytes] = []
    real_loads = checkpoint_module.orjson.loads

    def spy(data: bytes) -> object:
        parsed.append(data)
        return real_loads(data)

    monkeypatch.setattr(checkpoint_module.orjson, "loads", spy)
    with pytest.raises(CheckpointRefused):
        codec.decode(b"credit-risk/1/x/adwin", _flip(value), headers)
    assert parsed == []
    codec.decode(b"credit-risk/1/x/adwin", value, headers)
    assert parsed == [value]


def test_rotation_reads_old_and_new_keys_and_signs_with_the_new_one() -> None:
    old = CheckpointCodec(KEY)
    new = CheckpointCodec(OTHER_KEY, verify_keys=[KEY])
    cp = _cp()
    old_value, old_headers = old.encode(cp)
    assert new.decode(cp.key.encode(), old_value, old_headers) == cp
    value, headers = new.encode(cp)
    assert dict(headers)[KEY_ID_HEADER] == key_id(OTHER_KEY).encode()
    with pytest.raises(CheckpointRefused):
        old.decode(cp.key.encode(), value, headers)


def test_short_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CheckpointCodec(b"short")


def test_no_pickle_anywhere_in_the_state_package() -> None:
    import pathlib

    for path in pathlib.Path("service/state").glob("*.py"):
        assert "import pickle" not in path.read_text() and "pickle.loads" not in path.read_text()


def test_registry_drops_one_model_and_keeps_the_others() -> None:
    reg = DetectorRegistry(DetectorSpecs())
    for i in range(5):
        reg.observe("a", "1", {"x": float(i)}, {"score": 0.5}, ts=0.0)
        reg.observe("b", "1", {"x": float(i)}, {"score": 0.5}, ts=0.0)
    a_ids = reg.ids_of_model("a")
    saved = reg.export_state(a_ids)
    assert a_ids and reg.drop_model("a") == len(a_ids)
    assert reg.ids_of_model("a") == [] and reg.ids_of_model("b")
    report = reg.import_state(saved)
    assert sorted(report.restored) == sorted(a_ids) and not report.refused
    assert all(reg.get(i).state["n_seen"] == saved[i]["state"]["n_seen"] for i in a_ids)
    assert max(reg.get(i).state["n_seen"] for i in a_ids) == 5


def test_fairness_exports_one_model_and_drops_it() -> None:
    cfg = FairnessConfig.from_mapping(
        {"models": [{"model": "*", "attributes": {"gender": ["f", "m"]}, "metrics": {}}]}
    )
    monitor = FairnessMonitor(cfg)
    for i in range(10):
        for model in ("a", "b"):
            monitor.observe(model, "1", {"gender": "f"}, 1, event_id=f"{model}{i}", ts=float(i))
    only_a = monitor.export_state(["a"])
    assert list(only_a["models"]) == ["a"]
    assert monitor.drop_model("a") and not monitor.drop_model("a")
    assert monitor.models == ["b"]
    monitor.import_state(only_a)
    assert sorted(monitor.models) == ["a", "b"]
