"""Faults a submit can meet after the provider created its job (shared by every emulator).

`"500"`: the provider's application created (and will bill) the job, then answered HTTP 500 with its own
request id. `"drop"`: it created the job, then the connection broke before any answer was sent. Either
way the caller cannot tell whether the job exists; only looking it up can.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

AFTER_CREATE = (None, "500", "drop")


def answer_after_create(
    request: web.Request, mode: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """The answer to a submit whose job was just created, as the fault `mode` wants it."""
    if mode not in AFTER_CREATE[1:]:
        raise ValueError(f"unknown after-create fault {mode!r}")
    if mode == "drop":
        assert request.transport is not None
        request.transport.close()
    return web.json_response(body, status=500, headers=headers)
