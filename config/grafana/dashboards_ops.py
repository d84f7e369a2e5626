"""The operators' dashboards: SRE (is Guardian up and keeping up), overview, alerts."""

from __future__ import annotations

from typing import Any

from panel_kit import (
    MODEL,
    NEUTRAL,
    ONE_IS_GOOD,
    RATE,
    RUNBOOKS,
    ZERO_IS_GOOD,
    dashboard,
    runbook_variable,
    series,
    stat,
    steps,
    table,
    text,
)


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
