"""Drift per segment: a shift in one tenant is found on that tenant's streams, with
bounded cardinality (top-k + __other__) and the segment named in the explanation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from detectors.drift.explain import describe
from detectors.drift.segments import OTHER, Segmenter, SegmentSpec, segment_value, split_version
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs


@pytest.mark.parametrize(
    ("event", "by", "expected"),
    [
        ({"tenant": "acme"}, "tenant", "acme"),
        ({"metadata": {"region": "eu|west"}}, "metadata.region", "eu_west"),
        ({"subject": {"protected": {"age_band": "40-49"}}}, "protected.age_band", "40-49"),
        ({"metadata": {"region": {"nested": 1}}}, "metadata.region", None),
        ({}, "tenant", None),
    ],
)
def test_segment_value(event: dict[str, Any], by: str, expected: str | None) -> None:
    assert segment_value(event, by) == expected


def test_bad_segment_spec_is_refused() -> None:
    with pytest.raises(ValidationError, match="by must be"):
        SegmentSpec(by="inputs.text")


def test_cardinality_is_bounded() -> None:
    seg = Segmenter(lambda: [SegmentSpec(by="tenant", top_k=3, min_count=5)])
    versions = set()
    for i in range(20_000):
        tenant = f"t{i % 4}" if i < 1000 else f"rare{i}"
        for row in seg.rows({"tenant": tenant}, "m", "1", {}, {}, float(i)):
            versions.add(row[1])
    assert len(versions) == 4 and f"1|tenant={OTHER}" in versions
    assert split_version(f"1|tenant={OTHER}") == ("1", f"tenant={OTHER}")
    assert split_version("1") == ("1", "all")


def test_shift_in_one_tenant_is_found_on_its_segment() -> None:
    specs = DetectorSpecs.model_validate(
        {
            "defaults": {"numeric": [{"kind": "rank_window", "cooldown": 10_000}]},
            "segments": [{"by": "tenant", "top_k": 5, "min_count": 10}],
        }
    )
    reg = DetectorRegistry(specs)
    seg = Segmenter(lambda: reg.specs.segments)
    rng = np.random.default_rng(9)
    found = []
    for i in range(40_000):
        tenant = ("acme", "globex", "initech", "umbrella")[i % 4]
        shifted = tenant == "acme" and i >= 30_000
        x = float(rng.lognormal(0.0, 1.0) + (2.2 if shifted else 0.0))  # ~1 sd of a lognormal
        ev = {"tenant": tenant}
        rows = [("m", "1", {"x": x}, {}, i / 10.0), *seg.rows(ev, "m", "1", {"x": x}, {}, i / 10.0)]
        found += reg.observe_batch(rows)
    assert [(r.version, r.feature) for r in found] == [("1|tenant=acme", "x")]
    assert describe(found[0])["segment"] == "tenant=acme"
