"""The fleet view without a broker: records signed and verified, members stale, holders found."""

from __future__ import annotations

import pytest

from service.fleet.records import (
    DetectorSummary,
    FleetView,
    Heartbeat,
    Refused,
    ResetRequest,
    decode,
    encode,
)
from service.signing import RecordSigner

SIGNER = RecordSigner({"k1": b"0123456789abcdef-fleet"}, "k1")
OTHER = RecordSigner({"k1": b"another-key-0123456789"}, "k1")


def _summary(det_id: str) -> DetectorSummary:
    return DetectorSummary(
        id=det_id,
        model="m",
        version="1",
        feature="age",
        type="numeric",
        kind="adwin",
        params={"delta": 0.002},
        state={"n_seen": 3},
    )


def _beat(replica: str, at: float, *dets: str) -> Heartbeat:
    return Heartbeat(
        replica_id=replica,
        partitions=["e[0]"],
        config_version=1,
        detectors=[_summary(d) for d in dets],
        at=at,
        interval_s=3.0,
    )


def test_records_round_trip_signed() -> None:
    beat = _beat("a", 1.0, "m/1/age/adwin")
    value, headers = encode(SIGNER, "replica/a", beat)
    assert decode(SIGNER, b"replica/a", value, headers) == beat
    req = ResetRequest(request_id="r1", detector_id="d", holder="a", requested_by="b", at=1.0)
    value, headers = encode(SIGNER, "reset/r1", req)
    assert decode(SIGNER, b"reset/r1", value, headers) == req


@pytest.mark.parametrize(
    "key, signer, stored_key, reason",
    [
        ("replica/a", OTHER, b"replica/a", "bad_signature"),
        ("replica/a", SIGNER, b"replica/b", "bad_signature"),  # moved to another key
        ("replica/b", SIGNER, b"replica/b", "malformed"),  # signed, but names another replica
        ("other/a", SIGNER, b"other/a", "malformed"),
    ],
)
def test_refused(key: str, signer: RecordSigner, stored_key: bytes, reason: str) -> None:
    value, headers = encode(signer, key, _beat("a", 1.0))
    with pytest.raises(Refused, match=reason):
        decode(SIGNER, stored_key, value, headers)


def test_unsigned_refused() -> None:
    with pytest.raises(Refused, match="unsigned"):
        decode(SIGNER, b"replica/a", _beat("a", 1.0).model_dump_json().encode(), [])


def test_view_members_holders_and_staleness() -> None:
    view = FleetView("a", stale_after_s=10, forget_after_s=100)
    view.take_heartbeat(_beat("a", 100.0, "m/1/x/adwin"))
    view.take_heartbeat(_beat("b", 100.0, "m/1/age/adwin"))
    view.take_heartbeat(_beat("b", 90.0))  # older: ignored
    assert [(m.replica_id, m.detectors, m.this_replica) for m in view.members(105.0)] == [
        ("a", 1, True),
        ("b", 1, False),
    ]
    held = view.holder_of("m/1/age/adwin", 105.0)
    assert held is not None and held[0] == "b"
    assert view.holder_of("m/1/x/adwin", 105.0) is None  # own detectors are read live
    # Stale: still listed (marked), its detectors no longer are; forgotten later.
    assert [m.stale for m in view.members(111.0)] == [True, True]
    assert view.remote_detectors(111.0) == []
    assert view.members(201.0) == []
    view.forget("b")
    assert [m.replica_id for m in view.members(105.0)] == ["a"]


def test_members_count_every_detector_even_past_the_listed_bound() -> None:
    view = FleetView("a", stale_after_s=10, forget_after_s=100)
    beat = _beat("b", 100.0, "m/1/age/adwin").model_copy(update={"detector_count": 7000})
    view.take_heartbeat(beat)
    assert [m.detectors for m in view.members(101.0)] == [7000]
