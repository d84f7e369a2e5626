"""Errors raised by the retention stage.

They carry behaviour as data (``dlq_reason``) like aiokafka's ``KafkaError``,
so the retain stage dead-letters an event without a list of ``except`` clauses.
They subclass ``ValueError``: the policy's own validation raises them, and callers
that load a policy catch ``ValueError``.
"""

from __future__ import annotations


class RetentionError(ValueError):
    """Root of retention errors; the same input fails again, so the event is dead-lettered."""

    dlq_reason = "retention"


class RetentionPolicyError(RetentionError):
    """A retention policy does not validate.

    Parameters
    ----------
    problems
        One line per problem, each naming where it is (``rules[2] 'pii-short': ...``).
    """

    dlq_reason = "retention_policy"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid retention policy: " + "; ".join(self.problems))


class EventTimestampError(RetentionError):
    """An event's ``timestamp`` is missing, not ISO-8601, or its expiry is not representable.

    The message names the problem, never the value (it may come from a publisher
    that put something personal there).
    """

    dlq_reason = "invalid_timestamp"
