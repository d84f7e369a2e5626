"""Evaluate the budgeted ``rank_window`` detector: false alarms against the budget, delays.

Part of ``python -m load_tests.eval_drift``; also runnable alone:
``python -m load_tests.eval_drift_budget [--quick] [--values N] [--features K]``.

Stationary streams of seven shapes (Gaussian, lognormal, Pareto alpha=2.5,
Poisson counts, zero-inflated, bimodal, daily seasonality) x ``features``
features x ``values`` values each, fed to one detector per feature with the
default budget (0.01 false alarms per stream per day, model family 0.1 per day
split over the features) at ``events_per_day`` (10 events/s by default: a
lower rate means a larger per-test false-positive rate, so this is the harder
case). Printed: detections per shape against the number the budget allows in
that many events. Then detection delays (values after the change) for mean
shifts of 0.5, 1 and 2 standard deviations, a variance change, a gradual ramp
(Gaussian and lognormal), and the F1 on River's annotated change-point series.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from detectors.drift.budget import AlarmBudget, stream_budget
from detectors.drift.category_window import CategoryWindowDetector
from detectors.drift.rank_window import RankWindowDetector

EVENTS_PER_DAY = 864_000.0
PRE, POST = 5000, 3000

Shape = Callable[[np.random.Generator, int, int], np.ndarray]


def _seasonal(rng: np.random.Generator, n: int, offset: int) -> np.ndarray:
    """Gaussian noise around a daily cycle of one standard deviation (period: one day of events)."""
    t = np.arange(offset, offset + n, dtype=np.float64)
    return rng.normal(0.0, 1.0, n) + np.sin(2.0 * np.pi * t / EVENTS_PER_DAY)


SHAPES: dict[str, Shape] = {
    "gaussian": lambda r, n, _o: r.normal(0.0, 1.0, n),
    "lognormal": lambda r, n, _o: r.lognormal(0.0, 1.0, n),
    "pareto a=2.5": lambda r, n, _o: r.pareto(2.5, n) + 1.0,
    "poisson(3)": lambda r, n, _o: r.poisson(3.0, n).astype(np.float64),
    "zero-inflated": lambda r, n, _o: np.where(r.random(n) < 0.7, 0.0, r.lognormal(0.0, 1.0, n)),
    "bimodal": lambda r, n, _o: np.where(r.random(n) < 0.5, r.normal(-2, 1, n), r.normal(2, 1, n)),
    "daily seasonality": _seasonal,
}


CatShape = Callable[[np.random.Generator, int], list[str]]
BASE_MIX = [0.5, 0.25, 0.15, 0.07, 0.03]
CAT_SHAPES: dict[str, CatShape] = {
    "5 categories": lambda r, n: [f"c{i}" for i in r.choice(5, n, p=BASE_MIX)],
    # 1,000 categories, most of them rare (Zipf): they overflow the 64 slots and share bins.
    "zipf, 1000 rare": lambda r, n: [f"z{i}" for i in np.minimum(r.zipf(1.5, n), 1000)],
    "200 equally rare": lambda r, n: [f"u{i}" for i in r.integers(0, 200, n)],
}
CAT_CHANGES: list[tuple[str, list[float]]] = [
    ("mix small (PSI 0.06)", [0.4, 0.25, 0.2, 0.1, 0.05]),
    ("mix large (uniform)", [0.2, 0.2, 0.2, 0.2, 0.2]),
]
#: The categorical detector's first fill is 5,000 values (4,000 reference + 1,000 window).
CAT_PRE = 6000


def make_cat_detector(features: int) -> CategoryWindowDetector:
    """The shipped categorical default with the model's family split."""
    budget = stream_budget(AlarmBudget(), features)
    return CategoryWindowDetector(events_per_day=EVENTS_PER_DAY, false_alarms_per_day=budget)


def cat_stationary(
    shape: str, features: int, n_values: int, seed: int, chunk: int = 200_000
) -> StationaryRow:
    """False alarms of ``features`` categorical detectors over ``n_values`` values each."""
    started = time.perf_counter()
    alarms = 0
    for f in range(features):
        rng = np.random.default_rng([seed, f, len(shape), 7])
        det = make_cat_detector(features)
        for offset in range(0, n_values, chunk):
            alarms += len(detections(det, CAT_SHAPES[shape](rng, min(chunk, n_values - offset))))
    allowed = stream_budget(AlarmBudget(), features) * features * n_values / EVENTS_PER_DAY
    return StationaryRow(shape, alarms, features * n_values, allowed, time.perf_counter() - started)


