"""Evaluate Guardian's drift detectors on streams with known change points.

``python -m load_tests.eval_drift [--quick] [--runs N] [--stationary N] [--seed S]``

Part 1, synthetic streams (seeded): for each detector with the settings
Guardian ships (``config/detectors.yaml`` for the default kinds, class
defaults plus the same guards for the others), streams with one change after
``PRE`` values (mean shifts of 0.5, 1 and 2 sigma, a variance change, a
categorical mix change, gradual drift over 1,000 values, error-rate and
missing-rate increases) and stationary streams. Printed per detector and
scenario: median and p90 detection delay (values after the change), missed
changes (nothing within ``POST`` values), detections before the change, and
false alarms per 100k stationary values.

Part 2, the human-annotated change-point series River ships
(``river.drift.datasets``, from the Turing change-point benchmark, TCPD): the
F1 score with TCPD's 5-point margin rule (van den Burg & Williams 2020:
precision over all predictions, recall averaged over annotators, index 0
counted as a change point for both), for Guardian's settings and River's
defaults.

Targets (reported, not asserted): 0 false alarms per 100k stationary values
with default settings; a 1 sigma mean shift found with a median delay of at
most 300 values.
"""

from __future__ import annotations

import argparse
import builtins
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detector
from detectors.drift import DETECTOR_KINDS
from detectors.specs import DetectorSpec, DetectorSpecs
from load_tests import eval_drift_budget as budgeted

PRE = 3000
POST = 3000
#: The hand-set detectors' parameters (config/detectors.yaml's defaults before the budget).
HAND_SET = Path(__file__).resolve().parents[1] / "config" / "presets" / "hand_set.yaml"

Stream = Callable[[np.random.Generator], tuple[list[Any], int | None]]


def _gauss(rng: np.random.Generator, n: int, mu: float = 0.0, sd: float = 1.0) -> list[float]:
    return [float(v) for v in rng.normal(mu, sd, n)]


def mean_shift(sigmas: float) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        return _gauss(rng, PRE) + _gauss(rng, POST, mu=sigmas), PRE

    return make


def variance_change(rng: np.random.Generator) -> tuple[list[Any], int | None]:
    return _gauss(rng, PRE) + _gauss(rng, POST, sd=2.0), PRE


def gradual(rng: np.random.Generator) -> tuple[list[Any], int | None]:
    ramp = np.clip(np.arange(POST) / 1000.0, 0.0, 1.0) * 2.0
    after = rng.normal(0.0, 1.0, POST) + ramp
    return _gauss(rng, PRE) + [float(v) for v in after], PRE


def stationary_gauss(n: int) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        return _gauss(rng, n), None

    return make


def stationary_lognormal(n: int) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        return [float(v) for v in rng.lognormal(0.0, 1.0, n)], None

    return make


CATS = ["a", "b", "c", "d", "e"]


def _cats(rng: np.random.Generator, n: int, p: Sequence[float]) -> list[Any]:
    return [CATS[i] for i in rng.choice(len(p), size=n, p=p)]


BASE_MIX = [0.5, 0.25, 0.15, 0.07, 0.03]


def mix_change(after: Sequence[float]) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        return _cats(rng, PRE, BASE_MIX) + _cats(rng, POST, after), PRE

    return make


def stationary_cats(n: int) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        return _cats(rng, n, BASE_MIX), None

    return make


def rate_change(before: float, after: float) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        a = rng.random(PRE) < before
        b = rng.random(POST) < after
        return [bool(v) for v in a] + [bool(v) for v in b], PRE

    return make


def stationary_rate(rate: float, n: int) -> Stream:
    def make(rng: np.random.Generator) -> tuple[list[Any], int | None]:
        return [bool(v) for v in rng.random(n) < rate], None

    return make


def run_stream(det: Detector, values: Iterable[Any]) -> list[int]:
    """Indices at which the detector reported a detection."""
    hits: list[int] = []
    update = det.update
    for i, x in enumerate(values):
        if update(x).drift_detected:
            hits.append(i)
    return hits


@dataclass
class Row:
    detector: str
    scenario: str
    delays: list[int]
    missed: int
    early: int
    runs: int


def _p90(values: list[int]) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, 90))


def evaluate_changes(
    make_detector: Callable[[], Detector],
    name: str,
    scenario: str,
    stream: Stream,
    runs: int,
    seed: int,
) -> Row:
    delays: list[int] = []
    missed = early = 0
    for r in range(runs):
        rng = np.random.default_rng([seed, r, hash(scenario) & 0xFFFF])
        values, change = stream(rng)
        assert change is not None
        hits = run_stream(make_detector(), values)
        early += sum(1 for h in hits if h < change)
        after = [h - change for h in hits if h >= change]
        if after:
            delays.append(after[0])
        else:
            missed += 1
    return Row(name, scenario, delays, missed, early, runs)


