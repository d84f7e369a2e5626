"""What replicas tell each other on the membership topic, and the view each builds from it.

Two kinds of record share the compacted topic ``topics.membership``:

- ``replica/<id>``: a :class:`Heartbeat`, the newest per replica (partitions it
  consumes, the config version it applied, a summary of every detector it holds);
  a graceful stop writes a tombstone under the same key.
- ``reset/<request id>``: a :class:`ResetRequest` for a detector held elsewhere;
  its holder resets the detector, then writes a tombstone under the same key.

Every record is signed like a config document (the ``control`` signing keys),
so a record nobody of the group wrote is refused, never listed or executed.
:class:`FleetView` is pure data: it is tested without a broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.signing import RecordSigner, SignatureRefused

REPLICA_PREFIX = "replica/"
RESET_PREFIX = "reset/"


class DetectorSummary(BaseModel):
    """One detector as its holder last published it (no event values: params and counters)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    model: str
    version: str
    feature: str
    type: str
    kind: str
    params: dict[str, Any]
    state: dict[str, float | int | bool]


class Heartbeat(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["heartbeat"] = "heartbeat"
    replica_id: str
    partitions: list[str]
    config_version: int
    detectors: list[DetectorSummary]
    #: Every detector held; ``detectors`` lists at most ``fleet.max_detectors_listed`` of them.
    detector_count: int = 0
    at: float = Field(description="Unix time the heartbeat was written, by its replica's clock.")
    interval_s: float


class ResetRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["reset"] = "reset"
    request_id: str
    detector_id: str
    holder: str
    requested_by: str
    at: float


class Refused(ValueError):
    """A membership record that is unsigned, forged or malformed."""


def encode(
    signer: RecordSigner, key: str, record: BaseModel
) -> tuple[bytes, list[tuple[str, bytes]]]:
    value = record.model_dump_json().encode()
    return value, signer.sign(key.encode(), value)


def decode(
    signer: RecordSigner, key: bytes, value: bytes, headers: Iterable[tuple[str, bytes]]
) -> Heartbeat | ResetRequest:
    """Verify, then parse one record; raises :class:`Refused`."""
    try:
        signer.verify(key, value, headers)
    except SignatureRefused as exc:
        raise Refused(exc.reason) from None
    text = key.decode("utf-8", "replace")
    try:
        if text.startswith(REPLICA_PREFIX):
            beat = Heartbeat.model_validate_json(value)
            if text != REPLICA_PREFIX + beat.replica_id:
                raise Refused("malformed")
            return beat
        if text.startswith(RESET_PREFIX):
            req = ResetRequest.model_validate_json(value)
            if text != RESET_PREFIX + req.request_id:
                raise Refused("malformed")
            return req
    except ValidationError:
        raise Refused("malformed") from None
    raise Refused("malformed")


class Member(BaseModel):
    """One replica of the group, as ``GET /v1/replicas`` lists it."""

    replica_id: str
    partitions: list[str]
    config_version: int
    detectors: int = Field(description="How many detectors it holds.")
    last_heartbeat: float = Field(description="Unix time of its last heartbeat.")
    age_s: float = Field(description="Seconds since that heartbeat, by this replica's clock.")
    stale: bool = Field(description="Not heard from for longer than fleet.stale_after_s.")
    this_replica: bool = Field(description="The replica that answered.")


class FleetView:
    """The newest heartbeat of every replica, as read from the membership topic.

    Examples
    --------
    >>> view = FleetView("a", stale_after_s=15, forget_after_s=3600)
    >>> view.take_heartbeat(Heartbeat(replica_id="b", partitions=["e[0]"], config_version=2,
    ...     detectors=[], at=100.0, interval_s=3))
    >>> [(m.replica_id, m.stale) for m in view.members(now=110.0)]
    [('b', False)]
    >>> [(m.replica_id, m.stale) for m in view.members(now=120.0)]
    [('b', True)]
    """

    def __init__(self, replica_id: str, *, stale_after_s: float, forget_after_s: float) -> None:
        self.replica_id = replica_id
        self.stale_after_s = stale_after_s
        self.forget_after_s = forget_after_s
        self._beats: dict[str, Heartbeat] = {}

    def take_heartbeat(self, beat: Heartbeat) -> None:
        kept = self._beats.get(beat.replica_id)
        if kept is None or beat.at >= kept.at:
            self._beats[beat.replica_id] = beat

    def forget(self, replica_id: str) -> None:
        self._beats.pop(replica_id, None)

    def _live(self, beat: Heartbeat, now: float) -> bool:
        return now - beat.at <= self.stale_after_s

    def members(self, now: float) -> list[Member]:
        found = [
            Member(
                replica_id=b.replica_id,
                partitions=sorted(b.partitions),
                config_version=b.config_version,
                detectors=max(b.detector_count, len(b.detectors)),
                last_heartbeat=b.at,
                age_s=round(max(0.0, now - b.at), 3),
                stale=not self._live(b, now),
                this_replica=b.replica_id == self.replica_id,
            )
            for b in self._beats.values()
            if now - b.at <= self.forget_after_s
        ]
        return sorted(found, key=lambda m: m.replica_id)

    def remote_detectors(self, now: float) -> list[tuple[str, DetectorSummary, float]]:
        """``(holder, summary, reported_at)`` of every detector of the other live replicas."""
        found = [
            (b.replica_id, d, b.at)
            for b in self._beats.values()
            if b.replica_id != self.replica_id and self._live(b, now)
            for d in b.detectors
        ]
        return sorted(found, key=lambda t: (t[1].id, t[0]))

    def holder_of(self, detector_id: str, now: float) -> tuple[str, DetectorSummary, float] | None:
        """The newest live report of ``detector_id`` by another replica."""
        best: tuple[str, DetectorSummary, float] | None = None
        for holder, summary, at in self.remote_detectors(now):
            if summary.id == detector_id and (best is None or at > best[2]):
                best = (holder, summary, at)
        return best
