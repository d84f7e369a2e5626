"""Generate Guardian's Grafana dashboards with grafanalib.

    python config/grafana/build_dashboards.py          # rewrite dashboards/*.json
    python config/grafana/build_dashboards.py --check  # exit 1 if they are stale

The generated JSON is committed (Grafana provisions it from
``config/grafana/dashboards``); ``tests/test_dashboards.py`` checks that it is
up to date and that every query reads metrics Guardian exports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
#: Must equal the uid in provisioning/datasources/prometheus.yml.
DATASOURCE = {"type": "prometheus", "uid": "guardian-prometheus"}
RATE = "$__rate_interval"


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> g.Target:
    return g.Target(
        expr=expr,
        legendFormat=legend,
        refId=ref,
        instant=instant,
        datasource=DATASOURCE,
        format="table" if instant else g.TIME_SERIES_TARGET_FORMAT,
    )


def targets(*specs: tuple[str, str]) -> list[g.Target]:
    return [target(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(specs)]


def series(
    title: str, specs: Sequence[tuple[str, str]], unit: str = "short", **kw: Any
) -> g.TimeSeries:
    return g.TimeSeries(
        title=title, dataSource=DATASOURCE, targets=targets(*specs), unit=unit, **kw
    )


def stat(title: str, expr: str, unit: str = "short", legend: str = "") -> g.Stat:
    return g.Stat(
        title=title,
        dataSource=DATASOURCE,
        targets=[target(expr, legend)],
        format=unit,
        reduceCalc="lastNotNull",
        graphMode="area",
    )


def table(title: str, expr: str) -> g.Table:
    return g.Table(title=title, dataSource=DATASOURCE, targets=[target(expr, instant=True)])


def variable(name: str, query: str, label: str) -> g.Template:
    return g.Template(
        name=name,
        label=label,
        query=query,
        dataSource=DATASOURCE,
        includeAll=True,
        multi=True,
        allValue=".*",
        refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
    )


def layout(rows: Sequence[Sequence[g.Panel]], height: int = 8) -> list[g.Panel]:
    """Place each row's panels side by side across Grafana's 24 columns."""
    placed: list[g.Panel] = []
    y = 0
    for row in rows:
        width = 24 // len(row)
        row_height = 4 if all(isinstance(p, g.Stat) for p in row) else height
        for i, panel in enumerate(row):
            panel.gridPos = g.GridPos(h=row_height, w=width, x=i * width, y=y)
            placed.append(panel)
        y += row_height
    return placed


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Sequence[g.Panel]],
    variables: list[g.Template],
) -> g.Dashboard:
    return g.Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=["guardian"],
        timezone="browser",
        refresh="30s",
        time=g.Time("now-3h", "now"),
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        templating=g.Templating(list=variables),
        panels=layout(rows),
    ).auto_panel_ids()


MODEL = variable("model", "label_values(guardian_events_processed_total, model)", "Model")


def overview() -> g.Dashboard:
    m = '{model=~"$model"}'
    return dashboard(
        "guardian-overview",
        "Guardian / Overview",
        "Throughput, lag, DLQ, redactions and latency of the Guardian pipeline.",
        [
            [
                stat("Events consumed /s", "sum(guardian:events_consumed:rate1m)", "ops"),
                stat("DLQ share (5m)", "max(guardian:dlq_ratio:rate5m)", "percentunit"),
                stat("Consumer lag", "sum(guardian:consumer_lag:sum)"),
                stat("Alerts firing", "sum(guardian_alerts_firing)"),
                stat("Kafka up (min over replicas)", "min(guardian_kafka_up)"),
                stat("Partitions assigned", "sum(guardian_partitions_assigned)"),
            ],
            [
                series(
                    "Throughput",
                    [
                        ("sum(guardian:events_consumed:rate1m)", "consumed"),
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
                            "sum by (topic, partition) (guardian_consumer_lag)",
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
                    "Processing latency per event",
                    [
                        (
                            "histogram_quantile(0.5, sum by (le) "
                            f"(rate(guardian_processing_seconds_bucket[{RATE}])))",
                            "p50",
                        ),
                        (
                            "histogram_quantile(0.99, sum by (le) "
                            f"(rate(guardian_processing_seconds_bucket[{RATE}])))",
                            "p99",
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
                            f"(rate(guardian_batch_size_bucket[{RATE}])))",
                            "p50",
                        ),
                        (
                            f"sum(rate(guardian_batch_size_sum[{RATE}])) / "
                            f"sum(rate(guardian_batch_size_count[{RATE}]))",
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
                        ("max by (label) (guardian_label_values_folded)", "folded {{label}}"),
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


def drift() -> g.Dashboard:
    feature = variable(
        "feature",
        'label_values(guardian_drift_statistic{model=~"$model"}, feature)',
        "Feature",
    )
    sel = '{model=~"$model", feature=~"$feature"}'
    return dashboard(
        "guardian-drift",
        "Guardian / Drift",
        "Drift detections and detector statistics per model and feature.",
        [
            [
                stat("Detectors active", "sum(guardian_detectors_active)"),
                stat(
                    "Detections (range)",
                    f"sum(increase(guardian_drift_detected_total{sel}[$__range]))",
                ),
                stat(
                    "Drift alerts firing",
                    'sum(guardian_alerts_firing{alertname="GuardianDriftDetected"})',
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
                    drawStyle="bars",
                    fillOpacity=80,
                ),
                series(
                    "Detector statistic",
                    [(f"guardian_drift_statistic{sel}", "{{model}} / {{feature}} ({{detector}})")],
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


def fairness() -> g.Dashboard:
    attribute = variable(
        "attribute",
        'label_values(guardian_fairness_value{model=~"$model"}, attribute)',
        "Attribute",
    )
    rate = variable(
        "rate",
        'label_values(guardian_fairness_group_rate{model=~"$model"}, rate)',
        "Rate",
    )
    sel = '{model=~"$model", attribute=~"$attribute"}'
    return dashboard(
        "guardian-fairness",
        "Guardian / Fairness",
        "Fairlearn metrics per model and protected attribute; "
        "per-group rates with Wilson intervals.",
        [
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
                ),
                series(
                    "Differences (parity, equal opportunity, equalized odds)",
                    [
                        (
                            'guardian_fairness_value{model=~"$model", attribute=~"$attribute", '
                            'metric=~".*_difference"}',
                            "{{model}} / {{attribute}} {{metric}}",
                        )
                    ],
                ),
            ],
            [
                series(
                    "Per-group rate with Wilson interval bounds",
                    [
                        (
                            "guardian_fairness_group_rate"
                            '{model=~"$model", attribute=~"$attribute", '
                            'rate=~"$rate"}',
                            "{{model}} / {{attribute}}={{group}} {{rate}} ({{bound}})",
                        )
                    ],
                    "percentunit",
                ),
                series(
                    "Events per group in the window",
                    [
                        (
                            f"guardian_fairness_group_count{sel}",
                            "{{model}} / {{attribute}}={{group}}",
                        )
                    ],
                ),
            ],
            [
                series(
                    "Breaches declared",
                    [
                        (
                            "sum by (model, attribute, metric) "
                            f"(increase(guardian_fairness_breaches_total{sel}[{RATE}]))",
                            "{{model}} / {{attribute}} {{metric}}",
                        )
                    ],
                    drawStyle="bars",
                    fillOpacity=80,
                ),
                table("Current values", f"guardian_fairness_value{sel}"),
            ],
        ],
        [MODEL, attribute, rate],
    )


def alerts() -> g.Dashboard:
    return dashboard(
        "guardian-alerts",
        "Guardian / Alerts",
        "Alerts raised by Guardian's engine and by the Prometheus rules, and their delivery.",
        [
            [
                stat("Critical firing", 'sum(guardian_alerts_firing{severity="critical"})'),
                stat("Warning firing", 'sum(guardian_alerts_firing{severity="warning"})'),
                stat(
                    "Deliveries failed (1h)",
                    'sum(increase(guardian_alert_deliveries_total{outcome=~"failed|rejected"}[1h]))',
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
                    "Alerts firing by name",
                    [
                        (
                            "sum by (alertname, severity) (guardian:alerts_firing:sum)",
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
                    drawStyle="bars",
                    fillOpacity=80,
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
        [],
    )


BUILDERS = {"overview": overview, "drift": drift, "fairness": fairness, "alerts": alerts}


def render(name: str) -> str:
    """One dashboard as the JSON text committed under ``dashboards/``."""
    data = BUILDERS[name]().to_json_data()
    return json.dumps(data, cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed JSON is stale")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(exist_ok=True)
    stale = []
    for name in BUILDERS:
        path = OUT_DIR / f"guardian-{name}.json"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        sys.stderr.write(
            "stale dashboards (run config/grafana/build_dashboards.py): " + ", ".join(stale) + "\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
