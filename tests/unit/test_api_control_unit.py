"""Unit checks of the config document, audit index, patch reconciliation (no Kafka)."""

from __future__ import annotations

import pytest

from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from service.api.routes_models import glob_escape
from service.control.audit import AuditIndex, AuditQuery, AuditRecord
from service.control.document import ConfigDocument, DetectorConfig
from service.control.live import ConfigInvalid, reconcile_patches, validate_patch


def _doc(version: int, at: str, origin: str) -> ConfigDocument:
    return ConfigDocument(
        version=version,
        redaction={},
        retention={},
        detectors=DetectorConfig(specs={}),
        updated_by="x",
        updated_at=at,
        origin=origin,
    )


def test_concurrent_writes_converge_on_one_document() -> None:
    a = _doc(4, "2026-01-01T00:00:00.100Z", "replica-a")
    b = _doc(4, "2026-01-01T00:00:00.200Z", "replica-b")
    older = _doc(3, "2026-01-01T00:00:09.000Z", "replica-z")
    # Whatever order a replica sees them in, the greatest key wins.
    for seen in ([a, b, older], [b, older, a], [older, a, b]):
        assert max(seen, key=ConfigDocument.order_key) is b
    nxt = b.successor(4, "alice", "replica-a", comment="c")
    assert (nxt.version, nxt.updated_by, nxt.origin) == (5, "alice", "replica-a")


def _rec(n: int, actor: str, obj: str) -> AuditRecord:
    return AuditRecord(
        id=str(n),
        actor=actor,
        role="admin",
        at=f"2026-01-01T00:00:0{n}.000Z",
        method="PUT",
        route="/r",
        path="/r",
        request_id="r",
        object=obj,
        action="a",
    )


def test_audit_index_filters_pages_and_dedups() -> None:
    index = AuditIndex(capacity=4)
    for n, actor, obj in [
        (1, "a", "detector:x"),
        (2, "b", "policy:redaction"),
        (3, "a", "detector:y"),
        (4, "a", "detectors:z"),
        (5, "b", "config"),
    ]:
        index.add(_rec(n, actor, obj))
    index.add(_rec(5, "b", "config"))  # read back from the topic: no duplicate
    assert len(index) == 4  # the oldest was dropped
    total, page = index.query(AuditQuery(actor="a"))
    assert total == 2 and [r.id for r in page] == ["4", "3"]
    total, page = index.query(AuditQuery(object="detector"))
    assert [r.id for r in page] == ["3"]  # a kind prefix, not a string prefix
    total, page = index.query(AuditQuery(since="2026-01-01T00:00:04.000Z", limit=1, offset=1))
    assert total == 2 and [r.id for r in page] == ["4"]
    assert not index.add_json(b"not json")


def test_validate_patch_names_each_bad_param() -> None:
    with pytest.raises(ConfigInvalid) as exc:
        validate_patch("adwin", {"delta": 0.002}, {"delta": 2.0, "nope": 1})
    text = " ".join(exc.value.problems)
    assert "params.delta" in text and "params.nope" in text
    assert validate_patch("adwin", {}, {"delta": 0.01})["delta"] == 0.01


def test_reconcile_is_idempotent_and_reaches_new_detectors() -> None:
    reg = DetectorRegistry(DetectorSpecs())
    det = "m/1/age/rank_window"  # the class defaults are the budgeted kinds
    patches = {det: {"false_alarms_per_day": 0.5}, "gone/1/x/adwin": {"delta": 0.01}}
    assert reconcile_patches(reg, patches) == 0  # not created yet
    reg.observe("m", "1", {"age": 1.0}, {}, ts=0.0)
    assert reconcile_patches(reg, patches) == 1
    reg.observe("m", "1", {"age": 2.0}, {}, ts=1.0)
    assert reconcile_patches(reg, patches) == 0  # already applied: state is kept
    assert reg.get(det).params["false_alarms_per_day"] == 0.5
    assert reg.get(det).state["n_seen"] == 1


def test_glob_escape_matches_only_the_name() -> None:
    import fnmatch

    assert fnmatch.fnmatchcase("a*b", glob_escape("a*b"))
    assert not fnmatch.fnmatchcase("axxb", glob_escape("a*b"))
    assert glob_escape("credit-risk") == "credit-risk"
