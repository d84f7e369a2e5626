"""Mirror silences made through Guardian's API to Alertmanager (API v2).

A silence made with ``POST /v1/silences`` mutes Guardian's own notifications.
Alertmanager also receives the Prometheus rules' alerts (fairness, service
health), which that silence would not reach; without a copy in Alertmanager a
silenced incident keeps notifying through the other path. So each silence is
created in Alertmanager with the same matchers and times (both expire
together) and deleted there when it is deleted here.

Delivery is one attempt per engine flush (every ``tick_interval_seconds``): a
silence that Alertmanager did not take stays pending and is tried again on
the next flush until it ends, so an Alertmanager outage delays the copy but
never blocks the alert loop. A silence Alertmanager rejects (4xx, e.g. a
regex Go does not accept) is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from service.alerting.model import Silence, SilenceChange, rfc3339

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics

logger = logging.getLogger(__name__)

SINK = "alertmanager_silences"


def silence_payload(silence: Silence) -> dict[str, Any]:
    """Alertmanager's ``postableSilence`` for one Guardian silence."""
    note = f"Guardian silence {silence.id}"
    return {
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in silence.matchers
        ],
        "startsAt": rfc3339(silence.starts_at),
        "endsAt": rfc3339(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": f"{silence.comment} ({note})" if silence.comment else note,
    }


class AlertmanagerSilences:
    """Keeps Alertmanager's copies of Guardian's silences.

    Parameters
    ----------
    base_url
        Alertmanager's root, e.g. ``http://127.0.0.1:9093``.
    """

    def __init__(self, base_url: str, metrics: GuardianMetrics | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._metrics = metrics
        #: Guardian silence id -> silence not yet in Alertmanager.
        self._pending: dict[str, Silence] = {}
        #: Guardian silence id -> (Alertmanager silence id, ends_at).
        self._mirrored: dict[str, tuple[str, float]] = {}
        #: Alertmanager silence id -> ends_at, still to expire there.
        self._to_delete: dict[str, float] = {}

    def alertmanager_id(self, silence_id: str) -> str | None:
        """The id Alertmanager gave the copy of a Guardian silence, once it has one."""
        mirrored = self._mirrored.get(silence_id)
        return mirrored[0] if mirrored else None

    async def sync(
        self, client: httpx.AsyncClient, changes: Sequence[SilenceChange], now: float
    ) -> None:
        """Apply ``changes``, then try what is still pending. Never raises."""
        for change in changes:
            sid = change.silence.id
            if change.event == "created":
                self._pending[sid] = change.silence
                continue
            self._pending.pop(sid, None)
            mirrored = self._mirrored.pop(sid, None)
            if mirrored is not None:
                self._to_delete[mirrored[0]] = mirrored[1]
        for sid, (_, ends_at) in list(self._mirrored.items()):
            if ends_at <= now:  # Alertmanager expired its copy at the same moment
                del self._mirrored[sid]
        for sid, silence in list(self._pending.items()):
            if silence.ends_at <= now:
                del self._pending[sid]
                continue
            outcome, am_id = await self._create(client, silence)
            if outcome != "retry":
                del self._pending[sid]
            if am_id is not None:
                self._mirrored[sid] = (am_id, silence.ends_at)
        for am_id, ends_at in list(self._to_delete.items()):
            if ends_at <= now or await self._delete(client, am_id):
                del self._to_delete[am_id]

    async def _create(self, client: httpx.AsyncClient, silence: Silence) -> tuple[str, str | None]:
        """("sent", id), ("rejected", None) or ("retry", None)."""
        response = await self._request(
            client, "POST", "/api/v2/silences", orjson.dumps(silence_payload(silence))
        )
        if response is None:
            return "retry", None
        if response.is_success:
            try:
                am_id = str(response.json()["silenceID"])
            except (ValueError, KeyError, TypeError):
                logger.error("Alertmanager answered a silence without silenceID")
                self._count("failed")
                return "rejected", None
            self._count("sent")
            return "sent", am_id
        if 400 <= response.status_code < 500:
            logger.error(
                "Alertmanager rejected silence %s (HTTP %d)", silence.id, response.status_code
            )
            self._count("rejected")
            return "rejected", None
        self._count("failed")
        return "retry", None

    async def _delete(self, client: httpx.AsyncClient, am_id: str) -> bool:
        """True when Alertmanager no longer holds an active copy."""
        response = await self._request(client, "DELETE", f"/api/v2/silence/{am_id}", None)
        if response is None:
            return False
        if response.is_success or response.status_code == 404:
            self._count("sent")
            return True
        self._count("failed")
        return False

    async def _request(
        self, client: httpx.AsyncClient, method: str, path: str, content: bytes | None
    ) -> httpx.Response | None:
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            return await client.request(method, self._base + path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("silence sync with Alertmanager failed: %s", type(exc).__name__)
            self._count("failed")
            return None

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.alert_deliveries.labels(SINK, outcome).inc()
