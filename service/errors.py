"""One root exception; behaviour is data.

Like aiokafka's ``KafkaError.retriable``, every Guardian error says what the
consume loop should do with it: dead-letter the one event (``dlq_reason``), or
stop (no ``dlq_reason``).
"""

from __future__ import annotations


class GuardianError(RuntimeError):
    """Root of every error Guardian raises on purpose."""

    #: Short, bounded reason code used as the ``reason`` metric label and DLQ header prefix.
    dlq_reason: str | None = None


class InvalidEvent(GuardianError):
    """An input message that cannot become a valid event; it goes to the DLQ."""

    dlq_reason = "invalid_schema"

    def __init__(self, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.dlq_reason = reason


class ConfigError(GuardianError):
    """Configuration or policy that does not validate; start-up stops with one line."""
