"""Generate Guardian's Grafana dashboards as plain JSON (Grafana's dashboard model, schema 39).

    python config/grafana/build_dashboards.py          # rewrite dashboards/*.json
    python config/grafana/build_dashboards.py --check  # exit 1 if they are stale

No generator library: the JSON model is small and documented
(https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/),
and a library that lags Grafana (grafanalib wrote schemaVersion 12 and needed its
private ``_gen`` module to serialise) costs more than it saves. The committed JSON
is provisioned from ``config/grafana/dashboards``; ``tests/integration/test_dashboards.py``
checks that it is up to date, structurally valid for Grafana 10/11, and that every
query, variable and annotation runs on a real Prometheus against Guardian's metrics.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11
#: Must equal the uid in provisioning/datasources/prometheus.yml.
DATASOURCE = {"type": "prometheus", "uid": "guardian-prometheus"}
RATE = "$__rate_interval"
Panel = dict[str, Any]

#: Alerts with a runbook in docs/runbooks, most urgent first (the SRE dashboard links them).
RUNBOOKS = (
    "GuardianDown",
    "GuardianKafkaUnreachable",
    "GuardianConsumerStalled",
    "GuardianNoPartitionsAssigned",
    "GuardianRedactionFailures",
    "GuardianUndecodableBatch",
    "GuardianConsumerLagHigh",
    "GuardianReplicasDown",
    "GuardianDLQRateHigh",
    "GuardianModelSilent",
    "GuardianAlertDeliveryFailing",
    "GuardianFairnessBreach",
    "GuardianPerformanceEstimateLow",
    "GuardianDriftDetected",
    "GuardianPolicyOverride",
    "GuardianConfigRefused",
)

# ----------------------------------------------------------------- thresholds


def steps(base: str, *marks: tuple[float, str]) -> dict[str, Any]:
    """Absolute thresholds: ``base`` colour below the first mark, then each mark's colour."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}]
        + [{"color": colour, "value": value} for value, colour in marks],
    }


#: Zero is good, anything above is bad (failures, firing alerts, replicas down).
ZERO_IS_GOOD = steps("green", (1, "red"))
#: One is good (up, reachable).
ONE_IS_GOOD = steps("red", (1, "green"))
#: Informational counts (no good or bad).
NEUTRAL = steps("blue")

# ----------------------------------------------------------------- panels


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
        "format": "table" if instant else "time_series",
    }


