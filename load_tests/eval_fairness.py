"""Evaluate the fairness monitor on synthetic streams with known bias onsets.

Three scenarios, several seeds each, all with labels joined ``--label-delay``
events late (as they would arrive on ``inference.labels``):

- ``fair``: every group has the same selection rate, TPR and FPR;
- ``dp_drop``: from event ``--change`` on, group ``f``'s selection rate falls to
  0.6 x the others' (demographic_parity_ratio 0.6, four-fifths rule broken);
- ``tpr_gap``: from event ``--change`` on, group ``f``'s TPR falls from 0.80 to
  0.55 (equal opportunity / equalized odds gap 0.25).

Printed per scenario and metric: detection delay in events after the change
(median, max, how many seeds detected it) and false breaches (any breach
before the change, or anywhere in the fair stream; counted per scenario, so the
column repeats on each metric row). Also the monitor's throughput in events per second.

Usage: ``python -m load_tests.eval_fairness [--quick] [--seeds N] [--events N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor

GROUPS = ("f", "m", "x")
GROUP_SHARE = (0.45, 0.45, 0.10)
BASE_RATE = 0.5  # positive labels
TPR, FPR = 0.80, 0.20  # selection rate 0.5 for every group while fair
MODEL = "credit-risk"


def monitor_config(window: int = 5000) -> FairnessConfig:
    return FairnessConfig.from_mapping(
        {
            "models": [
                {
                    "model": "*",
                    "attributes": {"gender": list(GROUPS)},
                    "window": {"size": window},
                    "evaluate_every": {"events": 200},
                    "min_group_size": 30,
                    "confidence": 0.95,
                    "breach_after": 3,
                    "clear_after": 3,
                    "metrics": {
                        "demographic_parity_ratio": 0.8,
                        "demographic_parity_difference": 0.1,
                        "equal_opportunity_difference": 0.1,
                        "equalized_odds_difference": 0.1,
                    },
                }
            ]
        }
    )


@dataclass
class RunResult:
    first_breach: dict[str, int] = field(default_factory=dict)  # metric -> event index
    false_breaches: int = 0
    seconds: float = 0.0


def run(
    scenario: str, seed: int, events: int, change: int, label_delay: int, window: int
) -> RunResult:
    rng = np.random.default_rng(seed)
    monitor = FairnessMonitor(monitor_config(window), metrics=None)
    groups = rng.choice(len(GROUPS), size=events, p=GROUP_SHARE)
    labels = (rng.random(events) < BASE_RATE).astype(int)
    u = rng.random(events)
    result = RunResult()
    pending: list[tuple[str, int]] = []
    started = time.perf_counter()
    for i in range(events):
        group = GROUPS[groups[i]]
        biased = group == "f" and i >= change
        if scenario == "dp_drop":
            # selection rate 0.5 -> 0.3 for f, labels unrelated (DP only)
            prediction = int(u[i] < (0.3 if biased else 0.5))
        else:
            tpr = 0.55 if biased and scenario == "tpr_gap" else TPR
            prediction = int(u[i] < (tpr if labels[i] else FPR))
        event_id = f"{seed}-{i}"
        transitions = monitor.observe(
            MODEL, "1", {"gender": group}, prediction, event_id=event_id, ts=float(i)
        )
        pending.append((event_id, int(labels[i])))
        if len(pending) > label_delay:
            late_id, late_label = pending.pop(0)
            monitor.observe_label(late_id, late_label, model=MODEL)
        for r in transitions:
            if r.state != "breach":
                continue
            if scenario == "fair" or i < change:
                result.false_breaches += 1
            else:
                result.first_breach.setdefault(r.metric, i - change)
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 12k events")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--change", type=int, default=None, help="bias onset (default events/3)")
    parser.add_argument("--label-delay", type=int, default=100, help="events before a label")
    parser.add_argument(
        "--window", type=int, action="append", help="window size(s) in events (default 2000, 5000)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.events = 3, 12_000
    windows = args.window or ([2000] if args.quick else [2000, 5000])
    change = args.change if args.change is not None else args.events // 3

    print(
        f"fairness eval: {args.seeds} seeds x {args.events} events, change at {change}, "
        f"labels {args.label_delay} events late, evaluate every 200, "
        "breach after 3, confidence 0.95, min group 30"
    )
    print(
        f"{'window':>6} {'scenario':<9} {'metric':<31} {'detected':>8} {'median delay':>12} "
        f"{'max delay':>9} {'false breaches':>14}"
    )
    total_events = 0
    total_seconds = 0.0
    for window, scenario in [(w, s) for w in windows for s in ("fair", "dp_drop", "tpr_gap")]:
        delays: dict[str, list[int]] = defaultdict(list)
        false_breaches = 0
        for seed in range(args.seeds):
            res = run(scenario, seed, args.events, change, args.label_delay, window)
            total_events += args.events
            total_seconds += res.seconds
            false_breaches += res.false_breaches
            for metric, delay in res.first_breach.items():
                delays[metric].append(delay)
        metrics = sorted(monitor_config().models[0].metrics)
        for metric in metrics:
            found = delays.get(metric, [])
            median = f"{statistics.median(found):.0f}" if found else "-"
            worst = f"{max(found)}" if found else "-"
            print(
                f"{window:>6} {scenario:<9} {metric:<31} {len(found):>4}/{args.seeds:<3} "
                f"{median:>12} {worst:>9} {false_breaches:>14}"
            )
    print(
        f"throughput: {total_events / total_seconds:,.0f} events/s "
        "(observe + label join + evaluation, one core)"
    )


if __name__ == "__main__":
    main()
