"""Cost of a Guardian detector update against a raw River loop over the same values.

``python -m load_tests.bench_detectors [--quick] [--n N] [--repeats R]``

For every River-backed kind, the same seeded values go through (a) the River
detector alone, ``det.update(x); det.drift_detected`` (the baseline), (b)
Guardian's detector with the same River parameters fed as the registry feeds it,
``det.feed(values)`` from one detection to the next, which adds the contract's
guards (warm-up, min samples, cooldown) and counters, and (c) the same detector
one ``det.update(x).drift_detected`` at a time (a library user's loop; ``update``
is ``feed`` of one value, so it pays two more Python calls per value).
Figures are medians over ``--repeats`` runs, in nanoseconds per value, with
their ratio to River (target for ``feed``, the path Guardian runs: at most 1.5x).
KSWIN is compared unsampled (``sample_every=1``) so both sides run the same KS
tests; the sampled default is
listed separately, as is the categorical detector (no River counterpart) and
the registry's per-event dispatch over a realistic event. The shipped default
kinds (``rank_window``, ``category_window``) are also fed as the registry feeds
them, 1,000 values per call, next to the hand-set kind each replaced (ADWIN, the
PSI ``categorical``) in the same run, with the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from river.drift import ADWIN, KSWIN, PageHinkley
from river.drift.binary import DDM, EDDM, FHDDM, HDDMA, HDDMW

from detectors.drift import DETECTOR_KINDS
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs


def _time(loop: Callable[[], int]) -> float:
    started = time.perf_counter()
    loop()
    return time.perf_counter() - started


def river_loop(det: Any, values: list[Any]) -> Callable[[], int]:
    def loop() -> int:
        n = 0
        for x in values:
            det.update(x)
            if det.drift_detected:
                n += 1
        return n

    return loop


def guardian_loop(det: Any, values: list[Any]) -> Callable[[], int]:
    def loop() -> int:
        n = 0
        for x in values:
            if det.update(x).drift_detected:
                n += 1
        return n

    return loop


def guardian_feed(det: Any, values: list[Any]) -> Callable[[], int]:
    """All values in one ``feed`` call (and again after each detection)."""
    return batched_feed(det, values, max(1, len(values)))


def batched_feed(det: Any, values: list[Any], batch: int) -> Callable[[], int]:
    """The registry's path: one ``feed`` per detector per polled batch of ``batch`` values."""

    def loop() -> int:
        n = 0
        for lo in range(0, len(values), batch):
            part = values[lo : lo + batch]
            i = det.feed(part)
            while i >= 0:
                n += 1
                i = det.feed(part, i + 1)
        return n

    return loop


def shipped_vs_hand_set(n: int, repeats: int, batch: int = 1000) -> None:
    """ns/value of the shipped default kinds fed in batches, and their ratio to the hand-set."""
    print(f"\n# Shipped defaults vs hand-set, fed {batch:,} values per call (ns/value)")
    print(f"{'default':<16} {'ns/value':>9}   {'hand-set':<12} {'ns/value':>9} {'ratio':>7}")
    for kind, (hand, hand_params, vtype) in SHIPPED_VS_HAND_SET.items():
        values = values_for(vtype, n, seed=2)
        shipped_t, hand_t = [], []
        for _ in range(repeats):  # interleaved: machine noise hits both alike
            shipped = DETECTOR_KINDS[kind](events_per_day=8.64e5)
            shipped_t.append(_time(batched_feed(shipped, values, batch)))
            hand_t.append(_time(batched_feed(DETECTOR_KINDS[hand](**hand_params), values, batch)))
        s, h = (statistics.median(t) / n * 1e9 for t in (shipped_t, hand_t))
        print(f"{kind:<16} {s:>9.0f}   {hand:<12} {h:>9.0f} {s / h:>6.2f}x")


def values_for(input_type: str, n: int, seed: int) -> list[Any]:
    r = random.Random(seed)
    if input_type == "numeric":
        return [r.gauss(0.0, 1.0) for _ in range(n)]
    if input_type == "binary":
        return [r.random() < 0.1 for _ in range(n)]
    return r.choices("abcdefgh", k=n)


# kind -> (River constructor, Guardian params with the same River parameters)
PAIRS: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
    "adwin": (lambda: ADWIN(delta=1e-5), {"delta": 1e-5}),
    "page_hinkley": (
        lambda: PageHinkley(delta=0.25, threshold=25.0, alpha=1.0),
        {"delta": 0.25, "threshold": 25.0, "alpha": 1.0},
    ),
    "kswin": (
        lambda: KSWIN(alpha=1e-5, window_size=400, stat_size=100, seed=0),
        {"sample_every": 1},
    ),
    "missing_rate": (lambda: ADWIN(delta=1e-5, grace_period=100), {}),
    "ddm": (lambda: DDM(), {}),
    "eddm": (lambda: EDDM(), {}),
    "hddm_a": (lambda: HDDMA(), {}),
    "hddm_w": (lambda: HDDMW(), {}),
    "fhddm": (lambda: FHDDM(), {}),
}

