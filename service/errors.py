"""One root exception; behaviour is data.

Like aiokafka's ``KafkaError.retriable``, every Guardian error says what the
consume loop should do with it: retry the batch (``retriable``), dead-letter the
one event (``dlq_reason``), or stop the process (neither).
"""

from __future__ import annotations


class GuardianError(RuntimeError):
    """Root of every error Guardian raises on purpose."""

    retriable: bool = False
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


class RedactionFailed(GuardianError):
    """Analysis failed or timed out: fail closed, the event goes to the DLQ scrubbed."""

    dlq_reason = "redaction_failed"


class OutputFailed(GuardianError):
    """Writing a batch's outputs failed; the batch is retried from its first offset."""

    retriable = True


class ConfigError(GuardianError):
    """Configuration or policy that does not validate; start-up stops with one line."""
