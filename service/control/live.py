"""Between a :class:`ConfigDocument` and a running Guardian: baseline, validate, install.

Applying a document is two steps so that a bad document changes nothing:
:func:`prepare` validates every section that differs from what is applied
(building the typed policies), then :func:`install` swaps them in. Sections
that did not change are not touched, so detectors keep their state when only a
policy changes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from detectors.drift import DETECTOR_KINDS
from detectors.fairness.config import FairnessConfig
from detectors.registry import DetectorRegistry, UnknownDetectorError
from detectors.specs import DetectorSpecs
from service.control.document import ConfigDocument, DetectorConfig, utc_now
from service.control.signing import ConfigCodec
from service.control.store import ConfigStore
from service.overrides import UnsafePolicy, check_override
from service.redaction.policy import NER_ENTITIES, RedactionPolicy, RedactionPolicyError
from service.retention import RetentionPolicy, RetentionPolicyError
from service.validation import describe_lines

if TYPE_CHECKING:
    from service.runtime import Guardian

log = logging.getLogger(__name__)


class ConfigInvalid(ValueError):
    """A section of a config change does not validate; ``problems`` name each field or rule."""

    def __init__(self, section: str, problems: list[str]) -> None:
        super().__init__(f"{section}: " + "; ".join(problems))
        self.section = section
        self.problems = problems


def describe(exc: ValidationError) -> list[str]:
    """One line per error naming the field, never the rejected value."""
    return describe_lines(exc)


# -- section codecs ----------------------------------------------------------------------------


def redaction_mapping(policy: RedactionPolicy) -> dict[str, Any]:
    """The policy as plain data; a version that is only the content hash is left out."""
    data = policy.model_dump(mode="json")
    body = {k: v for k, v in data.items() if k != "version"}
    if RedactionPolicy.model_validate(body).version == policy.version:
        return body
    return data


def parse_redaction(data: Mapping[str, Any], guardian: Guardian) -> RedactionPolicy:
    """Validate a redaction policy, including what this process can run (HMAC key, NER model)."""
    try:
        policy = RedactionPolicy.from_mapping(data)
    except RedactionPolicyError as exc:
        raise ConfigInvalid("redaction", [line for line in str(exc).split("\n") if line]) from None
    settings = guardian.settings.redaction
    problems = []
    if policy.uses_hmac and settings.active_hmac_key is None:
        problems.append(
            "the hmac operator needs an HMAC key (redaction.hmac_keys / active_hmac_key)"
        )
    ner = sorted(policy.all_entities & set(NER_ENTITIES))
    if ner and guardian.redactor.ner_model is None:
        problems.append(f"NER entities {ner} need redaction.spacy_model (an installed pipeline)")
    if problems:
        raise ConfigInvalid("redaction", problems)
    try:
        check_override("redaction", policy.unsafe_settings(), policy.override)
    except UnsafePolicy as exc:
        raise ConfigInvalid("redaction", exc.problems) from None
    return policy


def parse_retention(data: Mapping[str, Any], guardian: Guardian) -> RetentionPolicy:
    """Validate a retention policy, including the unsafe settings it may only have overridden."""
    settings = guardian.settings.retention
    try:
        policy = RetentionPolicy.from_mapping(
            dict(data), strict_unreachable=settings.strict_unreachable
        )
    except RetentionPolicyError as exc:
        raise ConfigInvalid("retention", list(exc.problems)) from None
    try:
        check_override("retention", policy.unsafe_settings(settings.max_duration), policy.override)
    except UnsafePolicy as exc:
        raise ConfigInvalid("retention", exc.problems) from None
    return policy


def parse_specs(data: Mapping[str, Any]) -> DetectorSpecs:
    try:
        return DetectorSpecs.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigInvalid("detectors", describe(exc)) from None


def parse_fairness(data: Mapping[str, Any]) -> FairnessConfig:
    try:
        return FairnessConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigInvalid("fairness", describe(exc)) from None


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
        problems = [
            f"params.{line}" if not line.startswith("<root>") else line for line in describe(exc)
        ]
        raise ConfigInvalid("params", problems) from None
    return params.model_dump(mode="json")


# -- baseline, prepare, install ----------------------------------------------------------------


def baseline(guardian: Guardian, origin: str) -> ConfigDocument:
    """Version 0: what this process loaded from its files."""
    return ConfigDocument(
        version=0,
        redaction=redaction_mapping(guardian.redactor.policy),
        retention=guardian.retention_policy.to_mapping(),
        detectors=DetectorConfig(specs=guardian.detectors.specs.model_dump(mode="json")),
        fairness=guardian.fairness.config.model_dump(mode="json"),
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
    patches: dict[str, dict[str, Any]] = field(default_factory=dict)


def prepare(guardian: Guardian, doc: ConfigDocument, applied: ConfigDocument | None) -> Prepared:
    """Validate what ``doc`` changes relative to ``applied``; raises :class:`ConfigInvalid`."""
    out = Prepared(doc, patches=dict(doc.detectors.patches))
    if applied is None or doc.redaction != applied.redaction:
        out.redaction = parse_redaction(doc.redaction, guardian)
    if applied is None or doc.retention != applied.retention:
        out.retention = parse_retention(doc.retention, guardian)
    if applied is None or doc.detectors.specs != applied.detectors.specs:
        out.specs = parse_specs(doc.detectors.specs)
    if doc.fairness is not None and (applied is None or doc.fairness != applied.fairness):
        out.fairness = parse_fairness(doc.fairness)
    return out


async def install(guardian: Guardian, prepared: Prepared) -> None:
    """Swap validated sections into the running Guardian (live, no restart)."""
    if prepared.redaction is not None and prepared.redaction != guardian.redactor.policy:
        guardian.redactor.replace_policy(prepared.redaction)
    if prepared.retention is not None and prepared.retention != guardian.retention_policy:
        guardian.retention_policy = prepared.retention
        guardian.retain.policy = prepared.retention
        guardian.worker.topic_specs = guardian.topic_specs()
        if guardian.worker.status.get("started"):
            # New classes get their sanitized topics; changed durations correct retention.ms.
            await guardian.worker.ensure_topics()
            guardian.report_topic_mismatches()
    if prepared.specs is not None and prepared.specs != guardian.detectors.specs:
        guardian.detectors.replace_specs(prepared.specs)
    if prepared.fairness is not None and prepared.fairness != guardian.fairness.config:
        guardian.fairness.replace_config(prepared.fairness)
    reconcile_patches(guardian.detectors, prepared.patches)


def reconcile_patches(registry: DetectorRegistry, patches: Mapping[str, Mapping[str, Any]]) -> int:
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


def store_for(guardian: Guardian) -> ConfigStore:
    """The config store of one Guardian: baseline from its files, applied to its parts."""
    origin = f"{guardian.settings.replica_id or 'guardian'}-{uuid.uuid4().hex[:8]}"

    async def apply(new: ConfigDocument, applied: ConfigDocument | None) -> None:
        await install(guardian, prepare(guardian, new, applied))

    def reconcile(doc: ConfigDocument) -> None:
        reconcile_patches(guardian.detectors, doc.detectors.patches)

    return ConfigStore(
        guardian.settings.kafka,
        baseline(guardian, origin),
        apply,
        guardian.metrics,
        poll_ms=guardian.settings.kafka.poll_timeout_ms,
        on_idle=reconcile,
        codec=ConfigCodec.from_settings(guardian.settings.control),
    )