GUARDS = {"min_samples": 200, "cooldown": 1000}

#: shipped default kind -> (hand-set kind it replaced, that kind's parameters, value type)
SHIPPED_VS_HAND_SET = {
    "rank_window": ("adwin", {"delta": 1e-5, **GUARDS}, "numeric"),
    "category_window": ("categorical", {}, "categorical"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=None, help="values per run")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.n or (30_000 if args.quick else 200_000)
    repeats = args.repeats or (3 if args.quick else 7)
    print(f"# Detector update cost (n={n:,} values, median of {repeats} runs, ns/update)")
    print(f"{'kind':<14} {'river':>10} {'feed':>10} {'ratio':>7} {'update':>10} {'ratio':>7}")
    ratios = []
    for kind, (make_river, params) in PAIRS.items():
        cls = DETECTOR_KINDS[kind]
        values = values_for(cls.input_type, n if kind != "kswin" else n // 20, seed=1)
        if kind == "missing_rate":
            values = [1.0 if v else 0.0 for v in values_for("binary", n, seed=1)]
        river_t, feed_t, update_t = [], [], []
        for _ in range(repeats):  # interleaved so machine noise hits every side alike
            river_t.append(_time(river_loop(make_river(), values)))
            feed_t.append(_time(guardian_feed(cls(**params, **GUARDS), values)))
            update_t.append(_time(guardian_loop(cls(**params, **GUARDS), values)))
        r, f, u = (statistics.median(t) / len(values) * 1e9 for t in (river_t, feed_t, update_t))
        ratios.append(f / r)
        print(f"{kind:<14} {r:>10.0f} {f:>10.0f} {f / r:>6.2f}x {u:>10.0f} {u / r:>6.2f}x")
    print(f"{'max feed ratio':<14} {'':>10} {'':>10} {max(ratios):>6.2f}x   (target <= 1.5x)")

    print("\n# Without a River counterpart / as shipped (ns/update)")
    for label, det, vtype in (
        ("kswin sampled (default, every 4th)", DETECTOR_KINDS["kswin"](**GUARDS), "numeric"),
        ("categorical (PSI + chi2)", DETECTOR_KINDS["categorical"](), "categorical"),
        ("rank_window (budget)", DETECTOR_KINDS["rank_window"](events_per_day=8.64e5), "numeric"),
        (
            "category_window (budget)",
            DETECTOR_KINDS["category_window"](events_per_day=8.64e5),
            "categorical",
        ),
    ):
        values = values_for(vtype, n, seed=2)
        t = statistics.median(_time(guardian_loop(det.clone(), values)) for _ in range(repeats))
        print(f"{label:<36} {t / len(values) * 1e9:>10.0f}")

    shipped_vs_hand_set(n, repeats)

    specs = DetectorSpecs.load()
    r = random.Random(3)
    n_events = n // 10
    events = [
        (
            {f"f{i}": r.gauss(0, 1) for i in range(8)} | {"country": r.choice("ABCD"), "ok": True},
            {"score": r.random(), "prediction": r.random() < 0.3},
        )
        for _ in range(n_events)
    ]

    created: list[int] = []

    def registry_loop() -> int:
        reg = DetectorRegistry(specs)
        found = 0
        for i, (features, outputs) in enumerate(events):
            found += len(reg.observe("m", "1", features, outputs, float(i)))
        created.append(len(reg.list_detectors()))
        return found

    def registry_batches() -> int:
        # What the detect stage does: one observe_batch per polled batch of 1,000 events.
        reg = DetectorRegistry(specs)
        rows = [("m", "1", f, o, float(i)) for i, (f, o) in enumerate(events)]
        return sum(len(reg.observe_batch(rows[i : i + 1000])) for i in range(0, len(rows), 1000))

    t = statistics.median(_time(registry_loop) for _ in range(repeats))
    n_det = created[-1]
    print(
        f"{'registry.observe, 10 features + 2 outputs':<36} {t / n_events * 1e9:>10.0f} per event "
        f"({n_det} detector updates per event)"
    )
    t_batch = statistics.median(_time(registry_batches) for _ in range(repeats))
    print(
        f"{'registry.observe_batch (1,000 events)':<36} {t_batch / n_events * 1e9:>10.0f} "
        f"per event (ratio to observe {t_batch / t:.2f})"
    )


if __name__ == "__main__":
    main()
