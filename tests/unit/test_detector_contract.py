"""Contract tests run against every detector kind (add a kind and it is tested),
seeded streams with exact detection indices, and the generic guards."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from detectors.base import Detector, DetectorStateError
from detectors.drift import DETECTOR_KINDS

N = 3000


def numeric_stream(seed: int, shift: float = 1.0) -> list[float]:
    r = random.Random(seed)
    return [r.gauss(0, 1) for _ in range(N)] + [r.gauss(shift, 1) for _ in range(N)]


def categorical_stream(seed: int) -> list[str]:
    r = random.Random(seed)
    before = r.choices("abcde", weights=[50, 25, 15, 7, 3], k=N)
    return before + r.choices("abcde", weights=[20, 20, 20, 20, 20], k=N)


def binary_stream(seed: int) -> list[bool]:
    r = random.Random(seed)
    return [r.random() < 0.1 for _ in range(N)] + [r.random() < 0.4 for _ in range(N)]


STREAMS: dict[str, Callable[[int], list[Any]]] = {
    "numeric": numeric_stream,
    "categorical": categorical_stream,
    "binary": binary_stream,
}


def stream_for(cls: type[Detector], seed: int) -> list[Any]:
    return STREAMS[cls.input_type](seed)


def run(det: Detector, values: list[Any]) -> list[tuple[bool, float]]:
    """Per value: (drift detected, statistic) — the detector's full observable output."""
    out = []
    for x in values:
        det.update(x)
        out.append((det.drift_detected, det.statistic))
    return out


def hits(det: Detector, values: list[Any]) -> list[int]:
    return [i for i, x in enumerate(values) if det.update(x).drift_detected]


def contains_text(obj: Any) -> bool:
    if isinstance(obj, str):
        return True
    if isinstance(obj, dict):
        return any(not isinstance(k, str) or contains_text(v) for k, v in obj.items())
    if isinstance(obj, list):
        return any(contains_text(v) for v in obj)
    return False


# -- the contract, for every kind ------------------------------------------------------------


def check_clone(cls: type[Detector]) -> None:
    values = stream_for(cls, 11)
    det = cls()
    run(det, values[:2000])
    twin = det.clone()
    assert twin is not det and twin.params == det.params
    assert twin.n_seen == 0 and not twin.drift_detected
    assert run(twin, values) == run(cls(), values)


def check_reset(cls: type[Detector]) -> None:
    values = stream_for(cls, 12)
    det = cls()
    first = run(det, values)
    det.reset()
    assert det.n_seen == 0 and det.n_detections == 0
    assert run(det, values) == first


def check_deterministic(cls: type[Detector]) -> None:
    values = stream_for(cls, 13)
    assert run(cls(), values) == run(cls(), values)


def check_detects_the_change(cls: type[Detector]) -> None:
    found = hits(cls(), stream_for(cls, 14))
    assert any(N <= h < 2 * N for h in found), found


def check_state_round_trip(cls: type[Detector]) -> None:
    values = stream_for(cls, 15)
    for cut in (500, N + 40):  # mid-warm-up of windows, and just after the change
        original = cls()
        run(original, values[:cut])
        state = json.loads(json.dumps(original.export_state(), allow_nan=False))
        assert not contains_text(state), "exported state must hold numbers only"
        restored = cls(original.params)
        restored.import_state(state)
        assert restored.n_seen == original.n_seen
        assert restored.statistic == original.statistic
        assert run(restored, values[cut:]) == run(original, values[cut:])


def check_import_refuses_garbage(cls: type[Detector]) -> None:
    det = cls()
    run(det, stream_for(cls, 16)[:300])
    state = det.export_state()
    with pytest.raises(DetectorStateError):
        det.import_state({**state, "v": 99})
    with pytest.raises(DetectorStateError):
        det.import_state({**state, "detector": {}})
    with pytest.raises(DetectorStateError):
        det.import_state({**state, "n_seen": "many"})