def evaluate_stationary(
    make_detector: Callable[[], Detector], stream: Stream, runs: int, seed: int
) -> tuple[int, int]:
    """``(false alarms, values seen)`` over ``runs`` stationary streams."""
    alarms = seen = 0
    for r in range(runs):
        rng = np.random.default_rng([seed, 1000 + r])
        values, _ = stream(rng)
        alarms += len(run_stream(make_detector(), values))
        seen += len(values)
    return alarms, seen


def shipped_factory(specs: DetectorSpecs, kind: str, ftype: str) -> Callable[[], Detector]:
    """Guardian's settings: the shipped spec for a default kind, else class defaults + guards."""
    shipped: list[DetectorSpec] = getattr(specs.defaults, ftype)
    for spec in shipped:
        if spec.kind == kind:
            return spec.build
    guards: dict[str, Any] = {"min_samples": 200, "cooldown": 1000}
    if ftype in ("categorical", "prediction"):
        guards = {"cooldown": 1000}
    cls = DETECTOR_KINDS[kind]
    return lambda: cls(None, **guards)


# -- TCPD ----------------------------------------------------------------------------------------


def true_positives(truth: set[int], preds: set[int], margin: int = 5) -> set[int]:
    """TCPD: each annotated point matched to at most one prediction within the margin."""
    remaining = set(preds)
    tp: set[int] = set()
    for tau in sorted(truth):
        close = sorted((abs(tau - x), x) for x in remaining if abs(tau - x) <= margin)
        if not close:
            continue
        tp.add(tau)
        remaining.remove(close[0][1])
    return tp


def f_measure(annotations: dict[str, list[int]], preds: Iterable[int], margin: int = 5) -> float:
    """TCPD's F1 (alpha = 0.5) with its conventions (0 is a change point for everyone)."""
    tks = [set(v) | {0} for v in annotations.values()]
    x = set(preds) | {0}
    tstar: set[int] = set().union(*tks)
    precision = len(true_positives(tstar, x, margin)) / len(x)
    recall = sum(len(true_positives(tk, x, margin)) / len(tk) for tk in tks) / len(tks)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


TCPD_FIELDS = {"Apple": "Close", "Occupancy": "V1", "RunLog": "Pace"}


def tcpd_series() -> list[tuple[str, list[float], dict[str, list[int]]]]:
    from river.drift import datasets

    out = []
    for name in (
        "AirlinePassengers",
        "Apple",
        "Bitcoin",
        "BrentSpotPrice",
        "Occupancy",
        "RunLog",
        "UKCoalEmploy",
    ):
        ds = getattr(datasets, name)()
        values = []
        for _, y in ds:
            values.append(float(y[TCPD_FIELDS[name]]) if isinstance(y, dict) else float(y))
        out.append((name, values, ds.annotations))
    return out


def river_default(kind: str) -> Callable[[], Detector]:
    """River's own default parameters, no Guardian guards."""
    cls = DETECTOR_KINDS[kind]
    river_params: dict[str, dict[str, Any]] = {
        "adwin": {"delta": 0.002},
        "page_hinkley": {},
        "kswin": {"alpha": 0.005, "window_size": 100, "stat_size": 30, "sample_every": 1},
    }
    return lambda: cls(**river_params[kind])


# -- main ----------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.0f}"


REPORT = Path(__file__).with_name("report.md")


def _next_section(text: str, start: int) -> int:
    """Index of the newline before the next ``## `` heading outside a fenced block, or -1."""
    end = text.find("\n## ", start)
    while end >= 0 and text.count("```", start, end) % 2:
        end = text.find("\n## ", end + 1)
    return end


