"""detectors/river_compat*.py against the installed River: fails loudly when River changes.

Three checks: the installed River is the verified one; every private attribute
the compat module lists exists on the installed River's objects; and a
checkpoint round trip restores each River object *whole* (every attribute,
including the Rust helpers' serde bytes), so an attribute River adds to a
detector's state, and that checkpoints would drop, is caught here. A fourth
keeps River's private attributes out of every other module of detectors/.
"""

from __future__ import annotations

import ast
import collections
import inspect
import json
import numbers
import random
from pathlib import Path
from typing import Any

import pytest
from river import stats
from river.drift import ADWIN, KSWIN, PageHinkley
from river.drift.binary import DDM, EDDM, FHDDM, HDDMA, HDDMW
from river.drift.binary.hddm_w import SampleInfo

from detectors import river_compat
from detectors.base import Detector
from detectors.drift import DETECTOR_KINDS

DETECTORS = Path(river_compat.__file__).parent


def _bits(seed: int, n: int = 3000) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < (0.1 if i < n // 2 else 0.4) for i in range(n)]


def _numbers(seed: int, n: int = 3000) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0 if i < n // 2 else 1.5, 1.0) for i in range(n)]


def _trained(obj: Any, values: list[Any]) -> Any:
    for x in values:
        obj.update(x)
    return obj


#: Every class PRIVATE_ATTRIBUTES names, built and trained so lazily set attributes exist.
FACTORIES = {
    "river.drift.ADWIN": lambda: _trained(ADWIN(), _numbers(1)),  # type: ignore[no-untyped-call]
    "river.drift.KSWIN": lambda: _trained(KSWIN(seed=1), _numbers(2, 400)),
    "river.drift.PageHinkley": lambda: _trained(PageHinkley(), _numbers(3)),
    "river.drift.binary.DDM": lambda: _trained(DDM(), _bits(4)),
    "river.drift.binary.EDDM": lambda: _trained(EDDM(), _bits(5)),
    "river.drift.binary.FHDDM": lambda: _trained(FHDDM(short_window_size=20), _bits(6)),
    "river.drift.binary.HDDM_A": lambda: _trained(HDDMA(), _bits(7)),  # type: ignore[no-untyped-call]
    "river.drift.binary.HDDM_W": lambda: _trained(HDDMW(), _bits(8)),  # type: ignore[no-untyped-call]
    "river.drift.binary.hddm_w.SampleInfo": lambda: _trained(SampleInfo(0.05), _bits(9)),
    "river.stats.EWMean": lambda: _trained(stats.EWMean(0.05), _numbers(10)),
    "river.stats.Var": lambda: _trained(stats.Var(), _numbers(11)),
}


def test_the_installed_river_is_the_verified_one() -> None:
    assert river_compat.river_version() == river_compat.VERIFIED_RIVER, (
        "River changed: review detectors/river_compat.py against the new release, "
        "run this file, then update VERIFIED_RIVER"
    )
    assert river_compat.check_river() is True


def test_every_class_with_listed_attributes_is_built_here() -> None:
    assert FACTORIES.keys() == river_compat.PRIVATE_ATTRIBUTES.keys()


@pytest.mark.parametrize("name", sorted(river_compat.PRIVATE_ATTRIBUTES))
def test_every_listed_private_attribute_exists_on_the_installed_river(name: str) -> None:
    obj = FACTORIES[name]()
    missing = [a for a in river_compat.PRIVATE_ATTRIBUTES[name] if not hasattr(obj, a)]
    assert not missing, f"River's {name} no longer has {missing}: see detectors/river_compat.py"


def _river_of(det: Detector) -> Any:
    return getattr(det, "_river", None) or getattr(det, "_ks", None)


def _dump(obj: Any) -> Any:
    """Everything an object holds, comparable with ``==`` (NaN-safe, Rust state as bytes)."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, numbers.Real):  # int 0 and numpy's float64 restore as float: same value
        return repr(float(obj))
    if isinstance(obj, collections.deque):
        return ["deque", obj.maxlen, [_dump(v) for v in obj]]
    if isinstance(obj, list | tuple):
        return [_dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _dump(v) for k, v in obj.items()}
    if isinstance(obj, random.Random):
        return _dump(obj.getstate())
    if inspect.ismethod(obj):
        return ["method", obj.__func__.__qualname__]
    if hasattr(obj, "__dict__"):
        return [type(obj).__qualname__, {k: _dump(v) for k, v in vars(obj).items()}]
    state = obj.__getstate__()
    assert isinstance(state, bytes), f"cannot compare a {type(obj).__name__}"
    return [type(obj).__qualname__, state.hex()]


RIVER_KINDS = sorted(kind for kind, cls in DETECTOR_KINDS.items() if _river_of(cls()) is not None)


@pytest.mark.parametrize("kind", RIVER_KINDS)
def test_a_checkpoint_round_trip_restores_the_river_object_whole(kind: str) -> None:
    cls = DETECTOR_KINDS[kind]
    values: list[Any] = _numbers(12) if cls.input_type == "numeric" else _bits(12)
    for cut in (200, 1600, len(values)):
        original = cls()
        original.feed(values[:cut])
        state = json.loads(json.dumps(original.export_state(), allow_nan=False))
        restored = cls(original.params)
        restored.import_state(state)
        assert _dump(_river_of(restored)) == _dump(_river_of(original)), (
            f"River's {kind} holds state that detectors/river_compat.py does not carry"
        )


def _river_private_names() -> set[str]:
    return {a for attrs in river_compat.PRIVATE_ATTRIBUTES.values() for a in attrs}


def test_no_other_module_of_detectors_touches_rivers_private_attributes() -> None:
    private = _river_private_names()
    offenders = []
    for path in sorted(DETECTORS.rglob("*.py")):
        if path.name.startswith("river_compat"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offenders.append(f"{path.relative_to(DETECTORS)}:{node.lineno} .{node.attr}")
    assert not offenders, f"River internals outside river_compat.py: {offenders}"


def test_deferred_import_stays_off_on_an_unverified_river(monkeypatch) -> None:
    """The layout trick of detectors.river_compat_imports runs on the verified River only."""
    import importlib.metadata
    import sys

    from detectors import river_compat_imports

    package = "xml.dom"  # a stdlib package with submodules, standing in for River's
    monkeypatch.delitem(sys.modules, package, raising=False)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1")
    assert river_compat_imports.defer_package_init(package) is False
    assert package not in sys.modules
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: river_compat_imports.VERIFIED_RIVER
    )
    try:
        assert river_compat_imports.defer_package_init(package) is True
        assert "Node" not in vars(sys.modules[package])  # deferred: its __init__ has not run
        assert sys.modules[package].Node is not None  # the first read runs it
    finally:
        sys.modules.pop(package, None)
