"""Evaluate performance estimation (CBPE) against realized values and against NannyML.

A synthetic binary classifier over two features: the true probability of a
positive label is ``sigmoid(w·x)``, and the model's score is over-confident,
``sigmoid(2.2 w·x + 0.3)`` (so raw scores are not calibrated). A reference
period of ``--reference`` events has its labels joined (the monitor fits its
calibrator on them); then analysis chunks of ``--chunk`` events arrive without
labels, in two scenarios:

- ``stable``: the inputs keep the reference distribution;
- ``covariate_shift``: the inputs' mean moves step by step towards the decision
  boundary (the model grows less sure and less accurate; P(y|x) is unchanged,
  the setting CBPE is built for).

- ``segments``: events carry ``metadata.region``; ``eu`` moves as in
  ``covariate_shift`` while ``us`` stays stable, and the monitor keeps a window
  per region (``segments: [{by: metadata.region}]``) besides the version's.

Per scenario and metric it prints the mean absolute error of Guardian's
estimate against the realized value of each chunk (labels drawn from the true
probabilities, never shown to the monitor), the same for the raw scores taken
as calibrated (what happens before enough labels join), and the mean absolute
difference to NannyML's CBPE on the same reference and chunks (goal: within
0.02); for ``segments``, per region (NannyML fitted on the same reference and
run on that region's chunks), and the chunk at which each region's accuracy
alert (threshold ``--threshold``, shipped hysteresis: ``breach_after: 3``; a
segment is evaluated every 500 of its own events, four times per chunk) fired,
and whether the version's did (its window is the last ``chunk`` events, half of
each region). Last, the CPU per observed event without and with segments.
NannyML comes from the optional extra ``oracles`` (``pip install -e
'.[oracles]'``); without it that column is skipped with a message.

Usage: ``python -m load_tests.eval_performance [--quick] [--seeds N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from detectors.performance.cbpe import METRICS
from detectors.performance.config import PerformanceConfig
from detectors.performance.monitor import PerformanceMonitor
from load_tests import harness

MODEL = "credit-risk"
W = np.array([1.2, -0.8])
SCENARIOS = ("stable", "covariate_shift")
GOAL_VS_NANNYML = 0.02
REGIONS = ("eu", "us")  # eu shifts, us does not


def _data(rng: np.random.Generator, n: int, shift: float) -> dict[str, np.ndarray]:
    # the mean moves along -w towards the boundary w·x = 0 as ``shift`` grows
    mean = np.array([1.0, -0.5]) * (1.0 - shift)
    x = rng.normal(mean, 1.0, size=(n, 2))
    z = x @ W
    truth = 1.0 / (1.0 + np.exp(-z))
    score = 1.0 / (1.0 + np.exp(-(2.2 * z + 0.3)))
    y = rng.random(n) < truth
    return {"score": score, "pred": score >= 0.5, "y": y}


def _realized(d: dict[str, np.ndarray]) -> dict[str, float]:
    y, pred, score = d["y"], d["pred"], d["score"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0)),
            "f1": float(f1_score(y, pred, zero_division=0)),
            "roc_auc": float(roc_auc_score(y, score)),
        }


def _config(chunk: int, reference: int, calibrate: bool, **extra: Any) -> PerformanceConfig:
    segments = extra.pop("segments", [])
    return PerformanceConfig.from_mapping(
        {
            "models": [
                {
                    "model": "*",
                    "window": chunk,
                    "evaluate_every": {"events": chunk, "labels": 10**9},
                    "calibration": {
                        "method": "isotonic" if calibrate else "none",
                        "min_labels": reference,
                        "refit_every": 10**9,
                        "max_pairs": reference,
                    },
                    **extra,
                }
            ],
            "segments": segments,
        }
    )


def _guardian(
    reference: dict[str, np.ndarray],
    chunks: list[dict[str, np.ndarray]],
    calibrate: bool,
) -> tuple[list[dict[str, float]], float]:
    """Estimates per chunk, and the monitor's events per second."""
    n_ref, chunk = len(reference["y"]), len(chunks[0]["y"])
    monitor = PerformanceMonitor(_config(chunk, n_ref, calibrate))
    started = time.perf_counter()
    for i in range(n_ref):
        outputs = {"score": float(reference["score"][i]), "prediction": int(reference["pred"][i])}
        monitor.observe(MODEL, "1", outputs, event_id=f"r{i}", ts=float(i))
        # labels join while the event is still in the window (the calibrator keeps every pair)
        monitor.join_label(f"r{i}", int(reference["y"][i]), MODEL, "1")
    out = []
    events = n_ref
    for c, d in enumerate(chunks):
        for i in range(chunk):
            outputs = {"score": float(d["score"][i]), "prediction": int(d["pred"][i])}
            monitor.observe(MODEL, "1", outputs, event_id=f"c{c}-{i}", ts=float(events))
            events += 1
        view = monitor.snapshot(MODEL)
        assert view is not None
        out.append({m: float(view["estimated"][m]["value"] or np.nan) for m in METRICS})
    return out, events / (time.perf_counter() - started)