def series(
    title: str,
    specs: Sequence[tuple[str, str]],
    unit: str = "short",
    *,
    thresholds: dict[str, Any] | None = None,
    bars: bool = False,
    description: str = "",
) -> Panel:
    """A time series panel; with ``thresholds`` they are drawn as lines (dashed)."""
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 80 if bars else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if thresholds else "off"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [
            target(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(specs)
        ],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "palette-classic"},
                "custom": custom,
                "thresholds": thresholds or NEUTRAL,
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str, expr: str, thresholds: dict[str, Any], unit: str = "short", description: str = ""
) -> Panel:
    """A single number coloured by ``thresholds`` (background), with a sparkline."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "thresholds"},
                "thresholds": thresholds,
                "noValue": "0",
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
    }


def table(title: str, expr: str, description: str = "") -> Panel:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": {"thresholds": NEUTRAL}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
        "transformations": [
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}}
        ],
    }


def text(title: str, markdown: str) -> Panel:
    return {
        "type": "text",
        "title": title,
        "datasource": DATASOURCE,
        "options": {"mode": "markdown", "content": markdown},
    }


# ----------------------------------------------------------------- dashboard


def query_variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,  # on time range change
        "sort": 1,
        "hide": 0,
    }


def runbook_variable() -> dict[str, Any]:
    """Where docs/runbooks is published; set it like the runbook_base_url external label."""
    return {
        "type": "textbox",
        "name": "runbooks",
        "label": "Runbooks at",
        "query": "docs/runbooks",
        "current": {"text": "docs/runbooks", "value": "docs/runbooks"},
        "hide": 0,
    }


def config_change_annotation() -> dict[str, Any]:
    """A marker whenever a replica applied a new shared config (audited in guardian.audit)."""
    return {
        "name": "Config changes",
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": "orange",
        "expr": 'changes(guardian_config_version{job="guardian"}[2m]) > 0',
        "step": "1m",
        "titleFormat": "Config change",
        "textFormat": "{{instance}} applied config version change",
        "tagKeys": "instance",
    }


BUILT_IN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def layout(rows: Sequence[Sequence[Panel]], height: int = 8) -> list[Panel]:
    """Place each row's panels side by side across Grafana's 24 columns; number them."""
    placed: list[Panel] = []
    y = 0
    ids = itertools.count(1)
    for row in rows:
        width = 24 // len(row)
        row_height = 4 if all(p["type"] == "stat" for p in row) else height
        for i, panel in enumerate(row):
            placed.append(
                {
                    "id": next(ids),
                    **panel,
                    "gridPos": {"h": row_height, "w": width, "x": i * width, "y": y},
                }
            )
        y += row_height
    return placed


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Sequence[Panel]],
    variables: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["guardian"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {"list": [BUILT_IN_ANNOTATION, config_change_annotation()]},
        "links": [
            {
                "title": "Guardian dashboards",
                "type": "dashboards",
                "tags": ["guardian"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "templating": {"list": list(variables)},
        "panels": layout(rows),
    }


MODEL = query_variable("model", "label_values(guardian_events_processed_total, model)", "Model")


def sre() -> dict[str, Any]:
    up = 'up{job="guardian"}'
    runbook_rows = "\n".join(
        f"| {name} | [{name}.md](${{runbooks}}/{name}.md) |" for name in RUNBOOKS
    )
    return dashboard(
        "guardian-sre",
        "Guardian / SRE overview",
        "Is Guardian up, keeping up and alerting? Replicas, input against processed, lag, "
        "firing alerts with their runbooks; orange markers are config changes.",
        [
            [
                stat(
                    "Replicas up",
                    f"sum({up})",
                    steps("red", (1, "green")),
                    description="Targets of job guardian answering scrapes.",
                ),
                stat("Replicas down", f"count({up} == 0)", ZERO_IS_GOOD),
                stat("Kafka reachable (min over replicas)", "min(guardian_kafka_up)", ONE_IS_GOOD),
                stat(
                    "Partitions assigned",
                    "sum(guardian_partitions_assigned)",
                    steps("red", (1, "green")),
                ),
                stat(
                    "Consumer lag",
                    "sum(job_topic:guardian_consumer_lag_messages:sum)",
                    steps("green", (5000, "yellow"), (10000, "red")),
                    description="Messages behind the input topic; "
                    "GuardianConsumerLagHigh at 10000 for 5m.",
                ),
                stat(
                    "Lag (oldest unprocessed event)",
                    "max(job_topic:guardian_group_lag_seconds:max)",
                    steps("green", (60, "yellow"), (300, "red")),
                    unit="s",
                    description="Broker's view: age of the record at the group's committed "
                    "offset (service/kafka/group_offsets.py); keeps growing when the consumer "
                    "stalls.",
                ),
                stat(
                    "Alerts firing",
                    'count(ALERTS{alertname=~"Guardian.*", alertstate="firing"})',
                    ZERO_IS_GOOD,
                ),
            ],
            [
                series(
                    "Input vs committed rate (broker)",
                    [
                        ("sum(job_topic:guardian_input_messages:rate5m)", "appended to input"),
                        (
                            "sum(job_topic:guardian_group_committed_messages:rate5m)",
                            "committed by the group",
                        ),
                    ],
                    "ops",
                    description="From end and committed offsets read on the broker: input "
                    "that grows while commits stay flat is a stalled consumer "
                    "(GuardianConsumerStalled).",
                ),
                series(
                    "Lag by topic (broker, seconds)",
                    [("max by (topic) (job_topic:guardian_group_lag_seconds:max)", "{{topic}}")],
                    "s",
                    thresholds=steps("green", (300, "red")),
                ),
            ],
            [
                series(
                    "Input consumed vs processed",
                    [
                        ("sum(job:guardian_events_consumed:rate1m)", "consumed (input)"),
                        ("sum(job_model:guardian_events_processed:rate1m)", "processed"),
                        ("sum(job_reason:guardian_events_rejected:rate1m)", "to DLQ"),
                    ],
                    "ops",
                    description="Consumed minus processed minus DLQ is what is in flight; "
                    "a gap that grows means Guardian is falling behind.",
                ),
                series(
                    "Consumer lag by topic",
                    [
                        (
                            "sum by (topic) (job_topic:guardian_consumer_lag_messages:sum)",
                            "{{topic}}",
                        )
                    ],
                    thresholds=steps("green", (10000, "red")),
                ),
            ],
            [
                series(
                    "Replicas answering scrapes",
                    [(f"sum({up})", "up"), (f"count({up})", "configured")],
                    thresholds=steps("red", (1, "green")),
                ),
                series(
                    "Latency per message (poll to acknowledged outputs)",
                    [
                        ("max(job:guardian_event_processing_seconds:p50_rate5m)", "p50"),
                        ("max(job:guardian_event_processing_seconds:p99_rate5m)", "p99"),
                    ],
                    "s",
                ),
            ],
            [
                table(
                    "Firing alerts (Prometheus rules)",
                    'ALERTS{alertname=~"Guardian.*", alertstate="firing"}',
                ),
                text(
                    "Runbooks",
                    "Every alert links its runbook (annotation `runbook_url`). Set the "
                    "*Runbooks at* variable to where docs/runbooks is published.\n\n"
                    "| alert | runbook |\n| --- | --- |\n" + runbook_rows,
                ),
            ],
        ],
        [runbook_variable()],
    )


def overview() -> dict[str, Any]:
    m = '{model=~"$model"}'
    return dashboard(
        "guardian-overview",
        "Guardian / Overview",
        "Throughput, lag, DLQ, redactions and latency of the Guardian pipeline.",
        [
            [
                stat(
                    "Events consumed /s", "sum(job:guardian_events_consumed:rate1m)", NEUTRAL, "ops"
                ),
                stat(
                    "DLQ share (5m)",
                    "max(job:guardian_events_rejected_per_consumed:ratio_rate5m)",
                    steps("green", (0.02, "yellow"), (0.05, "red")),
                    "percentunit",
                ),
                stat(
                    "Consumer lag",
                    "sum(job_topic:guardian_consumer_lag_messages:sum)",
                    steps("green", (5000, "yellow"), (10000, "red")),
                ),
                stat("Alerts firing (engine)", "sum(guardian_alerts_firing)", ZERO_IS_GOOD),
                stat("Kafka up (min over replicas)", "min(guardian_kafka_up)", ONE_IS_GOOD),
                stat(
                    "Partitions assigned",
                    "sum(guardian_partitions_assigned)",
                    steps("red", (1, "green")),
                ),
            ],
            [
                series(
                    "Throughput",
                    [
                        ("sum(job:guardian_events_consumed:rate1m)", "consumed"),
                        (
                            f"sum by (model) (rate(guardian_events_processed_total{m}[{RATE}]))",
                            "processed {{model}}",
                        ),
                        (f"sum(rate(guardian_events_rejected_total[{RATE}]))", "to DLQ"),
                    ],
                    "ops",
                ),
                series(
                    "Consumer lag by partition",
                    [
                        (
                            "sum by (topic, partition) (guardian_consumer_lag_messages)",
                            "{{topic}}[{{partition}}]",
                        )
                    ],
                ),
            ],
            [
                series(
                    "DLQ by reason",
                    [
                        (
                            f"sum by (reason) (rate(guardian_events_rejected_total[{RATE}]))",
                            "{{reason}}",
                        )
                    ],
                    "ops",
                ),
                series(
                    "Redactions by entity",
                    [(f"sum by (entity) (rate(guardian_redactions_total[{RATE}]))", "{{entity}}")],
                    "ops",
                ),
            ],
            [
                series(
                    "Processing latency per message",
                    [
                        (
                            "histogram_quantile(0.5, sum by (le) "
                            f"(rate(guardian_event_processing_seconds_bucket[{RATE}])))",
                            "p50",
                        ),
                        (
                            "histogram_quantile(0.99, sum by (le) "
                            f"(rate(guardian_event_processing_seconds_bucket[{RATE}])))",
                            "p99",
                        ),
                        (
                            "histogram_quantile(0.99, sum by (le) "
                            f"(rate(guardian_processing_seconds_bucket[{RATE}])))",
                            "p99 per batch",
                        ),
                    ],
                    "s",
                ),
                series(
                    "Redaction time per batch and failures",
                    [
                        (
                            "histogram_quantile(0.99, sum by (le) "
                            f"(rate(guardian_redaction_seconds_bucket[{RATE}])))",
                            "p99 redaction",
                        ),
                        (f"sum(rate(guardian_redaction_failures_total[{RATE}]))", "failures /s"),
                    ],
                ),
            ],
            [
                series(
                    "Batch size",
                    [
                        (
                            "histogram_quantile(0.5, sum by (le) "
                            f"(rate(guardian_batch_size_messages_bucket[{RATE}])))",
                            "p50",
                        ),
                        (
                            f"sum(rate(guardian_batch_size_messages_sum[{RATE}])) / "
                            f"sum(rate(guardian_batch_size_messages_count[{RATE}]))",
                            "mean",
                        ),
                    ],
                ),
                series(
                    "Retention classes and folded label values",
                    [
                        (
                            "sum by (retention_class) "
                            f"(rate(guardian_retention_assigned_total[{RATE}]))",
                            "{{retention_class}} /s",
                        ),
                        (
                            f"sum by (label) (rate(guardian_label_values_folded_total[{RATE}]))",
                            "folded {{label}} /s",
                        ),
                        (
                            "max by (topic) (guardian_retention_topic_mismatch)",
                            "mismatch {{topic}}",
                        ),
                    ],
                ),
            ],
        ],
        [MODEL],
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


def alerts() -> dict[str, Any]:
    return dashboard(
        "guardian-alerts",
        "Guardian / Alerts",
        "Alerts raised by Guardian's engine (drift) and by the Prometheus rules (health, "
        "fairness decision), and their delivery.",
        [
            [
                stat(
                    "Critical firing",
                    'count(ALERTS{alertname=~"Guardian.*", alertstate="firing", '
                    'severity="critical"})',
                    ZERO_IS_GOOD,
                ),
                stat(
                    "Warning firing",
                    'count(ALERTS{alertname=~"Guardian.*", alertstate="firing", '
                    'severity="warning"})',
                    steps("green", (1, "yellow")),
                ),
                stat(
                    "Engine alerts firing",
                    "sum(guardian_alerts_firing)",
                    steps("green", (1, "yellow")),
                ),
                stat(
                    "Deliveries failed (1h)",
                    'sum(increase(guardian_alert_deliveries_total{outcome=~"failed|rejected"}[1h]))',
                    ZERO_IS_GOOD,
                ),
            ],
            [
                table("Firing now (engine)", "guardian_alerts_firing > 0"),
                table(
                    "Firing now (Prometheus rules)",
                    'ALERTS{alertname=~"Guardian.*", alertstate="firing"}',
                ),
            ],
            [
                series(
                    "Engine alerts firing by name",
                    [
                        (
                            "sum by (alertname, severity) "
                            "(job_alertname_severity:guardian_alerts_firing:sum)",
                            "{{alertname}} ({{severity}})",
                        )
                    ],
                ),
                series(
                    "State changes",
                    [
                        (
                            "sum by (alertname, state) "
                            f"(increase(guardian_alert_transitions_total[{RATE}]))",
                            "{{alertname}} {{state}}",
                        )
                    ],
                    bars=True,
                ),
            ],
            [
                series(
                    "Deliveries by sink and outcome",
                    [
                        (
                            "sum by (sink, outcome) "
                            f"(rate(guardian_alert_deliveries_total[{RATE}]))",
                            "{{sink}} {{outcome}}",
                        )
                    ],
                    "ops",
                ),
            ],
        ],
    )


BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "sre": sre,
    "overview": overview,
    "drift": drift,
    "fairness": fairness,
    "performance": performance,
    "alerts": alerts,
}


def render(name: str) -> str:
    """One dashboard as the JSON text committed under ``dashboards/``."""
    return json.dumps(BUILDERS[name](), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed JSON is stale")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(exist_ok=True)
    stale = []
    for name in BUILDERS:
        path = OUT_DIR / f"guardian-{name}.json"
        rendered = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != rendered:
                stale.append(path.name)
        else:
            path.write_text(rendered, encoding="utf-8")
    if stale:
        sys.stderr.write(
            "stale dashboards (run config/grafana/build_dashboards.py): " + ", ".join(stale) + "\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
