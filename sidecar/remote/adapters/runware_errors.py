"""Runware's error items (and bare HTTP statuses) mapped to the error taxonomy.

Error shape `{code, message, parameter, taskType, taskUUID, documentation}` and the statuses 400 / 401 / 402
/ 403 / 429 / 5xx: https://runware.ai/docs/platform/errors. Code families from Runware's Python SDK
(`runware/errors.py`): Credits / Balance / Quota / `paymentRequired` = no money; `contentPolicyViolation`,
`nsfwContentDetected`, `moderationFailed`, … = moderation; `*RateLimit*`, `*Timeout*`, `invalid*` / `missing*`
= bad input; `taskFailedOrNotFound` = task gone. The exact insufficient-balance and moderation codes remain
UNCONFIRMED, so a code is classified by family and HTTP status (402), then by message words.
"""

from __future__ import annotations

from typing import Any

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets

ENGINE_ID = "provider_runware"
SAFETY_CODES = frozenset({
    "contentpolicyviolation", "providercontentpolicyviolation", "sensitivecontentdetected",
    "unsafecontentdetected", "nsfwcontentdetected", "promptblocked", "imageblocked", "moderationfailed",
})  # fmt: skip
FUNDS_WORDS = ("credit", "balance", "quota", "paymentrequired", "insufficientfunds")
SAFETY_WORDS = ("nsfw", "content policy", "moderation", "safety")
BAD_INPUT = ("invalid", "missing", "unsupported", "unknown", "conflict", "max")


def error_for(
    error: dict[str, Any], status: int | None, step: str, task_uuid: str | None, attempts: int
) -> AInfError:
    """One Runware error item (or an HTTP status) as an AInfError with Runware's reason in `detail`."""
    code = str(error.get("code") or "")
    message = error.get("message")
    low_code, low_text = code.lower(), f"{code} {message}".lower()
    reason = {
        k: error[k] for k in ("code", "message", "parameter", "taskType", "documentation") if k in error
    }
    detail = {
        "engine": ENGINE_ID, "step": step, "status": status,
        "request_id": task_uuid or error.get("taskUUID"), "provider_reason": redact_secrets(reason),
    }  # fmt: skip
    if (
        any(word in low_code for word in FUNDS_WORDS)
        or status == 402
        or ("insufficient" in low_text and any(w in low_text for w in ("credit", "balance", "fund")))
    ):
        return AInfError(
            ErrorCode.INSUFFICIENT_FUNDS,
            "Your Runware balance is too low for this run; nothing was generated.",
            remediation=["Top up your balance at my.runware.ai (Wallet), then run again."],
            detail=detail,
        )
    if "ratelimit" in low_code or status == 429:
        where = "Runware's model provider is" if low_code.startswith("provider") else "Runware is"
        return AInfError(
            ErrorCode.RATE_LIMITED,
            f"{where} rate limiting this key (still refused after {attempts} attempts).",
            detail=detail,
        )
    low_message = str(message).lower()
    if (
        low_code in SAFETY_CODES
        or any(word in low_code for word in ("nsfw", "moderation", "contentpolicy"))
        or (not low_code.startswith(BAD_INPUT) and any(w in low_message for w in SAFETY_WORDS))
    ):
        return AInfError(
            ErrorCode.SAFETY_FILTER, "Runware's content moderation refused this request.", detail=detail
        )
    if "apikey" in low_code or low_code in ("unauthorized", "forbidden") or status in (401, 403):
        return AInfError(ErrorCode.AUTH_FAILED, "Runware rejected the API key.", detail=detail)
    if "timeout" in low_code or status in (408, 504):
        return AInfError(ErrorCode.ENGINE_TIMEOUT, "Runware timed out running the model.", detail=detail)
    if "unavailable" in low_code or (status or 0) >= 500:
        return AInfError(
            ErrorCode.ENGINE_OFFLINE,
            f"Runware kept failing (HTTP {status} after {attempts} attempts)."
            if (status or 0) >= 500
            else "Runware's model provider is unavailable right now.",
            detail=detail,
        )
    if low_code.endswith(("notfound", "expired")):
        return AInfError(
            ErrorCode.EXECUTION_FAILED,
            "Runware no longer has this task (it failed or expired); run it again.",
            detail=detail,
        )
    polled = step == "status"  # a getResponse is always well-formed: its 4xx is the task's failure
    if low_code.startswith(BAD_INPUT) or (status in (400, 422) and not polled):
        where = f" `{error['parameter']}`" if isinstance(error.get("parameter"), str) else ""
        return AInfError(
            ErrorCode.VALIDATION_ERROR, f"Runware refused the request's input{where}.", detail=detail
        )
    if status is not None and status >= 400 and not polled:
        return AInfError(
            ErrorCode.CONTRACT_MISMATCH, f"Runware answered HTTP {status} unexpectedly.", detail=detail
        )
    return AInfError(ErrorCode.EXECUTION_FAILED, "Runware reported the task as failed.", detail=detail)
