"""The silences of one replica: created, deleted, listed, matched against alert labels.

Changes are queued for the sinks that mirror silences to Alertmanager
(:class:`~service.alerting.model.SilenceMirror`); the engine hands them over on
each flush.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from service.alerting.model import (
    MAX_SILENCES,
    SILENCE_RETENTION_SECONDS,
    Matcher,
    Silence,
    SilenceChange,
    SilenceNotFound,
)


class SilenceBook:
    """Silences by id, bounded by :data:`MAX_SILENCES`; expired ones are kept an hour."""

    def __init__(self) -> None:
        self._silences: dict[str, Silence] = {}
        self._changes: list[SilenceChange] = []

    def add(
        self,
        matchers: Sequence[Matcher | Mapping[str, Any]],
        ends_at: float,
        created_by: str,
        comment: str,
        starts_at: float | None,
        at: float,
    ) -> Silence:
        """A new silence from ``starts_at`` (default ``at``); see ``AlertEngine.add_silence``."""
        if len(self._silences) >= MAX_SILENCES:
            raise ValueError(f"at most {MAX_SILENCES} silences may exist at once")
        silence = Silence.model_validate(
            {
                "id": uuid.uuid4().hex,
                "matchers": tuple(
                    m if isinstance(m, Matcher) else Matcher.model_validate(m) for m in matchers
                ),
                "starts_at": at if starts_at is None else starts_at,
                "ends_at": ends_at,
                "created_by": created_by,
                "comment": comment,
            }
        )
        self._silences[silence.id] = silence
        self._changes.append(SilenceChange(event="created", silence=silence))
        return silence

    def delete(self, silence_id: str) -> Silence:
        """Raises :class:`SilenceNotFound`."""
        try:
            silence = self._silences.pop(silence_id)
        except KeyError:
            raise SilenceNotFound(silence_id) from None
        self._changes.append(SilenceChange(event="deleted", silence=silence))
        return silence

    def listed(self, include_expired: bool, at: float) -> list[Silence]:
        silences = sorted(self._silences.values(), key=lambda s: s.starts_at)
        return [s for s in silences if include_expired or at < s.ends_at]

    def silenced_by(self, labels: Mapping[str, str], at: float) -> tuple[str, ...]:
        """Ids of the silences muting an alert with these labels at ``at``."""
        if not self._silences:
            return ()
        return tuple(s.id for s in self._silences.values() if s.active(at) and s.matches(labels))

    def forget_expired(self, at: float) -> None:
        stale = [
            sid for sid, s in self._silences.items() if s.ends_at + SILENCE_RETENTION_SECONDS <= at
        ]
        for sid in stale:
            del self._silences[sid]

    def take_changes(self) -> list[SilenceChange]:
        """The changes since the last call, for the mirrors."""
        changes, self._changes = self._changes, []
        return changes
