"""Prometheus metrics of Guardian.

Every metric takes its registry (tests build a fresh ``CollectorRegistry``).
Label values that come from event data (model names, feature names, entity
types from custom recognizers, protected-attribute groups) pass through a
:class:`BoundedLabel` first, so a publisher that sends 100k distinct model
names produces at most ``top_k + 1`` series per label.
"""

from __future__ import annotations

import platform
import threading
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from detectors.telemetry import OTHER
from service.metric_kinds import CountedHistogram, Renamed

__all__ = ["OTHER", "BoundedLabel", "GuardianMetrics"]


class BoundedLabel:
    """Admit at most ``top_k`` distinct values of one label; fold the rest into ``__other__``.

    The first ``top_k`` values seen are admitted for the life of the process
    (series must not flap between a value and ``__other__``); later values are
    counted as overflow so operators can see that folding happens.

    Examples
    --------
    >>> label = BoundedLabel("model", top_k=2)
    >>> [label("a"), label("b"), label("c"), label("a")]
    ['a', 'b', '__other__', 'a']
    >>> label.overflow
    1
    """

    __slots__ = ("name", "top_k", "_admitted", "_lock", "overflow")

    def __init__(self, name: str, top_k: int) -> None:
        self.name = name
        self.top_k = top_k
        self._admitted: set[str] = set()
        self._lock = threading.Lock()
        self.overflow = 0

    def __call__(self, value: str) -> str:
        if value in self._admitted:
            return value
        with self._lock:
            if value in self._admitted:
                return value
            if len(self._admitted) < self.top_k and value != OTHER:
                self._admitted.add(value)
                return value
            self.overflow += 1
            return OTHER

    @property
    def admitted(self) -> frozenset[str]:
        return frozenset(self._admitted)


LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: A message waits for its whole batch: up to seconds, so the buckets reach further.
EVENT_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GuardianMetrics:
    """All metrics Guardian exports, registered on one registry.

    Parameters
    ----------
    registry
        Where the metrics are registered; a fresh one per test.
    top_k
        Bound on distinct values per data-derived label.
    """

    def __init__(self, registry: CollectorRegistry | None = None, top_k: int = 50) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.model_label = BoundedLabel("model", top_k)
        self.feature_label = BoundedLabel("feature", top_k)
        self.entity_label = BoundedLabel("entity", top_k)
        self.attribute_label = BoundedLabel("attribute", top_k)
        self.group_label = BoundedLabel("group", top_k)
        self.field_label = BoundedLabel("field", top_k)
        self.version_label = BoundedLabel("version", top_k)
        #: performance segments (``<by>=<value>``, or ``all``), already top-k per spec
        self.segment_label = BoundedLabel("segment", top_k)

        # pipeline
        self.events_consumed = Counter(
            "guardian_events_consumed", "Messages read from the input topic.", registry=r
        )
        self.events_processed = Counter(
            "guardian_events_processed",
            "Events sanitized and written to a sanitized topic.",
            ["model"],
            registry=r,
        )
        self.events_rejected = Counter(
            "guardian_events_rejected",
            "Messages sent to the DLQ, by reason.",
            ["reason"],
            registry=r,
        )
        self.unknown_fields = Counter(
            "guardian_unknown_fields",
            "Top-level event fields schema v1 does not define, by name (identifier-shaped "
            "names only, the rest as __other__), whatever schema.unknown_fields does with them.",
            ["field"],
            registry=r,
        )
        self.processing_seconds = Histogram(
            "guardian_processing_seconds",
            "Time to process one batch, from poll to acknowledged outputs (one observation "
            "per batch; per-message latency is guardian_event_processing_seconds).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_processing_seconds = CountedHistogram(
            "guardian_event_processing_seconds",
            "Time from poll to acknowledged outputs, per consumed message (each message "
            "of a batch waits for the whole batch, so the batch time counts once per message).",
            EVENT_LATENCY_BUCKETS,
            registry=r,
        )
        batch_buckets = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000)
        self.batch_size = Renamed(
            Histogram(
                "guardian_batch_size_messages",
                "Messages per processed batch.",
                buckets=batch_buckets,
                registry=r,
            ),
            Histogram(
                "guardian_batch_size",
                "DEPRECATED, removed in the next release: use guardian_batch_size_messages.",
                buckets=batch_buckets,
                registry=r,
            ),
        )
        self.consumer_lag = Renamed(
            Gauge(
                "guardian_consumer_lag_messages",
                "Messages between the committed offset and the end of the partition.",
                ["topic", "partition"],
                registry=r,
            ),
            Gauge(
                "guardian_consumer_lag",
                "DEPRECATED, removed in the next release: use guardian_consumer_lag_messages.",
                ["topic", "partition"],
                registry=r,
            ),
        )
        self.undecodable_batches = Counter(
            "guardian_undecodable_batches",
            "Input record batches that could not be decoded after the retries, by action "
            "(skipped: offset range dead-lettered; stopped: partition paused).",
            ["topic", "action"],
            registry=r,
        )
        self.kafka_up = Gauge(
            "guardian_kafka_up", "1 when the broker answered the last request.", registry=r
        )
        self.partitions_assigned = Gauge(
            "guardian_partitions_assigned", "Input partitions owned by this replica.", registry=r
        )
        self.label_overflow = Counter(
            "guardian_label_values_folded",
            "Label values replaced by __other__ by the cardinality bound (one per use).",
            ["label"],
            registry=r,
        )
        self._overflow_exported: dict[str, int] = {}

        # redaction
        self.redactions = Counter(
            "guardian_redactions",
            "PII or secret findings redacted, by entity.",
            ["entity"],
            registry=r,
        )
        self.redaction_failures = Counter(
            "guardian_redaction_failures",
            "Events whose analysis failed or timed out (sent to the DLQ, fail closed).",
            registry=r,
        )
        self.redaction_seconds = Histogram(
            "guardian_redaction_seconds",
            "Time spent redacting one batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

        # retention
        self.retention_assigned = Counter(
            "guardian_retention_assigned",
            "Events tagged, by retention class.",
            ["retention_class"],
            registry=r,
        )
        self.retention_mismatch = Gauge(
            "guardian_retention_topic_mismatch",
            "1 when a sanitized topic's retention.ms differs from its class, uncorrected.",
            ["topic"],
            registry=r,
        )

        # drift
        self.drift_detected = Counter(
            "guardian_drift_detected",
            "Drift detections.",
            ["model", "feature", "detector"],
            registry=r,
        )
        self.drift_statistic = Gauge(
            "guardian_drift_statistic",
            "Current statistic of a drift detector (estimate, distance or error rate).",
            ["model", "feature", "detector"],
            registry=r,
        )
        self.detectors_active = Gauge(
            "guardian_detectors_active", "Detectors alive in this replica.", registry=r
        )
        self.detectors_refused = Counter(
            "guardian_detectors_refused",
            "Detectors not created because a limit on models or features was reached.",
            ["limit"],
            registry=r,
        )
        self.labels_joined = Counter(
            "guardian_labels", "Ground-truth labels by join outcome.", ["outcome"], registry=r
        )

        # fairness
        self.fairness_value = Gauge(
            "guardian_fairness_value",
            "Fairness metric over the current window (Fairlearn names).",
            ["model", "attribute", "metric"],
            registry=r,
        )
        self.fairness_group_rate = Gauge(
            "guardian_fairness_group_rate",
            "Per-group rate over the current window, with Wilson interval bounds.",
            ["model", "attribute", "group", "rate", "bound"],
            registry=r,
        )
        self.fairness_group_events = Gauge(
            "guardian_fairness_group_events",
            "Events per group in the current window.",
            ["model", "attribute", "group"],
            registry=r,
        )
        self.fairness_breaches = Counter(
            "guardian_fairness_breaches",
            "Fairness breaches declared.",
            ["model", "attribute", "metric"],
            registry=r,
        )
        self.fairness_breached = Gauge(
            "guardian_fairness_breached",
            "1 while the fairness monitor holds a breach (minimum group size, confidence, "
            "hysteresis and the model's thresholds applied), else 0; alert on this.",
            ["model", "attribute", "metric"],
            registry=r,
        )

        # performance (detectors/performance): CBPE estimates and realized values
        self.performance_estimated = Gauge(
            "guardian_performance_estimated",
            "Performance estimated without labels (CBPE on calibrated scores) over the window "
            "of a model version (segment=all) or of one of its segments.",
            ["model", "version", "segment", "metric"],
            registry=r,
        )
        self.performance_realized = Gauge(
            "guardian_performance_realized",
            "Performance on the joined labels of the window (NaN until labels join).",
            ["model", "version", "segment", "metric"],
            registry=r,
        )
        self.performance_breached = Gauge(
            "guardian_performance_breached",
            "1 while an estimate is held below the model's threshold (interval, hysteresis "
            "applied), else 0, per version (segment=all) and segment; alert on this.",
            ["model", "version", "segment", "metric"],
            registry=r,
        )
        self.performance_excluded = Counter(
            "guardian_performance_scores_excluded",
            "Scores left out of performance estimation (missing, not in [0, 1]).",
            ["model", "reason"],
            registry=r,
        )

        # alerts
        self.alerts_firing = Gauge(
            "guardian_alerts_firing",
            "Alerts currently firing.",
            ["alertname", "model", "severity"],
            registry=r,
        )
        self.alert_transitions = Counter(
            "guardian_alert_transitions",
            "Alert state changes.",
            ["alertname", "state"],
            registry=r,
        )
        self.alert_deliveries = Counter(
            "guardian_alert_deliveries",
            "Alert deliveries to Alertmanager or a webhook by outcome.",
            ["sink", "outcome"],
            registry=r,
        )

        # control plane
        self.auth_failures = Counter(
            "guardian_auth_failures", "Rejected control-plane requests.", ["reason"], registry=r
        )
        self.config_version = Gauge(
            "guardian_config_version", "Version of the config this replica applies.", registry=r
        )
        self.policy_overrides = Counter(
            "guardian_policy_overrides",
            "Unsafe policies accepted with an explicit override (PUT or start-up files).",
            registry=r,
        )
        self.config_refused = Counter(
            "guardian_config_refused",
            "guardian.config records refused (never applied), by reason.",
            ["reason"],
            registry=r,
        )
        for reason in ("unsigned", "bad_signature", "unknown_key", "replayed", "malformed"):
            self.config_refused.labels(reason)

        # state
        self.checkpoints = Counter(
            "guardian_checkpoints", "Detector checkpoints by outcome.", ["outcome"], registry=r
        )

        # process: what is running (build) and what it costs (CPU, memory, open files)
        self.build_info = Info(
            "guardian_build", "Version of Guardian and of Python of this process.", registry=r
        )
        self.build_info.info({"version": guardian_version(), "python": platform.python_version()})
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes…
        PlatformCollector(registry=r)  # python_info

    def observe_processing(self, messages: int, seconds: float) -> None:
        """Record one processed batch: its time, and that time once per message in it."""
        self.processing_seconds.observe(seconds)
        self.event_processing_seconds.observe(seconds, count=messages)

    def refresh_overflow(self) -> None:
        """Export how many values each bounded label folded (a counter: it only rises)."""
        for label in (
            self.model_label,
            self.feature_label,
            self.entity_label,
            self.attribute_label,
            self.group_label,
            self.field_label,
            self.version_label,
            self.segment_label,
        ):
            seen = label.overflow
            delta = seen - self._overflow_exported.get(label.name, 0)
            child = self.label_overflow.labels(label.name)  # the series exists at 0
            if delta > 0:
                child.inc(delta)
                self._overflow_exported[label.name] = seen


def guardian_version() -> str:
    """The installed package's version ("unknown" when run from a bare source tree)."""
    try:
        return metadata.version("inference-guardian")
    except metadata.PackageNotFoundError:
        return "unknown"
