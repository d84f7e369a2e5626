"""Guardian settings: frozen pydantic-settings over ``config/guardian.yaml``.

Precedence, highest first: environment (``GUARDIAN_`` prefix, ``__`` between
nested keys, e.g. ``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS``), secrets directory,
the YAML file, then the defaults here. Secrets are ``SecretStr`` and masked in
every dump. Settings that do not validate stop start-up with one line that
names the key (:func:`describe_validation_error`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from service.alerting.settings import AlertingSettings
from service.redaction.settings import RedactionSettings
from service.retention.settings import RetentionSettings
from service.validation import describe_lines

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_SIGNING_KEY_BYTES = 16
DEFAULT_CONFIG_FILE = Path("config/guardian.yaml")


def resolve_config_path(path: Path) -> Path:
    """Find a config file: absolute, else relative to the working directory, else to the project."""
    if path.is_absolute() or path.exists():
        return path
    candidate = PROJECT_ROOT / path
    return candidate if candidate.exists() else path


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Section):
    events: str = "inference.events"
    labels: str = "inference.labels"
    sanitized_prefix: str = "inference.sanitized."
    dlq: str = "guardian.dlq"
    alerts: str = "guardian.alerts"
    config: str = "guardian.config"
    audit: str = "guardian.audit"
    state: str = "guardian.state"
    #: compacted; one heartbeat per replica and reset requests (the fleet view, issue 19)
    membership: str = "guardian.membership"
    #: internal: sanitized events and labels keyed by model, read back by the detect stage
    #: (``kafka.repartition``, issue 19)
    repartition: str = "guardian.repartition"
    partitions: int = Field(default=6, ge=1, le=10_000)
    replication_factor: int = Field(default=1, ge=1, le=16)


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "guardian"
    client_id: str = "guardian"
    delivery: Literal["at_least_once", "exactly_once"] = "at_least_once"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    max_batch: int = Field(default=1000, ge=1, le=100_000, description="max records per poll")
    poll_timeout_ms: int = Field(default=200, ge=1, le=60_000)
    max_partition_fetch_bytes: int = Field(default=1_048_576, ge=1024)
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    retry_backoff_s: float = Field(default=1.0, gt=0, le=60)
    shutdown_grace_s: float = Field(default=4.0, ge=0, le=60)
    linger_ms: int = Field(default=5, ge=0, le=1000)
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="none",
        description="codec of the record batches Guardian writes (inputs decode any of them)",
    )
    isolation_level: Literal["read_committed", "read_uncommitted"] = Field(
        default="read_committed",
        description=(
            "how input topics are read in both delivery modes: read_committed never hands "
            "Guardian a record of an aborted (or still open) publisher transaction"
        ),
    )
    on_undecodable: Literal["skip", "stop"] = Field(
        default="skip",
        description=(
            "an input record batch that cannot be decoded after undecodable_retries fetches "
            "(unknown codec, corrupt batch): skip its offset range (DLQ record without payload, "
            "alert) or stop that partition (readiness fails, alert)"
        ),
    )
    undecodable_retries: int = Field(
        default=3,
        ge=0,
        le=100,
        description="fetches of an undecodable batch before on_undecodable applies",
    )
    forward_headers: list[str] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "names of input record headers copied to the sanitized outputs (values scanned "
            "for PII and secrets like metadata); every other input header is dropped"
        ),
    )
    max_batch_bytes: int = Field(
        default=262_144,
        ge=1024,
        le=1_000_000,
        description=(
            "size of the record batches the output producer builds (Kafka's batch.size; "
            "aiokafka's default is 16384): fewer, larger produce requests; keep it below "
            "the broker's message.max.bytes (1 MiB by default)"
        ),
    )
    empty_fetch_backoff_ms: int = Field(
        default=0,
        ge=0,
        le=1000,
        description=(
            "after a fetch that returned no records, wait this long before the next fetch "
            "to that broker (0: never); only for a broker that ignores fetch.max.wait.ms "
            "(the local noida-db, whose profile sets 5), which otherwise gets fetches back "
            "to back"
        ),
    )
    group_offsets_interval_s: float = Field(
        default=15.0,
        ge=0,
        le=3600,
        description=(
            "how often end and committed offsets of the group are read from the broker "
            "(lag in messages and seconds, input rate, stall alerts); 0 turns it off"
        ),
    )
    repartition: Literal["model", "off"] = Field(
        default="model",
        description=(
            "model: sanitized events and labels are written again to topics.repartition keyed "
            "by model name (Guardian's partitioner), and the detect stage reads that topic, so "
            "each model's detectors, windows and checkpoints have one owner whatever the "
            "publishers' keys; off: the detect stage runs on the input partition's replica "
            "(one model on one owner only if every publisher keys by model with murmur2)"
        ),
    )
    repartition_retention_ms: int = Field(
        default=86_400_000,
        ge=60_000,
        description=(
            "retention.ms of topics.repartition: records the group has not read back within "
            "it never reach the detectors (their sanitized outputs are written regardless)"
        ),
    )
    topics: TopicSettings = TopicSettings()

    @field_validator("compression_type", mode="before")
    @classmethod
    def _no_codec(cls, value: Any) -> Any:
        return "none" if value is None else value

    @field_validator("forward_headers")
    @classmethod
    def _header_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not 1 <= len(name) <= 128 or not name.isprintable():
                raise ValueError("a header name is 1 to 128 printable characters")
            if name.lower().startswith("guardian-"):
                raise ValueError(f"{name}: guardian-* headers are Guardian's own, never forwarded")
        return list(dict.fromkeys(value))

    @field_validator("bootstrap_servers")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",") if h.strip()]
        if not hosts or any(":" not in h for h in hosts):
            raise ValueError("expected host:port[,host:port...]")
        return ",".join(hosts)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list, description="CORS is off when empty")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description=(
            "CIDRs of reverse proxies whose X-Forwarded-For is believed; from any other peer "
            "the header is ignored and the peer address is the client"
        ),
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="when set, /metrics needs 'Authorization: Bearer <this>' (or a /v1 token)",
    )
    max_dry_run_bytes: int = Field(
        default=65_536, ge=256, le=10 * 1_048_576, description="largest dry-run body (else 413)"
    )
    dry_run_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="time budget of one redaction dry run (else 503)"
    )
    dry_runs_per_minute: int = Field(
        default=30, ge=1, le=100_000, description="dry runs one token may make per minute (429)"
    )


class TokenSpec(_Section):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["viewer", "operator", "admin"]
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", repr=False)


class AuthSettings(_Section):
    tokens: list[TokenSpec] = Field(default_factory=list)
    tokens_file: Path | None = None
    max_failures_per_minute: int = Field(default=30, ge=1)


class LimitSettings(_Section):
    max_message_bytes: int = Field(default=1_048_576, ge=256, le=100 * 1_048_576)
    max_text_chars: int = Field(default=65_536, ge=1)
    max_features: int = Field(default=256, ge=1)
    max_depth: int = Field(default=32, ge=2, le=512)
    top_k_label_values: int = Field(default=50, ge=1, le=10_000)
    #: Seconds between ``malloc_trim`` calls returning freed heap pages (glibc; 0 = off).
    malloc_trim_interval_s: float = Field(default=60.0, ge=0)


class SchemaSettings(_Section):
    """How the input schema treats what a publisher adds."""

    unknown_fields: Literal["scan", "drop", "reject"] = Field(
        default="scan",
        description=(
            "unknown top-level fields of an event: scan (kept under `extra`, scanned for PII "
            "like metadata), drop (removed), reject (the event goes to the DLQ)"
        ),
    )


class StateSettings(_Section):
    signing_key: SecretStr | None = None
    #: Keys that signed checkpoints before a rotation: still accepted when reading, never used
    #: to sign. Drop one once every checkpoint has been rewritten under the new key.
    previous_signing_keys: list[SecretStr] = Field(default_factory=list)
    checkpoint_interval_s: float = Field(default=10.0, gt=0)


class FleetSettings(_Section):
    """The fleet view: every replica's heartbeat on ``topics.membership``.

    A replica not heard from for ``stale_after_s`` is listed as stale and its
    detectors are no longer listed (their partitions have moved or will move);
    after ``forget_after_s`` it is no longer listed at all.
    """

    heartbeat_interval_s: float = Field(default=3.0, gt=0, le=300)
    stale_after_s: float = Field(default=15.0, gt=0)
    forget_after_s: float = Field(default=3600.0, gt=0)
    #: Detector summaries per heartbeat (about 300 bytes each before gzip); a replica holding
    #: more lists the first ones by id and counts them all: keep heartbeats under the broker's
    #: message size limit (1 MB by default).
    max_detectors_listed: int = Field(default=5000, ge=0, le=100_000)


class ControlSettings(_Section):
    """Signing of the config documents every replica applies (``guardian.config``).

    ``signing_keys`` maps a key id to a key (at least 16 bytes); documents are
    signed with ``active_signing_key`` and accepted under any listed id, so a key
    is rotated by adding the new one everywhere, then making it active, then
    removing the old one. All replicas of a group need the same keys. With none
    configured, each process signs with a random key of its own (one warning):
    fine for one replica, but its changes are then neither shared with other
    replicas nor re-applied after a restart.
    """

    signing_keys: dict[str, SecretStr] = Field(default_factory=dict)
    active_signing_key: str | None = None

    @model_validator(mode="after")
    def _active_key_is_listed(self) -> ControlSettings:
        for key_id, key in self.signing_keys.items():
            if not KEY_ID.fullmatch(key_id):
                raise ValueError("signing_keys: key ids are 1-64 of A-Z a-z 0-9 . _ -")
            if len(key.get_secret_value().encode()) < MIN_SIGNING_KEY_BYTES:
                raise ValueError(
                    f"signing_keys[{key_id!r}]: needs at least {MIN_SIGNING_KEY_BYTES} bytes"
                )
        if self.signing_keys and self.active_signing_key is None:
            raise ValueError("active_signing_key: required when signing_keys is set")
        if self.active_signing_key is not None and self.active_signing_key not in self.signing_keys:
            raise ValueError("active_signing_key: not a key id of signing_keys")
        return self


class DetectorSettings(_Section):
    specs_file: Path = Path("config/detectors.yaml")
    #: Events remembered for joining their ground-truth label, and for how long.
    label_join_max: int = Field(default=100_000, ge=1)
    label_join_ttl_s: float = Field(default=6 * 3600.0, gt=0)


class FairnessSettings(_Section):
    config_file: Path = Path("config/fairness.yaml")


class LogSettings(_Section):
    format: Literal["text", "json"] = Field(
        default="text",
        description="text lines, or one JSON object per line (with the API request id)",
    )


class PerformanceSettings(_Section):
    config_file: Path = Path("config/performance.yaml")


class TextSettings(_Section):
    config_file: Path = Path("config/text.yaml")


class GuardianSettings(BaseSettings):
    """Every setting of one Guardian process."""

    model_config = SettingsConfigDict(
        env_prefix="GUARDIAN_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        yaml_file=None,
    )

    kafka: KafkaSettings = KafkaSettings()
    http: HttpSettings = HttpSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    #: ``schema`` in YAML and ``GUARDIAN_SCHEMA__*`` in the environment (a field named
    #: ``schema`` would shadow pydantic's deprecated ``BaseModel.schema``).
    event_schema: SchemaSettings = Field(
        default=SchemaSettings(), validation_alias=AliasChoices("schema", "guardian_schema")
    )
    state: StateSettings = StateSettings()
    control: ControlSettings = ControlSettings()
    fleet: FleetSettings = FleetSettings()
    redaction: RedactionSettings = RedactionSettings()
    retention: RetentionSettings = RetentionSettings()
    detectors: DetectorSettings = DetectorSettings()
    fairness: FairnessSettings = FairnessSettings()
    performance: PerformanceSettings = PerformanceSettings()
    text: TextSettings = TextSettings()
    alerting: AlertingSettings = AlertingSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log: LogSettings = LogSettings()
    #: Stable name of this replica (e.g. the pod name). Used as the consumer group instance id
    #: (static membership) and in the transactional id; None = dynamic membership.
    replica_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")

    _yaml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            file_secret_settings,
        ]
        yaml_file = settings_cls.model_config.get("yaml_file")
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> GuardianSettings:
        """Build settings from a YAML file (default ``config/guardian.yaml``) and the env."""
        path = resolve_config_path(config_file or DEFAULT_CONFIG_FILE)
        if config_file is not None and not path.exists():
            raise FileNotFoundError(f"config file not found: {config_file}")
        bound: type[GuardianSettings] = type(
            cls.__name__,
            (cls,),
            {"model_config": {**cls.model_config, "yaml_file": path if path.exists() else None}},
        )
        return bound(**overrides)


#: Settings whose YAML key and environment name differ from the field name.
_PUBLIC_NAMES = {"event_schema": "schema"}


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each failing key and its environment variable, never the value."""

    def public(loc: tuple[Any, ...], _located: str) -> str:
        path = [_PUBLIC_NAMES.get(str(p), p) if i == 0 else p for i, p in enumerate(loc)]
        env = "GUARDIAN_" + "__".join(str(p).upper() for p in path if isinstance(p, str))
        return f"{'.'.join(str(p) for p in path)} ({env})"

    return "invalid setting " + "; ".join(describe_lines(exc, relabel=public))


@lru_cache(maxsize=1)
def get_settings() -> GuardianSettings:
    """FastAPI dependency; tests override it with ``app.dependency_overrides``."""
    return GuardianSettings.load()
