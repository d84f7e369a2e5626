"""Durations and instants as the retention policy and the retention tags write them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from service.retention.errors import EventTimestampError

# --------------------------------------------------------------------------- durations

_UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_DURATION_FULL = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")


def parse_duration(value: object) -> timedelta | None:
    """Parse a class duration such as ``"7d"``, ``"12h"``, ``"1d12h"`` or ``None`` (no expiry).

    Units are ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``. A bare number is
    refused: whether ``30`` means seconds or days is exactly the ambiguity that
    deletes data too early. Durations must be positive, because Kafka treats
    ``retention.ms`` of 0 as "delete at once".

    Examples
    --------
    >>> parse_duration("1d12h")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if not _DURATION_FULL.fullmatch(text):
            raise ValueError(
                "duration is not <number><unit>[...] with units ms, s, m, h, d, w "
                "(e.g. '7d', '12h', '1d12h'), or null for no expiry"
            )
        millis = sum(
            int(n) * round(_UNIT_SECONDS[u] * 1000) for n, u in _DURATION_PART.findall(text)
        )
        duration = timedelta(milliseconds=millis)
    else:
        raise ValueError(
            f"duration must be a string such as '7d' or null, not {type(value).__name__}"
        )
    if duration <= timedelta(0):
        raise ValueError("duration must be positive (use null for no expiry)")
    if duration % timedelta(milliseconds=1):
        raise ValueError("duration must be a whole number of milliseconds")
    return duration


def format_duration(duration: timedelta | None) -> str | None:
    """Render a duration in the policy's own format, in the largest exact unit.

    Examples
    --------
    >>> format_duration(timedelta(days=7)), format_duration(timedelta(hours=36))
    ('7d', '36h')
    """
    if duration is None:
        return None
    millis = duration // timedelta(milliseconds=1)
    for unit in ("d", "h", "m", "s"):
        unit_ms = round(_UNIT_SECONDS[unit] * 1000)
        if millis % unit_ms == 0:
            return f"{millis // unit_ms}{unit}"
    return f"{millis}ms"


def duration_ms(duration: timedelta | None) -> int:
    """Kafka ``retention.ms`` for a duration: milliseconds, or ``-1`` for no expiry."""
    if duration is None:
        return -1
    return duration // timedelta(milliseconds=1)


# --------------------------------------------------------------------------- timestamps


def parse_timestamp(value: object) -> datetime:
    """Parse an event's ISO-8601 ``timestamp`` into an aware UTC datetime.

    A timestamp without an offset is taken as UTC, which is what the event
    schema documents. The error never repeats the value.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise EventTimestampError("event timestamp is not ISO-8601") from None
    else:
        raise EventTimestampError("event has no string timestamp")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """ISO-8601 in UTC with ``Z``; milliseconds unless the instant needs microseconds.

    Keeping every digit the input had means ``expires_at - timestamp`` equals
    the class duration exactly, which is what the topic's ``retention.ms`` says.

    Examples
    --------
    >>> format_instant(datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC))
    '2026-11-30T12:00:00.123Z'
    """
    utc = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
