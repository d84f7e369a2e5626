"""The model-quality dashboards: drift, fairness, performance (estimated and realized)."""

from __future__ import annotations

from typing import Any

from panel_kit import (
    MODEL,
    NEUTRAL,
    RATE,
    dashboard,
    query_variable,
    series,
    stat,
    steps,
    table,
)


def drift() -> dict[str, Any]:
    feature = query_variable(
        "feature", 'label_values(guardian_drift_statistic{model=~"$model"}, feature)', "Feature"
    )
    sel = '{model=~"$model", feature=~"$feature"}'
    return dashboard(
        "guardian-drift",
        "Guardian / Drift",
        "Drift detections and detector statistics per model and feature.",
        [
            [
                stat("Detectors active", "sum(guardian_detectors_active)", NEUTRAL),
                stat(
                    "Detections (range)",
                    f"sum(increase(guardian_drift_detected_total{sel}[$__range]))",
                    steps("green", (1, "yellow")),
                ),
                stat(
                    "Drift alerts firing",
                    'sum(guardian_alerts_firing{alertname="GuardianDriftDetected"})',
                    steps("green", (1, "yellow")),
                ),
            ],
            [
                series(
                    "Detections per model and feature",
                    [
                        (
                            "sum by (model, feature, detector) "
                            f"(increase(guardian_drift_detected_total{sel}[{RATE}]))",
                            "{{model}} / {{feature}} ({{detector}})",
                        )
                    ],
                    bars=True,
                ),
                series(
                    "Detector statistic",
                    [(f"guardian_drift_statistic{sel}", "{{model}} / {{feature}} ({{detector}})")],
                ),
            ],
            [
                series(
                    "LLM text streams (text.<field>.<statistic>)",
                    [
                        (
                            'guardian_drift_statistic{model=~"$model", feature=~"text\\\\..+"}',
                            "{{model}} / {{feature}} ({{detector}})",
                        )
                    ],
                    description="Lengths, language share, PII and refusal rates per 1,000 "
                    "texts and n-gram distance of LLM traffic, as their detectors see them "
                    "(config/text.yaml).",
                ),
                series(
                    "LLM text stream detections",
                    [
                        (
                            "sum by (model, feature) (increase(guardian_drift_detected_total"
                            f'{{model=~"$model", feature=~"text\\\\..+"}}[{RATE}]))',
                            "{{model}} / {{feature}}",
                        )
                    ],
                    bars=True,
                ),
            ],
            [
                table(
                    "Detections in the last 24h",
                    "sort_desc(sum by (model, feature, detector) "
                    f"(increase(guardian_drift_detected_total{sel}[24h])) > 0)",
                ),
                series(
                    "Label join and detector limits",
                    [
                        (
                            f"sum by (outcome) (rate(guardian_labels_total[{RATE}]))",
                            "labels {{outcome}}",
                        ),
                        (
                            f"sum by (limit) (increase(guardian_detectors_refused_total[{RATE}]))",
                            "refused: {{limit}}",
                        ),
                    ],
                ),
            ],
        ],
        [MODEL, feature],
    )


def fairness() -> dict[str, Any]:
    attribute = query_variable(
        "attribute",
        'label_values(guardian_fairness_value{model=~"$model"}, attribute)',
        "Attribute",
    )
    rate = query_variable(
        "rate", 'label_values(guardian_fairness_group_rate{model=~"$model"}, rate)', "Rate"
    )
    sel = '{model=~"$model", attribute=~"$attribute"}'
    return dashboard(
        "guardian-fairness",
        "Guardian / Fairness",
        "Fairlearn metrics per model and protected attribute; per-group rates with Wilson "
        "intervals. Dashed lines are the default thresholds; a model may have its own, and "
        "only the monitor's decision (Breached) alerts.",
        [
            [
                stat(
                    "Breached now",
                    f"sum(guardian_fairness_breached{sel})",
                    steps("green", (1, "orange")),
                    description="Pairs (attribute, metric) the monitor holds in breach: "
                    "GuardianFairnessBreach fires on these.",
                ),
                stat(
                    "Breaches declared (range)",
                    f"sum(increase(guardian_fairness_breaches_total{sel}[$__range]))",
                    steps("green", (1, "orange")),
                ),
                stat(
                    "Smallest group in the window",
                    f"min(guardian_fairness_group_events{sel})",
                    steps("red", (30, "green")),
                    description="Groups under min_group_size (default 30) "
                    "take no part in a verdict.",
                ),
            ],
            [
                series(
                    "Demographic parity ratio (four-fifths rule at 0.8)",
                    [
                        (
                            'guardian_fairness_value{model=~"$model", attribute=~"$attribute", '
                            'metric="demographic_parity_ratio"}',
                            "{{model}} / {{attribute}}",
                        )
                    ],
                    thresholds=steps("red", (0.8, "green")),
                ),
                series(
                    "Differences (parity, equal opportunity, equalized odds; 0.1)",
                    [
                        (
                            'guardian_fairness_value{model=~"$model", attribute=~"$attribute", '
                            'metric=~".*_difference"}',
                            "{{model}} / {{attribute}} {{metric}}",
                        )
                    ],
                    thresholds=steps("green", (0.1, "red")),
                ),
            ],
            [
                series(
                    "Per-group rate with Wilson interval bounds",
                    [
                        (
                            "guardian_fairness_group_rate"
                            '{model=~"$model", attribute=~"$attribute", rate=~"$rate"}',
                            "{{model}} / {{attribute}}={{group}} {{rate}} ({{bound}})",
                        )
                    ],
                    "percentunit",
                ),
                series(
                    "Events per group in the window (min_group_size 30)",
                    [
                        (
                            f"guardian_fairness_group_events{sel}",
                            "{{model}} / {{attribute}}={{group}}",
                        )
                    ],
                    thresholds=steps("red", (30, "green")),
                ),
            ],
            [
                series(
                    "Monitor decision (1 = breach held)",
                    [
                        (
                            f"max by (model, attribute, metric) (guardian_fairness_breached{sel})",
                            "{{model}} / {{attribute}} {{metric}}",
                        )
                    ],
                    thresholds=steps("green", (1, "orange")),
                ),
                table("Current values", f"guardian_fairness_value{sel}"),
            ],
        ],
        [MODEL, attribute, rate],
    )


