"""Times as answers show them: ISO 8601 in UTC with an explicit offset (RFC 3339)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(seconds: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC with its offset (`2026-12-03T09:06:31.123456+00:00`), or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat()
