"""Kling's refusals mapped to the error taxonomy: body codes, HTTP statuses, and the reason of a failed task.

Error codes (https://app.klingai.com/global/dev/document-api/apiReference/commonInfo, as mirrored in
inference-sh/grid api/klingai/docs/00-general.md): 401 1000–1004, 429 1100/1101/1102, 403 1103, 400/404
1200–1203, 400 1300/1301, 429 1302/1303/1304, 500/503/504 5000/5001/5002. Moderation inside a failed task is
told only by its `task_status_msg`, matched by risk/moderation words (the exact texts are unconfirmed).
"""

from __future__ import annotations

from typing import Any

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets
from .http_policy import provider_reason

ENGINE_ID = "provider_kling"
AUTH_CODES = {1000, 1001, 1002, 1003, 1004}
FUNDS_CODES = {1101, 1102}
RATE_CODES = {1302, 1303}
NO_RETRY_429 = {1100, 1101, 1102, 1304}
NOT_FOUND_CODE = 1203  # "the requested resource does not exist" (commonInfo's error codes)
ACCOUNT_PROBLEMS = {
    1100: "reports a problem with the account",
    1103: "says this account has no access to the requested model",
    1304: "refuses calls from this computer's IP address (IP whitelist)",
}
SAFETY_WORDS = ("risk", "moderation", "content security", "sensitive", "violat", "policy", "inappropriate",
                "nsfw", "风控", "敏感", "违规")  # fmt: skip
BUY_PACK = "Buy an API resource pack at klingai.com/dev-center (web-app credits do not fund the API)."


def body_code(response: httpx.Response) -> int | None:
    """Kling's body `code`, when the answer is a JSON object carrying an integer one."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def retryable_429(response: httpx.Response) -> bool:
    """Kling answers 429 for "no money" (1101/1102) and for rate limits (1302/1303): only those retry."""
    return response.status_code != 429 or body_code(response) not in NO_RETRY_429


def refusal(response: httpx.Response, what: str, attempts: int, **extra: Any) -> AInfError:
    """Map a refused Kling answer by its body `code` (then its HTTP status) to the error taxonomy."""
    status, code = response.status_code, body_code(response)
    reason = provider_reason(response)
    text = str(reason.get("message") if isinstance(reason, dict) else reason)[:200]
    detail = {"engine": ENGINE_ID, "step": what, "status": status, "code": code,
              "provider_reason": reason, **extra}  # fmt: skip
    tries = f"after {attempts} attempts"
    steps: list[str] | None = None
    if code in AUTH_CODES or (status == 401 and code is None):
        error, message = ErrorCode.AUTH_FAILED, "Kling rejected the API key."
        steps = ["Check the key in the Setup Hub: 'access_key:secret_key' or the newer API key."]
        if code in (1003, 1004):
            steps.insert(0, "Kling judged the token's time window wrong: set this computer's clock right.")
    elif code in FUNDS_CODES:
        why = "is in arrears" if code == 1101 else "has no units left in its resource packs"
        error, message = (
            ErrorCode.INSUFFICIENT_FUNDS,
            f"Kling says the account {why}; nothing was generated.",
        )
        steps = [BUY_PACK, "Then run again."]
    elif code in ACCOUNT_PROBLEMS or status == 403:
        error, message = (
            ErrorCode.AUTH_FAILED,
            f"Kling {ACCOUNT_PROBLEMS.get(code, 'refused the call')}: {text}",
        )
        steps = ["Check the account and key settings in the Kling developer console."]
    elif code in (1300, 1301):
        error, message = ErrorCode.SAFETY_FILTER, "Kling's content safety check refused this request."
    elif code in RATE_CODES or status == 429:
        limit = "parallel-task limit of the resource pack" if code == 1303 else "request rate limit"
        error, message = ErrorCode.RATE_LIMITED, f"Kling kept refusing with its {limit} ({tries})."
        steps = ["Wait a minute, or run fewer Kling jobs at once, then run again."]
    elif status >= 500 or (code is not None and 5000 <= code < 6000):
        error, message = ErrorCode.ENGINE_OFFLINE, f"Kling kept failing (HTTP {status} {tries})."
    elif status in (400, 404, 422) or (code is not None and 1200 <= code < 1300):
        error, message = ErrorCode.VALIDATION_ERROR, f"Kling refused the request: {text}"
    else:
        error, message = ErrorCode.CONTRACT_MISMATCH, f"Kling answered HTTP {status} unexpectedly."
    return AInfError(error, message, remediation=steps, detail=detail)


def task_failure(data: dict[str, Any], task_id: str) -> AInfError:
    """A task `failed` inside HTTP 200 / code 0: Kling's reason is only in `task_status_msg`."""
    message = redact_secrets(str(data.get("task_status_msg") or "")[:300])
    detail = {"engine": ENGINE_ID, "request_id": task_id, "provider_reason": message}
    if any(word in message.lower() for word in SAFETY_WORDS):
        return AInfError(
            ErrorCode.SAFETY_FILTER,
            f"Kling's content safety check stopped the task: {message}",
            detail=detail,
        )
    return AInfError(
        ErrorCode.EXECUTION_FAILED,
        f"Kling reported the task as failed: {message or 'no reason given'}",
        remediation=["Check the inputs named in Kling's reason, then run again."],
        detail=detail,
    )
