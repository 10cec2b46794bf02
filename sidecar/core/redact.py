"""One redaction rule for everything we write: registered secret values and key-named fields."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***REDACTED***"
_KEY_WORDS = ("api_key", "apikey", "token", "password", "passwd", "secret", "authorization", "access_key")
_AUTH_VALUE = re.compile(r"\b(Bearer|Key|Basic|Token)\s+[A-Za-z0-9._~+/=:-]{8,}", re.IGNORECASE)
_MIN_SECRET_LEN = 6

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so it is masked wherever it appears later."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def forget_secret(value: str | None) -> None:
    """Stop masking a value (after a key is rotated away it should still be masked, so rarely used)."""
    with _lock:
        _secrets.discard(value or "")


def is_secret_key(name: str) -> bool:
    """True when a field name says it holds a secret."""
    norm = name.lower().replace("-", "_")
    return any(word in norm for word in _KEY_WORDS)


def _redact_text(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact_secrets(value: Any) -> Any:
    """Return a copy of `value` with secrets masked (dicts, lists, tuples and strings, recursively)."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and is_secret_key(key) and item not in (None, "", False):
                out[key] = MASK
            else:
                out[key] = redact_secrets(item)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(redact_secrets(item) for item in value)
    return value
