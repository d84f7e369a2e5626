"""Where the ``guardian.alerts`` sink hands its records to the pipeline.

The alert engine and its sinks are built before the pipeline (the pipeline's
detect stage feeds the engine), so the sink cannot be given the pipeline's
queue at construction. It gets this outbox instead; the composition root plugs
the pipeline's queue in as soon as the pipeline exists, before anything runs.
Records are then written with the pipeline's next batch and acknowledged before
its offsets are committed.
"""

from __future__ import annotations

from collections.abc import Callable

#: ``(topic, key, value)`` to queue for the next batch.
Enqueue = Callable[[str, bytes, bytes], None]


class AlertOutbox:
    """``send`` for :class:`~service.alerting.sinks.KafkaAlertSink`, bound to the pipeline later."""

    def __init__(self) -> None:
        self._enqueue: Enqueue | None = None

    def connect(self, enqueue: Enqueue) -> None:
        if self._enqueue is not None:
            raise RuntimeError("the alert outbox is already connected")
        self._enqueue = enqueue

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        if self._enqueue is None:
            raise RuntimeError("the alert outbox is not connected to a pipeline")
        self._enqueue(topic, key, value)
