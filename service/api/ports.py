"""What the control plane needs from the running service, as narrow ports.

Routes never see the whole :class:`~service.runtime.Guardian`: each takes the
ports it uses through ``Depends(...)``, so a test builds the app with fakes of
these Protocols (or swaps one with ``app.dependency_overrides``) and needs no
broker. The composition root (:mod:`service.composition`) hands the real parts
in; each Protocol is satisfied by an existing class, named in its docstring.

A new router that needs something else adds a Protocol and a field here, and a
dependency function like the ones at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Request

if TYPE_CHECKING:
    from detectors.performance.config import PerformanceConfig
    from detectors.registry import DetectorInfo
    from service.alerting.model import Alert, AlertFilter, Matcher, Silence
    from service.api.auth import Principal
    from service.control.audit import AuditIndex, AuditRecord
    from service.control.document import ConfigDocument
    from service.fleet.records import DetectorSummary, Member
    from service.overrides import UnsafeSetting
    from service.redaction.policy import RedactionPolicy
    from service.redaction.redactor import RedactionOutcome
    from service.retention import RetentionPolicy


class DetectorAdmin(Protocol):
    """This replica's detectors (:class:`detectors.registry.DetectorRegistry`)."""

    def list_detectors(
        self,
        model: str | None = None,
        version: str | None = None,
        feature: str | None = None,
        kind: str | None = None,
    ) -> list[DetectorInfo]: ...

    def get(self, detector_id: str) -> DetectorInfo: ...

    def reset(self, detector_id: str) -> DetectorInfo: ...


class FleetPort(Protocol):
    """The group as this replica sees it on the membership topic
    (:class:`service.fleet.membership.Membership`)."""

    @property
    def replica_id(self) -> str: ...

    def members(self) -> list[Member]: ...

    def remote_detectors(self) -> list[tuple[str, DetectorSummary, float]]: ...

    def holder_of(self, detector_id: str) -> tuple[str, DetectorSummary, float] | None: ...

    async def request_reset(self, detector_id: str, holder: str) -> None: ...


class ModelCatalog(Protocol):
    """Models and versions this replica has seen (:class:`service.pipeline.detect.DetectStage`)."""

    @property
    def versions(self) -> Mapping[str, AbstractSet[str]]: ...


class PolicyHolder(Protocol):
    """The policies in force and how this process validates new ones
    (:class:`service.control.policies.LivePolicies`)."""

    @property
    def redaction(self) -> RedactionPolicy: ...

    @property
    def retention(self) -> RetentionPolicy: ...

    @property
    def sanitized_prefix(self) -> str: ...

    def parse_redaction(self, data: Mapping[str, Any]) -> RedactionPolicy: ...

    def parse_retention(self, data: Mapping[str, Any]) -> RetentionPolicy: ...

    def retention_unsafe(self, policy: RetentionPolicy) -> list[UnsafeSetting]: ...


class ConfigStorePort(Protocol):
    """The versioned shared config and its audit log (``service.control.store.ConfigStore``)."""

    @property
    def current(self) -> ConfigDocument: ...

    @property
    def history(self) -> Mapping[int, ConfigDocument]: ...

    @property
    def audit(self) -> AuditIndex: ...

    async def commit(
        self,
        actor: str,
        change: Callable[[ConfigDocument], dict[str, Any]],
        comment: str = "",
    ) -> tuple[ConfigDocument, ConfigDocument]: ...

    async def write_audit(self, record: AuditRecord) -> None: ...


class AlertAdmin(Protocol):
    """Alerts and silences (:class:`service.alerting.engine.AlertEngine`)."""

    def list_alerts(self, filters: AlertFilter | None = None) -> list[Alert]: ...

    def get_alert(self, alert_id: str) -> Alert: ...

    def ack(self, alert_id: str, who: str) -> Alert: ...

    def list_silences(self, include_expired: bool = False) -> list[Silence]: ...

    def add_silence(
        self,
        matchers: Sequence[Matcher | Mapping[str, Any]],
        ends_at: float,
        created_by: str,
        comment: str = "",
        starts_at: float | None = None,
    ) -> Silence: ...

    def delete_silence(self, silence_id: str) -> Silence: ...

    def policy_override(self, policy: str, fields: Sequence[str], actor: str) -> None: ...


class Readiness(Protocol):
    """Whether this replica consumes (:class:`service.pipeline.worker.PipelineWorker`)."""

    @property
    def ready(self) -> bool: ...

    @property
    def status(self) -> Mapping[str, Any]: ...


class DryRunner(Protocol):
    """Redaction dry runs, isolated from the pipeline (:class:`service.api.dry_run.DryRuns`)."""

    def admit(self, principal: Principal) -> None: ...

    async def redact(self, policy: RedactionPolicy, event: dict[str, Any]) -> RedactionOutcome: ...


class PerformanceViews(Protocol):
    """Estimated and realized performance of the model versions this replica holds."""

    @property
    def config(self) -> PerformanceConfig: ...

    def snapshot(self, model: str, version: str | None = None) -> dict[str, Any] | None: ...


class Backtester(Protocol):
    """Replays a model's sanitized events through detector specs, off the pipeline."""

    async def backtest(
        self, model: str, start_ms: int, specs: Any | None, max_events: int, timeout_s: float
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ApiPorts:
    """Everything the routers may touch."""

    detectors: DetectorAdmin
    models: ModelCatalog
    policies: PolicyHolder
    store: ConfigStorePort
    alerts: AlertAdmin
    readiness: Readiness
    dry_runs: DryRunner
    #: Counts an accepted override of unsafe policy settings (``guardian_policy_overrides_total``).
    count_override: Callable[[], None]
    #: ``POST /v1/detectors/backtest``; None where no Kafka is behind the API (503).
    backtests: Backtester | None = None
    #: ``GET /v1/models/{name}/performance``; None: no performance monitor (404).
    performance: PerformanceViews | None = None
    #: The other replicas and their detectors; None: this replica answers for itself only.
    fleet: FleetPort | None = None


def ports_of(request: Request) -> ApiPorts:
    ports: ApiPorts = request.app.state.ports
    return ports


# FastAPI dependencies, one per port: ``Annotated[DetectorAdmin, Depends(detector_admin)]``.


def detector_admin(request: Request) -> DetectorAdmin:
    return ports_of(request).detectors


def fleet_port(request: Request) -> FleetPort | None:
    return ports_of(request).fleet


def model_catalog(request: Request) -> ModelCatalog:
    return ports_of(request).models


def policy_holder(request: Request) -> PolicyHolder:
    return ports_of(request).policies


def config_store(request: Request) -> ConfigStorePort:
    return ports_of(request).store


def alert_admin(request: Request) -> AlertAdmin:
    return ports_of(request).alerts


def readiness(request: Request) -> Readiness:
    return ports_of(request).readiness


def dry_runner(request: Request) -> DryRunner:
    return ports_of(request).dry_runs


def override_counter(request: Request) -> Callable[[], None]:
    return ports_of(request).count_override


def backtester(request: Request) -> Backtester | None:
    return ports_of(request).backtests


def performance_views(request: Request) -> PerformanceViews | None:
    return ports_of(request).performance