def cat_delays(name: str, after: list[float], runs: int, seed: int) -> DelayRow:
    found: list[int] = []
    missed = early = 0
    for r in range(runs):
        rng = np.random.default_rng([seed, r, len(name), 7])
        before = CAT_SHAPES["5 categories"](rng, CAT_PRE)
        changed = [f"c{i}" for i in rng.choice(5, POST, p=after)]
        hits = detections(make_cat_detector(10), before + changed)
        early += sum(1 for h in hits if h < CAT_PRE)
        late = [h - CAT_PRE for h in hits if h >= CAT_PRE]
        if late:
            found.append(late[0])
        else:
            missed += 1
    return DelayRow("categorical", name, found, missed, early, runs)


def make_detector(features: int, per_day: float | None = None) -> RankWindowDetector:
    """The shipped defaults with the model's family split, as the registry would build it."""
    budget = stream_budget(AlarmBudget(), features) if per_day is None else per_day
    return RankWindowDetector(events_per_day=EVENTS_PER_DAY, false_alarms_per_day=budget)


def detections(
    det: RankWindowDetector | CategoryWindowDetector, values: np.ndarray | list[str]
) -> list[int]:
    data = values.tolist() if isinstance(values, np.ndarray) else values
    found: list[int] = []
    i = det.feed(data)
    while i >= 0:
        found.append(i)
        i = det.feed(data, i + 1)
    return found


@dataclass
class StationaryRow:
    shape: str
    alarms: int
    values: int
    allowed: float
    seconds: float


def stationary(
    shape: str, features: int, n_values: int, seed: int, chunk: int = 200_000
) -> StationaryRow:
    """False alarms of ``features`` detectors over ``n_values`` stationary values each."""
    started = time.perf_counter()
    alarms = 0
    for f in range(features):
        rng = np.random.default_rng([seed, f, len(shape)])
        det = make_detector(features)
        for offset in range(0, n_values, chunk):
            n = min(chunk, n_values - offset)
            alarms += len(detections(det, SHAPES[shape](rng, n, offset)))
    per_day = stream_budget(AlarmBudget(), features)
    allowed = per_day * features * n_values / EVENTS_PER_DAY
    return StationaryRow(shape, alarms, features * n_values, allowed, time.perf_counter() - started)


Change = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def shifted(sigmas: float) -> Change:
    return lambda _r, after: after + sigmas * float(np.std(after))


def scaled(factor: float) -> Change:
    return lambda _r, after: np.median(after) + (after - np.median(after)) * factor


def ramp(sigmas: float, over: int) -> Change:
    def change(_r: np.random.Generator, after: np.ndarray) -> np.ndarray:
        steps = np.clip(np.arange(after.shape[0]) / over, 0.0, 1.0)
        return after + steps * sigmas * float(np.std(after))

    return change


CHANGES: list[tuple[str, str, Change]] = [
    ("gaussian", "mean +0.5 sd", shifted(0.5)),
    ("gaussian", "mean +1 sd", shifted(1.0)),
    ("gaussian", "mean +2 sd", shifted(2.0)),
    ("gaussian", "sd x2 (variance x4)", scaled(2.0)),
    ("gaussian", "ramp 0->2 sd over 1k", ramp(2.0, 1000)),
    ("lognormal", "mean +1 sd", shifted(1.0)),
    ("pareto a=2.5", "mean +1 sd", shifted(1.0)),
    ("zero-inflated", "mean +1 sd", shifted(1.0)),
]


@dataclass
class DelayRow:
    shape: str
    change: str
    delays: list[int]
    missed: int
    early: int
    runs: int


def delays(shape: str, name: str, change: Change, runs: int, seed: int) -> DelayRow:
    found: list[int] = []
    missed = early = 0
    for r in range(runs):
        rng = np.random.default_rng([seed, r, len(name), len(shape)])
        before = SHAPES[shape](rng, PRE, 0)
        after = change(rng, SHAPES[shape](rng, POST, PRE))
        hits = detections(make_detector(10), np.concatenate([before, after]))
        early += sum(1 for h in hits if h < PRE)
        late = [h - PRE for h in hits if h >= PRE]
        if late:
            found.append(late[0])
        else:
            missed += 1
    return DelayRow(shape, name, found, missed, early, runs)


