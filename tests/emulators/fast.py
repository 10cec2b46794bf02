"""Adapter settings for tests against an emulator: tiny polls, and retry waits recorded instead of slept."""

from __future__ import annotations

from typing import Any

from ainfluencer.sidecar.remote.adapters.http_policy import RetryPolicy


def fast_settings(waits: list[float], attempts: int = 3, deadline_s: float = 5.0) -> dict[str, Any]:
    """Keyword arguments for a remote adapter: 10 ms polls, and backoff delays appended to `waits`."""

    async def record(delay: float) -> None:
        waits.append(delay)

    policy = RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=30.0, sleep=record)
    return {"poll_interval_s": 0.01, "deadline_s": deadline_s, "cancel_check_s": 0.01, "retry": policy}