def write_report(lines: list[str], path: Path = REPORT, args: Sequence[str] = ()) -> None:
    """Replace the ``## eval_drift`` section of report.md with these figures."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    command = " ".join(["python -m load_tests.eval_drift", *args])
    section = f"## eval_drift\n\n`{command}` — ok\n\n```\n" + "\n".join(lines) + "\n```\n\n"
    start = text.find("## eval_drift\n")
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    end = _next_section(text, start + 1)
    rest = text[end + 1 :] if end >= 0 else ""
    path.write_text(text[:start] + section + rest, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few runs, 20k stationary values")
    parser.add_argument(
        "--values",
        type=int,
        default=None,
        help="stationary values per stream for the budgeted detector (default 1M; quick 20k)",
    )
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--no-report", action="store_true", help="do not rewrite report.md")
    parser.add_argument(
        "--hand-set",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also evaluate the hand-set detectors (ADWIN, Page-Hinkley, ...)",
    )
    parser.add_argument("--runs", type=int, default=None, help="streams per change scenario")
    parser.add_argument("--stationary", type=int, default=None, help="stationary values per run")
    parser.add_argument("--stationary-runs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20260)
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 30)
    n_stat = args.stationary or (20_000 if args.quick else 100_000)
    stat_runs = args.stationary_runs or (1 if args.quick else 2)
    specs = DetectorSpecs.load(HAND_SET)
    started = time.perf_counter()
    lines = budgeted.run(args.quick, args.values, args.features, args.runs, args.seed)
    if args.hand_set:
        lines += _hand_set(specs, runs, n_stat, stat_runs, args.seed)
    lines.append(f"\nelapsed {time.perf_counter() - started:.1f} s")
    print(lines[-1])
    if not args.quick and not args.no_report:
        write_report(lines, args=list(sys.argv[1:] if argv is None else argv))


def _hand_set(specs: DetectorSpecs, runs: int, n_stat: int, stat_runs: int, seed: int) -> list[str]:
    """The hand-set detectors as before; returns the printed lines."""
    out: list[str] = []

    def print(*parts: object) -> None:
        line = " ".join(str(p) for p in parts)
        builtins.print(line, flush=True)
        out.extend(line.split("\n"))

    print("\n# Hand-set detectors (config/presets/hand_set.yaml and class defaults)")

    numeric_changes: list[tuple[str, Stream]] = [
        ("mean +0.5sd", mean_shift(0.5)),
        ("mean +1sd", mean_shift(1.0)),
        ("mean +2sd", mean_shift(2.0)),
        ("variance x4", variance_change),
        ("gradual 0->2sd/1k", gradual),
    ]
    families: list[tuple[str, list[str], list[tuple[str, Stream]], list[tuple[str, Stream]]]] = [
        (
            "numeric",
            ["adwin", "page_hinkley", "kswin"],
            numeric_changes,
            [("gauss", stationary_gauss(n_stat)), ("lognormal", stationary_lognormal(n_stat))],
        ),
        (
            "categorical",
            ["categorical"],
            [
                ("mix small", mix_change([0.4, 0.25, 0.2, 0.1, 0.05])),
                ("mix large", mix_change([0.2, 0.2, 0.2, 0.2, 0.2])),
            ],
            [("5 categories", stationary_cats(n_stat))],
        ),
        (
            "missing",
            ["missing_rate"],
            [
                ("missing 1%->5%", rate_change(0.01, 0.05)),
                ("missing 1%->20%", rate_change(0.01, 0.2)),
            ],
            [("missing 1%", stationary_rate(0.01, n_stat))],
        ),
        (
            "error",
            ["ddm", "eddm", "hddm_a", "hddm_w", "fhddm"],
            [("error 10%->20%", rate_change(0.1, 0.2)), ("error 10%->40%", rate_change(0.1, 0.4))],
            [("error 10%", stationary_rate(0.1, n_stat))],
        ),
    ]

    print(f"(runs={runs}, stationary={stat_runs}x{n_stat:,}, seed={seed})")
    print(
        "Settings: config/presets/hand_set.yaml for its kinds; class defaults + guards otherwise."
    )
    print(
        "delays in values after the change; FA = detections in stationary streams per 100k values\n"
    )
    header = (
        f"{'detector':<13} {'scenario':<20} {'median':>7} {'p90':>7} {'missed':>7} {'early':>6}"
    )
    for family, kinds, changes, stationaries in families:
        print(f"## {family}")
        print(header)
        for kind in kinds:
            factory = shipped_factory(specs, kind, family)
            for scenario, stream in changes:
                row = evaluate_changes(factory, kind, scenario, stream, runs, seed)
                med = statistics.median(row.delays) if row.delays else float("nan")
                print(
                    f"{kind:<13} {scenario:<20} {_fmt(med):>7} {_fmt(_p90(row.delays)):>7} "
                    f"{row.missed:>4}/{row.runs:<2} {row.early:>6}"
                )
            for scenario, stream in stationaries:
                alarms, seen = evaluate_stationary(factory, stream, stat_runs, seed)
                print(
                    f"{kind:<13} {'stationary ' + scenario:<20} "
                    f"FA/100k = {alarms * 100_000 / seen:.2f}"
                    f"  ({alarms} in {seen:,})"
                )
        print()

    print("## TCPD series shipped with river (F1, 5-point margin)")
    series = tcpd_series()
    print(
        f"{'dataset':<18} {'n':>5} "
        + " ".join(f"{k + ' (G)':>16} {k + ' (R)':>16}" for k in ("adwin", "page_hinkley", "kswin"))
    )
    sums: dict[str, list[float]] = {}
    for name, values, notes in series:
        cells = []
        for kind in ("adwin", "page_hinkley", "kswin"):
            for tag, factory in (
                ("G", shipped_factory(specs, kind, "numeric")),
                ("R", river_default(kind)),
            ):
                score = f_measure(notes, run_stream(factory(), values))
                sums.setdefault(f"{kind} ({tag})", []).append(score)
                cells.append(f"{score:>16.3f}")
        print(f"{name:<18} {len(values):>5} " + " ".join(cells))
    print(
        f"{'mean':<18} {'':>5} " + " ".join(f"{statistics.mean(v):>16.3f}" for v in sums.values())
    )
    baseline = statistics.mean(f_measure(notes, []) for _, _, notes in series)
    print(f"{'no detections':<18} {'':>5} {baseline:>16.3f}   (F1 of predicting no change at all)")
    print("(G) = Guardian's settings, (R) = River's defaults without guards. Series are short")
    print(
        "(105-8,195 points) and unscaled; Guardian's settings trade their recall "
        "for no false alarms."
    )
    return out


if __name__ == "__main__":
    main()