def tcpd(presets: dict[str, Callable[[], RankWindowDetector]]) -> list[str]:
    """F1 on River's annotated series for each preset, next to "no change"."""
    from load_tests.eval_drift import f_measure, run_stream, tcpd_series

    lines = [f"{'dataset':<18} {'n':>5} " + " ".join(f"{k:>14}" for k in presets)]
    sums: dict[str, list[float]] = {k: [] for k in presets}
    series = tcpd_series()
    for name, values, notes in series:
        cells = []
        for key, factory in presets.items():
            score = f_measure(notes, run_stream(factory(), values))
            sums[key].append(score)
            cells.append(f"{score:>14.3f}")
        lines.append(f"{name:<18} {len(values):>5} " + " ".join(cells))
    means = " ".join(f"{statistics.mean(v):>14.3f}" for v in sums.values())
    lines.append(f"{'mean':<18} {'':>5} {means}")
    baseline = statistics.mean(f_measure(notes, []) for _, _, notes in series)
    lines.append(f"{'no change':<18} {'':>5} {baseline:>14.3f}")
    return lines


def run(quick: bool, n_values: int | None, features: int, runs: int | None, seed: int) -> list[str]:
    """The whole budgeted evaluation; returns the printed lines."""
    n_values = n_values or (20_000 if quick else 1_000_000)
    runs = runs or (5 if quick else 30)
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    per_day = stream_budget(AlarmBudget(), features)
    say(
        f"## rank_window with the default budget ({features} features x {n_values:,} values "
        f"per shape, {EVENTS_PER_DAY:,.0f} events/day, {per_day:g} false alarms/stream/day)"
    )
    say(f"{'shape':<18} {'detections':>10} {'values':>12} {'budget allows':>14} {'seconds':>8}")
    for shape in SHAPES:
        row = stationary(shape, features, n_values, seed)
        say(
            f"{row.shape:<18} {row.alarms:>10} {row.values:>12,} {row.allowed:>14.3f} "
            f"{row.seconds:>8.1f}"
        )
    say("")
    say(f"## detection delay (values after the change; {runs} runs, change after {PRE:,})")
    say(f"{'shape':<14} {'change':<22} {'median':>7} {'p90':>6} {'missed':>7} {'early':>6}")
    for shape, name, change in CHANGES:
        d = delays(shape, name, change, runs, seed)
        med = f"{statistics.median(d.delays):.0f}" if d.delays else "-"
        p90 = f"{np.percentile(d.delays, 90):.0f}" if d.delays else "-"
        say(f"{shape:<14} {name:<22} {med:>7} {p90:>6} {d.missed:>4}/{d.runs:<2} {d.early:>6}")
    say("")
    say(
        f"## category_window with the default budget ({features} features x {n_values:,} "
        "values per shape)"
    )
    say(f"{'shape':<18} {'detections':>10} {'values':>12} {'budget allows':>14} {'seconds':>8}")
    for shape in CAT_SHAPES:
        row = cat_stationary(shape, features, n_values, seed)
        say(
            f"{row.shape:<18} {row.alarms:>10} {row.values:>12,} {row.allowed:>14.3f} "
            f"{row.seconds:>8.1f}"
        )
    say(f"(5 categories: {BASE_MIX}; change after {CAT_PRE:,} values, {runs} runs)")
    say(f"{'change':<52} {'median':>7} {'p90':>6} {'missed':>7} {'early':>6}")
    for name, after in CAT_CHANGES:
        d = cat_delays(name, after, runs, seed)
        med = f"{statistics.median(d.delays):.0f}" if d.delays else "-"
        p90 = f"{np.percentile(d.delays, 90):.0f}" if d.delays else "-"
        label = f"{name} -> {after}"
        say(f"{label:<52} {med:>7} {p90:>6} {d.missed:>4}/{d.runs:<2} {d.early:>6}")
    say("")
    say("## River's annotated change-point series (TCPD, F1 with a 5-point margin)")
    presets: dict[str, Callable[[], RankWindowDetector]] = {
        "default": lambda: make_detector(1),
        # Daily series: one event per day, short windows (a preset for slow, short streams).
        "short, 1/day": lambda: RankWindowDetector(
            reference_size=100, window_size=20, check_every=5, events_per_day=1.0, block=5
        ),
    }
    for line in tcpd(presets):
        say(line)
    say("(default needs 2,200 values before its first test, so on these short series it")
    say(" predicts no change; the series trend, and shorter windows call the trends drift.)")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k values per stream, 5 runs")
    parser.add_argument("--values", type=int, default=None, help="stationary values per stream")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--runs", type=int, default=None, help="streams per change scenario")
    parser.add_argument("--seed", type=int, default=20261)
    args = parser.parse_args(argv)
    run(args.quick, args.values, args.features, args.runs, args.seed)


if __name__ == "__main__":
    main()
