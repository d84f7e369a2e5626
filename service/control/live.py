"""Between a :class:`ConfigDocument` and the running parts: baseline, validate, install.

Applying a document is two steps so that a bad document changes nothing:
:func:`prepare` validates every section that differs from what is applied
(building the typed policies), then :func:`install` swaps them in. Sections
that did not change are not touched, so detectors keep their state when only a
policy changes. The parts are reached through the small Protocols of
:class:`LiveParts`, never through the whole process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from detectors.drift import DETECTOR_KINDS
from detectors.fairness.config import FairnessConfig
from detectors.performance.config import PerformanceConfig
from detectors.registry import DetectorInfo, UnknownDetectorError
from detectors.specs import DetectorSpecs
from service.control.document import ConfigDocument, DetectorConfig, utc_now
from service.control.policies import ConfigInvalid
from service.control.signing import ConfigCodec
from service.control.store import ConfigStore
from service.metrics import GuardianMetrics
from service.redaction.policy import RedactionPolicy
from service.retention import RetentionPolicy
from service.settings import GuardianSettings
from service.validation import describe_lines

log = logging.getLogger(__name__)

__all__ = [
    "ConfigInvalid",
    "LiveParts",
    "PerformanceConfigHolder",
    "Prepared",
    "baseline",
    "install",
    "parse_performance",
    "prepare",
    "reconcile_patches",
    "redaction_mapping",
    "store_for",
    "validate_patch",
]


class DetectorSpecsHolder(Protocol):
    """The detectors a document configures (:class:`detectors.registry.DetectorRegistry`)."""

    @property
    def specs(self) -> DetectorSpecs: ...

    def replace_specs(self, specs: DetectorSpecs) -> None: ...

    def get(self, detector_id: str) -> DetectorInfo: ...

    def patch_params(self, detector_id: str, partial: Mapping[str, Any]) -> DetectorInfo: ...


class FairnessConfigHolder(Protocol):
    """The fairness monitor (:class:`detectors.fairness.monitor.FairnessMonitor`)."""

    @property
    def config(self) -> FairnessConfig: ...

    def replace_config(self, config: FairnessConfig) -> None: ...


class PerformanceConfigHolder(Protocol):
    """The performance monitor (:class:`detectors.performance.monitor.PerformanceMonitor`)."""

    @property
    def config(self) -> PerformanceConfig: ...

    def replace_config(self, config: PerformanceConfig) -> None: ...


class PolicyInstaller(Protocol):
    """The policies in force, validated and replaced (``service.control.policies.LivePolicies``)."""

    @property
    def redaction(self) -> RedactionPolicy: ...

    @property
    def retention(self) -> RetentionPolicy: ...

    def parse_redaction(self, data: Mapping[str, Any]) -> RedactionPolicy: ...

    def parse_retention(self, data: Mapping[str, Any]) -> RetentionPolicy: ...

    def replace_redaction(self, policy: RedactionPolicy) -> None: ...

    async def replace_retention(self, policy: RetentionPolicy) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveParts:
    """What a config document changes in this process."""

    policies: PolicyInstaller
    detectors: DetectorSpecsHolder
    fairness: FairnessConfigHolder
    performance: PerformanceConfigHolder | None = None


# -- section codecs ----------------------------------------------------------------------------


def redaction_mapping(policy: RedactionPolicy) -> dict[str, Any]:
    """The policy as plain data; a version that is only the content hash is left out."""
    data = policy.model_dump(mode="json")
    body = {k: v for k, v in data.items() if k != "version"}
    if RedactionPolicy.model_validate(body).version == policy.version:
        return body
    return data


def parse_specs(data: Mapping[str, Any]) -> DetectorSpecs:
    try:
        return DetectorSpecs.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigInvalid("detectors", describe_lines(exc)) from None


def parse_fairness(data: Mapping[str, Any]) -> FairnessConfig:
    try:
        return FairnessConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigInvalid("fairness", describe_lines(exc)) from None


def parse_performance(data: Mapping[str, Any]) -> PerformanceConfig:
    try:
        return PerformanceConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigInvalid("performance", describe_lines(exc, prefix="performance")) from None


def validate_patch(
    kind: str, current: Mapping[str, Any], partial: Mapping[str, Any]
) -> dict[str, Any]:
    """Full params after a partial change, validated against the kind's schema."""
    cls = DETECTOR_KINDS.get(kind)
    if cls is None:
        raise ConfigInvalid("params", [f"unknown detector kind {kind!r}"])
    try:
        params = cls.Params.model_validate({**dict(current), **dict(partial)})
    except ValidationError as exc:
        raise ConfigInvalid("params", describe_lines(exc, prefix="params")) from None
    return params.model_dump(mode="json")


