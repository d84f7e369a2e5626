"""Where alert state changes go: the ``guardian.alerts`` topic, Alertmanager, a webhook.

Every sink follows the engine's :class:`~service.alerting.model.AlertSink`
protocol and never raises into its caller: a failed delivery is logged,
counted in ``guardian_alert_deliveries_total{sink,outcome}`` and given up
after the configured retries, because an alerting outage must not stop the
pipeline. Payloads hold identifiers, severities and aggregate figures only.

Outcomes counted: ``sent``, ``retried`` (one per retry), ``rejected`` (the
receiver answered 4xx: retrying cannot help), ``failed`` (retries exhausted
or an unexpected error).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from service.alerting.am_silences import AlertmanagerSilences
from service.alerting.model import Alert, AlertChange, AlertSink, SilenceChange, rfc3339
from service.alerting.settings import AlertingSettings
from service.backoff import Backoff

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics

logger = logging.getLogger(__name__)

#: ``send(topic, key, value)``: the caller's Kafka producer (plain or transactional).
SendFn = Callable[[str, bytes, bytes], Awaitable[object]]

_RETRIABLE_STATUS = frozenset({408, 425, 429})


def _count(metrics: GuardianMetrics | None, sink: str, outcome: str, n: int = 1) -> None:
    if metrics is not None and n:
        metrics.alert_deliveries.labels(sink, outcome).inc(n)


class KafkaAlertSink:
    """Writes every change as JSON to ``guardian.alerts``, keyed by alert fingerprint.

    The key keeps one alert's history in one partition, in order. Silenced
    alerts are written too (with ``silenced_by``): the topic is the record,
    silences only hold back notifications.

    Parameters
    ----------
    send
        Awaitable ``send(topic, key, value)``; the pipeline wires its producer here
        (in exactly-once mode a transactional one).
    """

    name = "kafka"

    def __init__(
        self, send: SendFn, topic: str = "guardian.alerts", metrics: GuardianMetrics | None = None
    ) -> None:
        self._send = send
        self.topic = topic
        self._metrics = metrics

    async def start(self) -> None:
        return None

    async def deliver(self, changes: Sequence[AlertChange]) -> None:
        for change in changes:
            try:
                await self._send(
                    self.topic,
                    change.alert.fingerprint.encode("ascii"),
                    orjson.dumps(change.as_json()),
                )
            except Exception:
                logger.exception("alert %s not written to %s", change.alert.id, self.topic)
                _count(self._metrics, self.name, "failed")
            else:
                _count(self._metrics, self.name, "sent")

    async def refresh(self, firing: Sequence[Alert], now: float) -> None:
        return None

    async def close(self) -> None:
        return None


class _HttpSink:
    """POST JSON with retries (capped exponential backoff, full jitter); never raises."""

    name = "http"

    def __init__(
        self,
        url: str,
        *,
        metrics: GuardianMetrics | None = None,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 10.0,
        timeout_seconds: float = 5.0,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self._metrics = metrics
        self._retries = retries
        # Full jitter: replicas that lost the receiver together do not retry in lock step.
        self._delays = backoff or Backoff(backoff_seconds, backoff_max_seconds)
        self._timeout = timeout_seconds
        self._headers = headers or {}
        self._client = client
        self._owns_client = client is None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def _post(self, body: Any) -> bool:
        """Deliver one request; True when the receiver accepted it."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        content = orjson.dumps(body)
        headers = {"Content-Type": "application/json", **self._headers}
        for attempt in range(self._retries + 1):
            if attempt:
                _count(self._metrics, self.name, "retried")
                await asyncio.sleep(self._delays.delay(attempt - 1))
            try:
                response = await self._client.post(self.url, content=content, headers=headers)
            except httpx.HTTPError as exc:
                logger.warning(
                    "alert delivery to %s failed (attempt %d): %s",
                    self.name,
                    attempt + 1,
                    type(exc).__name__,
                )
                continue
            except Exception:
                logger.exception("alert delivery to %s failed unexpectedly", self.name)
                _count(self._metrics, self.name, "failed")
                return False
            if response.is_success:
                _count(self._metrics, self.name, "sent")
                return True
            status = response.status_code
            if 400 <= status < 500 and status not in _RETRIABLE_STATUS:
                logger.error("%s rejected alerts with HTTP %d", self.name, status)
                _count(self._metrics, self.name, "rejected")
                return False
            logger.warning("%s answered HTTP %d (attempt %d)", self.name, status, attempt + 1)
        _count(self._metrics, self.name, "failed")
        return False