def check_params_validation(cls: type[Detector]) -> None:
    with pytest.raises(ValidationError) as unknown:
        cls(not_a_param=1)
    assert "not_a_param" in str(unknown.value)
    with pytest.raises(ValidationError) as negative:
        cls(cooldown=-1)
    assert "cooldown" in str(negative.value)
    # every bounded numeric field of the kind rejects an absurd value, naming the field
    for name, info in cls.Params.model_fields.items():
        bounded = any(hasattr(m, "gt") or hasattr(m, "ge") for m in info.metadata)
        if not bounded:
            continue
        with pytest.raises(ValidationError) as exc:
            cls(**{name: -(10**13)})
        assert name in str(exc.value)


def check_set_params_is_atomic(cls: type[Detector]) -> None:
    det = cls()
    run(det, stream_for(cls, 17)[:500])
    before_params, before_state = det.params, det.export_state()
    with pytest.raises(ValidationError):
        det.set_params({"cooldown": 5, "bogus": 1})
    assert det.params == before_params
    assert det.export_state() == before_state
    det.set_params({"cooldown": 7})
    assert det.params.cooldown == 7 and det.n_seen == 0
    other = det.with_params(min_samples=3)
    assert other.params.min_samples == 3 and det.params.min_samples == 0


CHECKS = [
    check_clone,
    check_reset,
    check_deterministic,
    check_detects_the_change,
    check_state_round_trip,
    check_import_refuses_garbage,
    check_params_validation,
    check_set_params_is_atomic,
]


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        pytest.param(cls, check, id=f"{kind}:{check.__name__}")
        for kind, cls in DETECTOR_KINDS.items()
        for check in CHECKS
    ],
)
def test_contract(cls: type[Detector], check: Callable[[type[Detector]], None]) -> None:
    check(cls)


def test_every_kind_is_unique_and_documented() -> None:
    assert len({c.kind for c in DETECTOR_KINDS.values()}) == len(DETECTOR_KINDS) == 12
    for cls in DETECTOR_KINDS.values():
        assert cls.__doc__ and "Examples" in cls.__doc__


# -- seeded streams, exact indices (change at 3000) ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("adwin", [3071]),
        ("page_hinkley", [3023]),
        ("kswin", [3219]),
        ("categorical", [3173]),
        ("missing_rate", [3103]),
        ("ddm", [3091]),
        ("eddm", [307, 640, 951, 1321, 3080, 3161, 3283, 3363, 3433]),
        ("hddm_a", [3034]),
        ("hddm_w", [3064, 5072]),
        ("fhddm", [3063]),
        ("rank_window", [3099]),
        # its first fill is 5,000 values: the first test, at 4999, sees the change
        ("category_window", [4999]),
    ],
)
def test_exact_detection_indices(kind: str, expected: list[int]) -> None:
    cls = DETECTOR_KINDS[kind]
    seed = {"numeric": 1, "categorical": 2, "binary": 3}[cls.input_type]
    assert hits(cls(), STREAMS[cls.input_type](seed)) == expected


# -- generic guards ----------------------------------------------------------------------------


def test_cooldown_gives_one_detection_per_change() -> None:
    cls = DETECTOR_KINDS["eddm"]  # fires repeatedly after a change without a cooldown
    values = binary_stream(3)
    assert len([h for h in hits(cls(), values) if h >= N]) > 1
    # a suppressed detection does not restart the cooldown; the next one past it is reported
    assert hits(cls(cooldown=500), values) == [307, 951, 3080]


def test_min_samples_suppresses_early_detections() -> None:
    cls = DETECTOR_KINDS["eddm"]
    found = hits(cls(min_samples=2000), binary_stream(3))
    assert all(h >= 1999 for h in found) and 307 not in found


def test_warm_up_ignores_first_values() -> None:
    cls = DETECTOR_KINDS["adwin"]
    values = [100.0] * 500 + numeric_stream(1)
    det = cls(warm_up=500)
    found = hits(det, values)
    assert found == [h + 500 for h in hits(cls(), numeric_stream(1))]
    assert det.n_seen == len(values)