def _nannyml(
    reference: dict[str, np.ndarray], chunks: list[dict[str, np.ndarray]]
) -> list[dict[str, float]] | None:
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no analytics calls
    try:
        import nannyml
        import pandas as pd
    except ImportError:
        return None
    chunk = len(chunks[0]["y"])
    ref = pd.DataFrame(
        {
            "score": reference["score"],
            "pred": reference["pred"].astype(int),
            "y": reference["y"].astype(int),
        }
    )
    ana = pd.concat(
        [pd.DataFrame({"score": d["score"], "pred": d["pred"].astype(int)}) for d in chunks],
        ignore_index=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = nannyml.CBPE(
            y_pred_proba="score",
            y_pred="pred",
            y_true="y",
            problem_type="classification_binary",
            metrics=list(METRICS),
            chunk_size=chunk,
        )
        estimator.fit(ref)
        table = estimator.estimate(ana).filter(period="analysis").to_df()
    return [{m: float(table[(m, "value")].iloc[c]) for m in METRICS} for c in range(len(chunks))]


def run_seed(seed: int, scenario: str, reference: int, chunk: int, n_chunks: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    ref = _data(rng, reference, 0.0)
    shifts = (
        [0.0] * n_chunks
        if scenario == "stable"
        else [0.9 * (c + 1) / n_chunks for c in range(n_chunks)]
    )
    chunks = [_data(rng, chunk, s) for s in shifts]
    realized = [_realized(d) for d in chunks]
    guardian, eps = _guardian(ref, chunks, calibrate=True)
    raw, _ = _guardian(ref, chunks, calibrate=False)
    nml = _nannyml(ref, chunks)
    return {"realized": realized, "guardian": guardian, "raw": raw, "nannyml": nml, "eps": eps}


def _guardian_segments(
    reference: dict[str, np.ndarray],
    chunks: dict[str, list[dict[str, np.ndarray]]],
    threshold: float,
) -> tuple[dict[str, list[dict[str, float]]], dict[str, int | None]]:
    """Per region: estimates per chunk, and the chunk whose evaluation raised its alert.

    Each chunk holds ``chunk`` events of every region, interleaved; windows hold
    ``chunk`` events, so at a chunk's end each segment window is that chunk's region.
    """
    n_ref, chunk = len(reference["y"]), len(chunks[REGIONS[0]][0]["y"])
    cfg = _config(
        chunk,
        n_ref,
        True,
        segments=[{"by": "metadata.region", "min_count": 1}],
        thresholds={"accuracy": threshold},
        min_events=chunk // 2,
    )
    monitor = PerformanceMonitor(cfg)
    for i in range(n_ref):
        outputs = {"score": float(reference["score"][i]), "prediction": int(reference["pred"][i])}
        event = {"metadata": {"region": REGIONS[i % 2]}}
        monitor.observe(MODEL, "1", outputs, f"r{i}", ts=float(i), event=event)
        monitor.join_label(f"r{i}", int(reference["y"][i]), MODEL, "1")
    estimates: dict[str, list[dict[str, float]]] = {r: [] for r in (*REGIONS, "all")}
    fired: dict[str, int | None] = {r: None for r in (*REGIONS, "all")}
    for c in range(len(chunks[REGIONS[0]])):
        for i in range(chunk):
            for region in REGIONS:
                d = chunks[region][c]
                outputs = {"score": float(d["score"][i]), "prediction": int(d["pred"][i])}
                event = {"metadata": {"region": region}}
                for result in monitor.observe(MODEL, "1", outputs, f"{region}{c}-{i}", event=event):
                    segment = result.segment.partition("=")[2] or result.segment
                    if result.state == "breach" and fired[segment] is None:
                        fired[segment] = c + 1
        view = monitor.snapshot(MODEL)
        assert view is not None
        for region in (*REGIONS, "all"):
            est = (
                view["estimated"]
                if region == "all"
                else view["segments"][f"metadata.region={region}"]["estimated"]
            )
            estimates[region].append({m: float(est[m]["value"] or np.nan) for m in METRICS})
    return estimates, fired


def run_segments(
    seed: int, reference: int, chunk: int, n_chunks: int, threshold: float
) -> dict[str, Any]:
    rng = np.random.default_rng(10_000 + seed)  # not the covariate_shift scenario's draws
    ref = _data(rng, reference, 0.0)
    chunks = {
        "eu": [_data(rng, chunk, 0.9 * (c + 1) / n_chunks) for c in range(n_chunks)],
        "us": [_data(rng, chunk, 0.0) for _ in range(n_chunks)],
    }
    guardian, fired = _guardian_segments(ref, chunks, threshold)
    return {
        "realized": {r: [_realized(d) for d in chunks[r]] for r in REGIONS},
        "guardian": guardian,
        "nannyml": {r: _nannyml(ref, chunks[r]) for r in REGIONS},
        "fired": fired,
    }


def _vs_nannyml(
    pairs: list[tuple[dict[str, float], dict[str, float]]], metric: str
) -> tuple[str, str]:
    diffs = [abs(g[metric] - n[metric]) for g, n in pairs]
    worst = max(diffs)
    return f"{statistics.fmean(diffs):.1e}", (
        f"{worst:.1e} {'ok' if worst <= GOAL_VS_NANNYML else 'over goal'}"
    )


def report_segments(runs: list[dict[str, Any]], threshold: float, summary: dict[str, Any]) -> bool:
    """Print the per-region table; False when NannyML was missing."""
    print("\n## segments (metadata.region: eu shifts, us stable)")
    print(
        "| region | metric | realized (first → last chunk) | MAE vs realized: Guardian "
        "| mean diff to NannyML | max diff to NannyML |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    have_nannyml = all(r["nannyml"][g] is not None for r in runs for g in REGIONS)
    for region in REGIONS:
        for metric in METRICS:
            first = statistics.fmean(r["realized"][region][0][metric] for r in runs)
            last = statistics.fmean(r["realized"][region][-1][metric] for r in runs)
            ours = statistics.fmean(
                _mae(r["guardian"][region], r["realized"][region], metric) for r in runs
            )
            vs, vs_max = "skipped", "skipped"
            if have_nannyml:
                pairs = [
                    p
                    for r in runs
                    for p in zip(r["guardian"][region], r["nannyml"][region], strict=True)
                ]
                vs, vs_max = _vs_nannyml(pairs, metric)
            summary[f"segments.{region}.{metric}"] = {"mae_guardian": ours, "vs_nannyml": vs}
            print(
                f"| {region} | {metric} | {first:.3f} → {last:.3f} | {ours:.4f} | {vs} | {vs_max} |"
            )
    n_chunks = len(runs[0]["realized"][REGIONS[0]])
    print("\naccuracy by chunk (mean over seeds):")
    for region in REGIONS:
        real = [
            statistics.fmean(r["realized"][region][c]["accuracy"] for r in runs)
            for c in range(n_chunks)
        ]
        print(f"- {region} realized: " + " ".join(f"{v:.3f}" for v in real))
    both = [
        statistics.fmean(r["guardian"]["all"][c]["accuracy"] for r in runs) for c in range(n_chunks)
    ]
    print(
        "- version estimated (its window: half eu, half us): " + " ".join(f"{v:.3f}" for v in both)
    )
    for region in (*REGIONS, "all"):
        chunks = [r["fired"][region] for r in runs]
        where = (
            "never"
            if all(c is None for c in chunks)
            else ", ".join("-" if c is None else str(c) for c in chunks)
        )
        name = "version (both regions)" if region == "all" else region
        print(f"\naccuracy alert below {threshold}, {name}: chunk {where}", end="")
        summary[f"segments.alert.{region}"] = chunks
    print()
    return have_nannyml


def segment_cost(n: int = 30_000) -> dict[str, float]:
    """CPU (``time.process_time``) per observed event, µs: window 5,000, evaluated every 500."""
    rng = np.random.default_rng(0)
    scores = rng.random(n)
    events = [
        {"metadata": {"region": f"r{i % 5}"}, "subject": {"protected": {"age_band": f"a{i % 4}"}}}
        for i in range(n)
    ]
    setups = {
        "no segments": [],
        "1 spec (5 segments)": [{"by": "metadata.region", "min_count": 1}],
        "2 specs (9 segments)": [
            {"by": "metadata.region", "min_count": 1},
            {"by": "protected.age_band", "min_count": 1},
        ],
    }
    out: dict[str, float] = {}
    for name, segments in setups.items():
        cfg = PerformanceConfig.from_mapping(
            {"models": [{"model": "*", "window": 5000}], "segments": segments}
        )
        monitor = PerformanceMonitor(cfg)
        started = time.process_time()
        for i in range(n):
            s = float(scores[i])
            outputs = {"score": s, "prediction": int(s > 0.5)}
            monitor.observe(MODEL, "1", outputs, f"e{i}", ts=float(i), event=events[i])
        out[name] = (time.process_time() - started) / n * 1e6
    return out


def _mae(a: list[dict[str, float]], b: list[dict[str, float]], metric: str) -> float:
    return statistics.fmean(abs(x[metric] - y[metric]) for x, y in zip(a, b, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 chunks")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--reference", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--threshold", type=float, default=0.77, help="segments: accuracy")
    args = parser.parse_args(argv)
    seeds, n_chunks = (2, 4) if args.quick else (args.seeds, args.chunks)
    print(
        f"eval_performance: {seeds} seeds, reference {args.reference} labelled events, "
        f"{n_chunks} chunks of {args.chunk} events without labels"
    )
    missing_nannyml = False
    summary: dict[str, Any] = {}
    for scenario in SCENARIOS:
        runs = [run_seed(s, scenario, args.reference, args.chunk, n_chunks) for s in range(seeds)]
        print(f"\n## {scenario}")
        print(
            "| metric | realized (first → last chunk) | MAE vs realized: Guardian "
            "| MAE vs realized: raw scores | mean diff to NannyML | max diff to NannyML |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for metric in METRICS:
            first = statistics.fmean(r["realized"][0][metric] for r in runs)
            last = statistics.fmean(r["realized"][-1][metric] for r in runs)
            ours = statistics.fmean(_mae(r["guardian"], r["realized"], metric) for r in runs)
            raw = statistics.fmean(_mae(r["raw"], r["realized"], metric) for r in runs)
            if all(r["nannyml"] is not None for r in runs):
                diffs = [
                    abs(g[metric] - n[metric])
                    for r in runs
                    for g, n in zip(r["guardian"], r["nannyml"], strict=True)
                ]
                vs = f"{statistics.fmean(diffs):.1e}"
                worst = max(diffs)
                vs_max = f"{worst:.1e} {'ok' if worst <= GOAL_VS_NANNYML else 'over goal'}"
            else:
                missing_nannyml = True
                vs = vs_max = "skipped"
            summary[f"{scenario}.{metric}"] = {
                "mae_guardian": ours,
                "mae_raw": raw,
                "vs_nannyml": vs,
            }
            print(
                f"| {metric} | {first:.3f} → {last:.3f} | {ours:.4f} | {raw:.4f} "
                f"| {vs} | {vs_max} |"
            )
        eps = statistics.fmean(r["eps"] for r in runs)
        print(f"\nmonitor throughput (observe + evaluate): {eps:,.0f} events/s")
    seg_runs = [
        run_segments(s, args.reference, args.chunk, n_chunks, args.threshold) for s in range(seeds)
    ]
    if not report_segments(seg_runs, args.threshold, summary):
        missing_nannyml = True
    cost = segment_cost()
    base = cost["no segments"]
    print("\nCPU per observed event (process_time; window 5,000, evaluated every 500 events):")
    for name, us in cost.items():
        print(f"- {name}: {us:.1f} µs ({us / base:.2f}x)")
    summary["segments.cost_us"] = cost
    harness.emit("eval_performance", summary)
    if missing_nannyml:
        print(
            "\nNannyML column skipped: nannyml is not installed "
            "(pip install -e '.[oracles]'; it pulls lightgbm and cloud clients, so not in dev)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
