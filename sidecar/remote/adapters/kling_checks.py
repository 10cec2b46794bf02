"""Kling's documented request limits, checked before anything is sent (so nothing is paid for a refusal)."""

from __future__ import annotations

from typing import Any

from ...core.errors import AInfError, ErrorCode


def is_url(value: Any) -> bool:
    """True for an http(s) URL string."""
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def bad_text(value: Any, limit: int, required: bool = False) -> bool:
    """True when a text field is not a string, too long, or empty though required."""
    return not isinstance(value, str) or len(value) > limit or (required and not value.strip())


def bad_number(value: Any, low: float, high: float) -> bool:
    """True when an optional number is given but is not a number within [low, high]."""
    if value is None:
        return False
    return not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high


def refuse(problems: dict[str, Any], rule: str) -> None:
    """VALIDATION_ERROR naming every field that breaks Kling's documented limits (before anything is paid)."""
    bad = sorted(name for name, broken in problems.items() if broken)
    if bad:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Kling would refuse: {', '.join(bad)}. Allowed: {rule}.",
            detail={"engine": "provider_kling", "fields": bad},
        )


def needs_url(name: str, what: str) -> AInfError:
    """VALIDATION_ERROR: Kling takes this input only as a public http(s) URL."""
    return AInfError(
        ErrorCode.VALIDATION_ERROR,
        f"Kling needs {what} as a public http(s) URL (`{name}`); it does not take local files here.",
        remediation=["Host the file at a public URL (e.g. the provider upload step) and pass that URL."],
        detail={"engine": "provider_kling", "input": name, "needs": "public URL"},
    )