def performance() -> dict[str, Any]:
    version = query_variable(
        "version",
        'label_values(guardian_performance_estimated{model=~"$model"}, version)',
        "Version",
    )
    metric = query_variable(
        "metric", "label_values(guardian_performance_estimated, metric)", "Metric"
    )
    segment = query_variable(
        "segment",
        'label_values(guardian_performance_estimated{model=~"$model", segment!="all"}, segment)',
        "Segment",
    )
    where = 'model=~"$model", version=~"$version", metric=~"$metric"'
    sel = f'{{{where}, segment="all"}}'  # the whole model version
    seg = f'{{{where}, segment=~"$segment", segment!="all"}}'  # its segments
    return dashboard(
        "guardian-performance",
        "Guardian / Model performance",
        "Performance estimated without labels (CBPE on calibrated scores) and realized on "
        "joined labels, per model version and segment (GET /v1/models/{name}/performance "
        "has intervals).",
        [
            [
                stat(
                    "Estimates below threshold",
                    f"sum(guardian_performance_breached{sel}) or vector(0)",
                    steps("green", (1, "yellow")),
                    description="The monitor's decision for whole versions (interval and "
                    "hysteresis applied); GuardianPerformanceEstimateLow fires on it.",
                ),
                stat(
                    "Segments below threshold",
                    f"sum(guardian_performance_breached{seg}) or vector(0)",
                    steps("green", (1, "yellow")),
                    description="The same decision per segment (config/performance.yaml "
                    "segments, top-k values plus __other__); each fires its own alert.",
                ),
                stat(
                    "Scores excluded (range)",
                    'sum(increase(guardian_performance_scores_excluded_total{model=~"$model"}'
                    "[$__range])) or vector(0)",
                    steps("green", (1, "yellow")),
                    description="Scores missing or outside [0, 1]: left out of the estimates.",
                ),
            ],
            [
                series(
                    "Estimated vs realized",
                    [
                        (
                            f"guardian_performance_estimated{sel}",
                            "estimated {{model}} {{version}} {{metric}}",
                        ),
                        (
                            f"guardian_performance_realized{sel}",
                            "realized {{model}} {{version}} {{metric}}",
                        ),
                    ],
                    unit="percentunit",
                    description="Realized values appear as labels join; a gap between the "
                    "two after calibration means the model's behaviour changed.",
                ),
                series(
                    "Monitor decision",
                    [
                        (
                            "max by (model, version, segment, metric) "
                            f'(guardian_performance_breached{{{where}, segment=~"$segment|all"}})',
                            "{{model}} {{version}} {{segment}} {{metric}}",
                        )
                    ],
                ),
            ],
            [
                series(
                    "Estimated per segment",
                    [
                        (
                            f"guardian_performance_estimated{seg}",
                            "{{model}} {{version}} {{segment}} {{metric}}",
                        )
                    ],
                    unit="percentunit",
                    description="A drop in one segment (a region, a protected group) that "
                    "the version's estimate averages away.",
                ),
                series(
                    "Realized per segment",
                    [
                        (
                            f"guardian_performance_realized{seg}",
                            "{{model}} {{version}} {{segment}} {{metric}}",
                        )
                    ],
                    unit="percentunit",
                    description="On the labels joined to each segment's window (NaN until "
                    "they join).",
                ),
            ],
        ],
        [MODEL, version, metric, segment],
    )