# -- baseline, prepare, install ----------------------------------------------------------------


def baseline(parts: LiveParts, origin: str) -> ConfigDocument:
    """Version 0: what this process loaded from its files."""
    return ConfigDocument(
        version=0,
        redaction=redaction_mapping(parts.policies.redaction),
        retention=parts.policies.retention.to_mapping(),
        detectors=DetectorConfig(specs=parts.detectors.specs.model_dump(mode="json")),
        fairness=parts.fairness.config.model_dump(mode="json"),
        performance=(
            None if parts.performance is None else parts.performance.config.model_dump(mode="json")
        ),
        updated_by="<files>",
        updated_at=utc_now(),
        origin=origin,
        comment="loaded from this replica's config files",
    )


@dataclass(slots=True)
class Prepared:
    """Validated sections of a document that differ from the applied one."""

    document: ConfigDocument
    redaction: RedactionPolicy | None = None
    retention: RetentionPolicy | None = None
    specs: DetectorSpecs | None = None
    fairness: FairnessConfig | None = None
    performance: PerformanceConfig | None = None
    patches: dict[str, dict[str, Any]] = field(default_factory=dict)


def prepare(
    policies: PolicyInstaller, doc: ConfigDocument, applied: ConfigDocument | None
) -> Prepared:
    """Validate what ``doc`` changes relative to ``applied``; raises :class:`ConfigInvalid`."""
    out = Prepared(doc, patches=dict(doc.detectors.patches))
    if applied is None or doc.redaction != applied.redaction:
        out.redaction = policies.parse_redaction(doc.redaction)
    if applied is None or doc.retention != applied.retention:
        out.retention = policies.parse_retention(doc.retention)
    if applied is None or doc.detectors.specs != applied.detectors.specs:
        out.specs = parse_specs(doc.detectors.specs)
    if doc.fairness is not None and (applied is None or doc.fairness != applied.fairness):
        out.fairness = parse_fairness(doc.fairness)
    if doc.performance is not None and (applied is None or doc.performance != applied.performance):
        out.performance = parse_performance(doc.performance)
    return out


async def install(parts: LiveParts, prepared: Prepared) -> None:
    """Swap validated sections into the running parts (live, no restart).

    A retention change reaches the retain stage and the owned topics through
    :meth:`LivePolicies.on_retention`.
    """
    policies = parts.policies
    if prepared.redaction is not None and prepared.redaction != policies.redaction:
        policies.replace_redaction(prepared.redaction)
    if prepared.retention is not None and prepared.retention != policies.retention:
        await policies.replace_retention(prepared.retention)
    if prepared.specs is not None and prepared.specs != parts.detectors.specs:
        parts.detectors.replace_specs(prepared.specs)
    if prepared.fairness is not None and prepared.fairness != parts.fairness.config:
        parts.fairness.replace_config(prepared.fairness)
    perf = parts.performance
    if (
        perf is not None
        and prepared.performance is not None
        and prepared.performance != perf.config
    ):
        perf.replace_config(prepared.performance)  # windows and calibrators kept
    reconcile_patches(parts.detectors, prepared.patches)


def reconcile_patches(
    registry: DetectorSpecsHolder, patches: Mapping[str, Mapping[str, Any]]
) -> int:
    """Give every detector of this replica that has a patch the patched params.

    Idempotent: a detector whose params already agree is left alone (a patch
    restarts a detector). Detectors created after a patch (a new stream, a
    partition moved here) get it on the next call. Returns how many changed.
    """
    changed = 0
    for detector_id, partial in patches.items():
        try:
            info = registry.get(detector_id)
        except UnknownDetectorError:
            continue
        if all(info.params.get(k) == v for k, v in partial.items()):
            continue
        try:
            registry.patch_params(detector_id, partial)
        except ValidationError:
            log.warning("config: patch of detector %s no longer validates; skipped", detector_id)
            continue
        changed += 1
    return changed


def store_for(
    settings: GuardianSettings, parts: LiveParts, metrics: GuardianMetrics
) -> ConfigStore:
    """The config store of one process: baseline from its files, applied to its parts."""
    origin = f"{settings.replica_id or 'guardian'}-{uuid.uuid4().hex[:8]}"

    async def apply(new: ConfigDocument, applied: ConfigDocument | None) -> None:
        await install(parts, prepare(parts.policies, new, applied))

    def reconcile(doc: ConfigDocument) -> None:
        reconcile_patches(parts.detectors, doc.detectors.patches)

    return ConfigStore(
        settings.kafka,
        baseline(parts, origin),
        apply,
        metrics,
        poll_ms=settings.kafka.poll_timeout_ms,
        on_idle=reconcile,
        codec=ConfigCodec.from_settings(settings.control),
    )