class AlertmanagerSink(_HttpSink):
    """Pushes alerts to Alertmanager's API v2 (``POST /api/v2/alerts``).

    Alertmanager forgets a firing alert once its ``endsAt`` passes, so firing
    alerts are sent with ``endsAt`` four resend intervals ahead and resent
    every ``resend_interval`` seconds (as Prometheus does); a resolution is
    sent with ``endsAt`` set to when it resolved. Silenced alerts are not sent
    while they fire; their resolution is (harmless if never seen).

    Alerts named in ``exclude`` are never pushed: a Prometheus rule is their
    Alertmanager form (one source per alert). Silences made through Guardian
    are copied to Alertmanager (:mod:`service.alerting.am_silences`) unless
    ``mirror_silences`` is off.

    Parameters
    ----------
    base_url
        Alertmanager's root, e.g. ``http://127.0.0.1:9093``.
    generator_url
        Guardian's external URL; each alert links to ``<it>/v1/alerts/<id>``.
    """

    name = "alertmanager"

    def __init__(
        self,
        base_url: str,
        *,
        resend_interval: float = 60.0,
        generator_url: str | None = None,
        exclude: Collection[str] = (),
        mirror_silences: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url.rstrip("/") + "/api/v2/alerts", **kwargs)
        self.resend_interval = resend_interval
        self._generator_url = generator_url.rstrip("/") if generator_url else None
        self.exclude = frozenset(exclude)
        self.silences = (
            AlertmanagerSilences(base_url, kwargs.get("metrics")) if mirror_silences else None
        )
        #: alert id -> when it was last sent firing; only alerts firing now are kept.
        self._last_sent: dict[str, float] = {}

    async def mirror(self, changes: Sequence[SilenceChange], now: float) -> None:
        """Create and delete Guardian's silences in Alertmanager (one attempt per flush)."""
        if self.silences is None:
            return
        if self._client is None:
            await self.start()
        assert self._client is not None
        await self.silences.sync(self._client, changes, now)

    def payload(self, alert: Alert, now: float) -> dict[str, Any]:
        """One element of Alertmanager's ``postableAlerts``."""
        if alert.ends_at is not None:
            ends_at = alert.ends_at
        else:
            ends_at = now + 4 * self.resend_interval
        item: dict[str, Any] = {
            "labels": dict(alert.labels),
            "annotations": {k: v for k, v in alert.annotations.items() if v},
            "startsAt": rfc3339(
                alert.starts_at if alert.starts_at is not None else alert.active_at
            ),
            "endsAt": rfc3339(ends_at),
        }
        if self._generator_url:
            item["generatorURL"] = f"{self._generator_url}/v1/alerts/{alert.id}"
        return item

    async def deliver(self, changes: Sequence[AlertChange]) -> None:
        items = []
        for change in changes:
            alert = change.alert
            if alert.alertname in self.exclude:
                continue
            if change.event == "resolved":
                self._last_sent.pop(alert.id, None)
                items.append(self.payload(alert, change.at))
            elif change.event == "firing" and not alert.silenced:
                self._last_sent[alert.id] = change.at
                items.append(self.payload(alert, change.at))
        if items:
            await self._post(items)

    async def refresh(self, firing: Sequence[Alert], now: float) -> None:
        firing = [a for a in firing if a.alertname not in self.exclude]
        current = {a.id for a in firing}
        for stale in self._last_sent.keys() - current:
            del self._last_sent[stale]
        due = [
            a
            for a in firing
            if not a.silenced
            and now - self._last_sent.get(a.id, float("-inf")) >= self.resend_interval
        ]
        if not due:
            return
        for alert in due:
            self._last_sent[alert.id] = now
        await self._post([self.payload(a, now) for a in due])


class WebhookSink(_HttpSink):
    """Posts changes as generic JSON (``{"source", "changes": [...]}``), bearer token optional.

    Silenced firing alerts are held back; resolutions and acknowledgements are sent.
    """

    name = "webhook"

    def __init__(self, url: str, *, token: str | None = None, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        super().__init__(url, headers=headers, **kwargs)

    async def deliver(self, changes: Sequence[AlertChange]) -> None:
        body = [c.as_json() for c in changes if not (c.event == "firing" and c.alert.silenced)]
        if body:
            await self._post({"source": "guardian", "version": 1, "changes": body})

    async def refresh(self, firing: Sequence[Alert], now: float) -> None:
        return None


def build_sinks(
    settings: AlertingSettings,
    metrics: GuardianMetrics | None = None,
    send: SendFn | None = None,
    topic: str = "guardian.alerts",
    not_pushed: Collection[str] = (),
) -> list[AlertSink]:
    """The sinks the settings ask for: ``topic`` (when ``send`` is given), Alertmanager, webhook.

    ``not_pushed``: alert names Alertmanager gets from a Prometheus rule instead
    (rules with ``alertmanager: false``).
    """
    http: dict[str, Any] = {
        "metrics": metrics,
        "retries": settings.retries,
        "backoff_seconds": settings.backoff_seconds,
        "backoff_max_seconds": settings.backoff_max_seconds,
        "timeout_seconds": settings.timeout_seconds,
    }
    sinks: list[AlertSink] = []
    if send is not None:
        sinks.append(KafkaAlertSink(send, topic, metrics))
    if settings.alertmanager_url is not None:
        sinks.append(
            AlertmanagerSink(
                str(settings.alertmanager_url),
                resend_interval=settings.resend_interval_seconds,
                generator_url=str(settings.generator_url) if settings.generator_url else None,
                exclude=not_pushed,
                mirror_silences=settings.mirror_silences,
                **http,
            )
        )
    if settings.webhook_url is not None:
        token = settings.webhook_token.get_secret_value() if settings.webhook_token else None
        sinks.append(WebhookSink(str(settings.webhook_url), token=token, **http))
    return sinks
