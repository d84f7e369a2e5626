"""What the alert engine takes in, as alert conditions.

Detector results, the service's health readings, accepted policy overrides and
undecodable input each become one of the state machine's three verbs:
``_detect`` (a condition seen), ``_release`` (a held condition cleared) and
``_level`` (a reading against fire and clear marks). The state machine is
:class:`~service.alerting.engine.AlertEngine`, which inherits these inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from detectors.drift.explain import describe
from detectors.results import DriftResult, FairnessResult, PerformanceResult
from service.alerting.rules import AlertName, AlertRules, LevelThreshold


class AlertInputs:
    """Translate inputs into alert conditions; the state machine implements the verbs."""

    rules: AlertRules
    _clock: Callable[[], float]

    def _detect(
        self,
        name: AlertName,
        identity: dict[str, str],
        at: float,
        *,
        holding: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        raise NotImplementedError

    def _release(self, name: AlertName, identity: dict[str, str], at: float) -> None:
        raise NotImplementedError

    def _level(
        self,
        name: AlertName,
        identity: dict[str, str],
        value: float,
        threshold: LevelThreshold,
        at: float,
    ) -> None:
        raise NotImplementedError

    def _active_models(self, name: AlertName) -> list[str]:
        """The ``model`` label of every active alert named ``name``."""
        raise NotImplementedError

    def ingest(
        self, result: DriftResult | FairnessResult | PerformanceResult, now: float | None = None
    ) -> None:
        """Take one detector result.

        A drift result opens or refreshes the drift alert of its (model,
        version, feature, detector). A fairness ``breach`` opens or refreshes
        the fairness alert of its (model, version, attribute, metric) and holds
        it until a ``clear`` result of the same key arrives.
        """
        at = self._clock() if now is None else now
        if isinstance(result, DriftResult):
            labels = {
                "model": result.model,
                "version": result.version,
                "feature": result.feature,
                "detector": result.detector,
            }
            self._detect(AlertName.DRIFT, labels, at, extra=describe(result))
            return
        if isinstance(result, PerformanceResult):
            self._ingest_performance(result, at)
            return
        labels = {
            "model": result.model,
            "version": result.version,
            "attribute": result.attribute,
            "metric": result.metric,
        }
        if result.state == "breach":
            extra = {
                "description": (
                    f"{result.metric} = {result.value:.4g} against threshold {result.threshold:.4g}"
                )
            }
            self._detect(AlertName.FAIRNESS, labels, at, holding=True, extra=extra)
        else:
            self._release(AlertName.FAIRNESS, labels, at)

    def _ingest_performance(self, result: PerformanceResult, at: float) -> None:
        """A ``breach`` holds the alert of its (model, version, segment, metric) until its
        ``clear``; ``segment`` is ``all`` for the whole version."""
        labels = {
            "model": result.model,
            "version": result.version,
            "segment": result.segment,
            "metric": result.metric,
        }
        if result.state == "breach":
            where = "" if result.segment == "all" else f" in segment {result.segment}"
            extra = {
                "description": (
                    f"estimated {result.metric} = {result.value:.4g}{where} below threshold "
                    f"{result.threshold:.4g} over {result.n} events"
                )
            }
            self._detect(AlertName.PERFORMANCE, labels, at, holding=True, extra=extra)
        else:
            self._release(AlertName.PERFORMANCE, labels, at)

    def observe_health(
        self,
        *,
        dlq_rate: float | None = None,
        lag: float | None = None,
        redaction_failures: float | None = None,
        model_last_seen: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> None:
        """Take the service's health readings; ``None`` means "not measured this time".

        Parameters
        ----------
        dlq_rate
            Fraction (0..1) of consumed messages sent to the DLQ over the
            caller's health window.
        lag
            Consumer lag summed over the assigned partitions.
        redaction_failures
            Failed analyses in the health window.
        model_last_seen
            Model name -> unix seconds of its last event, for every model this
            replica owns. A model silent for longer than ``model_silence``
            alerts; a model missing from the mapping clears its alert.
        """
        at = self._clock() if now is None else now
        inputs = self.rules.inputs
        if dlq_rate is not None:
            self._level(AlertName.DLQ_RATE, {}, dlq_rate, inputs.dlq_rate, at)
        if lag is not None:
            self._level(AlertName.CONSUMER_LAG, {}, lag, inputs.consumer_lag, at)
        if redaction_failures is not None:
            self._level(
                AlertName.REDACTION_FAILURES, {}, redaction_failures, inputs.redaction_failures, at
            )
        if model_last_seen is not None:
            self._observe_models(model_last_seen, inputs.model_silence, at)

    def _observe_models(self, last_seen: Mapping[str, float], limit: float, at: float) -> None:
        """A model silent for longer than ``limit`` alerts; one no longer listed clears."""
        for model, seen in last_seen.items():
            labels = {"model": model}
            if at - seen > limit:
                extra = {"description": f"last event {at - seen:.0f}s ago"}
                self._detect(AlertName.MODEL_SILENT, labels, at, holding=True, extra=extra)
            else:
                self._release(AlertName.MODEL_SILENT, labels, at)
        for model in self._active_models(AlertName.MODEL_SILENT):
            if model not in last_seen:
                self._release(AlertName.MODEL_SILENT, {"model": model}, at)

    def policy_override(
        self, policy: str, fields: Sequence[str], actor: str, now: float | None = None
    ) -> None:
        """An unsafe policy was accepted with an override: raise the warning alert.

        One alert per policy (``redaction``, ``retention``); a new override
        refreshes it. It carries the overridden field names and who made the
        change, never the policy's values or the override's reason (that is in
        the audit log).
        """
        at = self._clock() if now is None else now
        extra = {
            "description": (
                f"{policy} policy accepted with an override of {', '.join(fields)} by {actor}"
            )
        }
        self._detect(AlertName.POLICY_OVERRIDE, {"policy": policy}, at, extra=extra)

    def input_undecodable(
        self,
        *,
        topic: str,
        partition: int,
        first_offset: int,
        last_offset: int,
        action: str,
        error: str,
        now: float | None = None,
    ) -> None:
        """An input record batch could not be decoded: ``skipped`` or ``stopped``.

        One alert per input partition; it names the offsets and what was done.
        A stopped partition holds its alert (the partition stays paused).
        """
        at = self._clock() if now is None else now
        labels = {"topic": topic, "partition": str(partition)}
        what = (
            "skipped: the range went to the DLQ unprocessed (reason undecodable_batch)"
            if action == "skipped"
            else "partition stopped (kafka.on_undecodable=stop); readiness fails"
        )
        extra = {
            "description": (
                f"offsets {first_offset}..{last_offset} of {topic}[{partition}] "
                f"cannot be decoded ({error}); {what}"
            ),
            "first_offset": str(first_offset),
            "last_offset": str(last_offset),
            "action": action,
        }
        self._detect(AlertName.UNDECODABLE, labels, at, holding=action == "stopped", extra=extra)
