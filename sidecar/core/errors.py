"""The error taxonomy: every user-visible failure is an `AInfError` with a code and remediation."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes shown to users, scripts and the Setup Hub."""

    ENGINE_OFFLINE = "ENGINE_OFFLINE"
    DEPENDENCY_MISSING = "DEPENDENCY_MISSING"
    CONTRACT_MISMATCH = "CONTRACT_MISMATCH"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    LICENSE_UNKNOWN = "LICENSE_UNKNOWN"
    CHECKSUM_MISSING = "CHECKSUM_MISSING"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    CONSENT_MISSING = "CONSENT_MISSING"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    ENGINE_TIMEOUT = "ENGINE_TIMEOUT"
    SAFETY_FILTER = "SAFETY_FILTER"
    AUTH_FAILED = "AUTH_FAILED"
    RATE_LIMITED = "RATE_LIMITED"
    PRESET_NOT_FOUND = "PRESET_NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    INVALID_MEDIA = "INVALID_MEDIA"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    GRAPH_INVALID = "GRAPH_INVALID"
    EXECUTION_FAILED = "EXECUTION_FAILED"
    JOB_INTERRUPTED = "JOB_INTERRUPTED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    PROVIDER_NOT_FOUND = "PROVIDER_NOT_FOUND"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    CROSS_SITE_REFUSED = "CROSS_SITE_REFUSED"
    CHARACTER_NOT_FOUND = "CHARACTER_NOT_FOUND"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    DOWNLOAD_NOT_FOUND = "DOWNLOAD_NOT_FOUND"
    DOWNLOAD_FAILED = "DOWNLOAD_FAILED"


# code -> (HTTP status, default message, remediation steps)
_CATALOG: dict[ErrorCode, tuple[int, str, tuple[str, ...]]] = {
    ErrorCode.ENGINE_OFFLINE: (
        503,
        "The engine is not reachable.",
        (
            "Start ComfyUI (`ainfluencer serve`) or check the provider's status page.",
            "Run `ainfluencer doctor` to see which engines are healthy.",
        ),
    ),
    ErrorCode.DEPENDENCY_MISSING: (
        424,
        "Something this preset needs is not installed.",
        ("Install the missing model or node pack named in the details, then run again.",),
    ),
    ErrorCode.CONTRACT_MISMATCH: (
        502,
        "An engine answered in a shape we do not understand.",
        ("Update AInfluencer; if it persists, report the details (they contain no keys).",),
    ),
    ErrorCode.FILE_NOT_FOUND: (
        404,
        "A file this run needs was not found.",
        ("Upload the file with POST /ainfluencer/v1/uploads and pass the returned name.",),
    ),
    ErrorCode.VALIDATION_ERROR: (
        422,
        "The request is not valid.",
        ("Fix the fields named in the details and send it again.",),
    ),
    ErrorCode.LICENSE_UNKNOWN: (
        409,
        "The model's licence is unknown.",
        ("Check the licence at its source, then acknowledge it explicitly to continue.",),
    ),
    ErrorCode.CHECKSUM_MISSING: (
        409,
        "The download has no published checksum.",
        ("Add the publisher's sha256, or acknowledge the risk explicitly.",),
    ),
    ErrorCode.CHECKSUM_MISMATCH: (
        422,
        "The downloaded file does not match its checksum; it was deleted.",
        ("Retry the download; if it fails again the source may be tampered with.",),
    ),
    ErrorCode.CONSENT_MISSING: (
        403,
        "This run uses a real person's likeness and consent was not confirmed.",
        ("Confirm you have the person's consent (consent_given: true) and run again.",),
    ),
    ErrorCode.INSUFFICIENT_FUNDS: (
        402,
        "Not enough credits for this run; nothing was queued or charged.",
        (
            "The budget starts at 0: set one in the Studio → Budget.",
            "Or pick a lower quality level.",
        ),
    ),
    ErrorCode.ENGINE_TIMEOUT: (
        504,
        "The engine did not finish in time.",
        ("Try again later or choose another engine.",),
    ),
    ErrorCode.SAFETY_FILTER: (
        422,
        "The provider's safety filter refused this request.",
        ("Change the prompt or input image and run again.",),
    ),
    ErrorCode.AUTH_FAILED: (
        401,
        "The provider rejected the API key.",
        ("Check the key in the Setup Hub and connect the provider again.",),
    ),
    ErrorCode.RATE_LIMITED: (
        429,
        "The provider is rate limiting requests.",
        ("Wait a minute and run again.",),
    ),
    ErrorCode.PRESET_NOT_FOUND: (
        404,
        "No preset with that id.",
        ("List presets with GET /ainfluencer/v1/presets or `ainfluencer presets`.",),
    ),
    ErrorCode.JOB_NOT_FOUND: (
        404,
        "No job with that id.",
        ("List jobs with GET /ainfluencer/v1/jobs or `ainfluencer jobs`.",),
    ),
    ErrorCode.INVALID_MEDIA: (
        415,
        "The file is not media of the expected kind.",
        ("Upload a real file of the kind the input asks for (e.g. an MP4 for `video`).",),
    ),
    ErrorCode.PAYLOAD_TOO_LARGE: (
        413,
        "The upload is larger than allowed.",
        ("Trim or compress the file, or raise AINFLUENCER_MAX_UPLOAD_MB.",),
    ),
    ErrorCode.GRAPH_INVALID: (
        422,
        "ComfyUI refused the graph.",
        ("Open the preset in the editor to see which node is wrong; details list each node's error.",),
    ),
    ErrorCode.EXECUTION_FAILED: (
        500,
        "The run failed while executing.",
        ("Read the job log (GET /ainfluencer/v1/jobs/{id}/logs) for the failing node and its message.",),
    ),
    ErrorCode.JOB_INTERRUPTED: (
        500,
        "The job was interrupted because ComfyUI stopped while it ran.",
        ("Run the preset again; nothing else needs fixing.",),
    ),
    ErrorCode.INTERNAL_ERROR: (
        500,
        "Something unexpected went wrong.",
        ("Retry; if it persists, report the job id and the log (it contains no keys).",),
    ),
    ErrorCode.MODEL_NOT_FOUND: (
        404,
        "No model with that id in the catalog.",
        ("List models with GET /ainfluencer/v1/models/catalog or `ainfluencer models list`.",),
    ),
    ErrorCode.DOWNLOAD_NOT_FOUND: (
        404,
        "No download with that id.",
        ("Start one with POST /ainfluencer/v1/models/{id}/download and use the returned download_id.",),
    ),
    ErrorCode.DOWNLOAD_FAILED: (
        502,
        "The download did not finish; what arrived was kept so the next try resumes.",
        ("Check the network and the source URL, then start the download again.",),
    ),
    ErrorCode.PROVIDER_NOT_FOUND: (
        404,
        "No engine or provider with that id.",
        ("List engines with GET /ainfluencer/v1/providers.",),
    ),
    ErrorCode.NOT_SUPPORTED: (
        501,
        "This engine does not offer that operation.",
        ("Pick an engine that offers it (GET /ainfluencer/v1/providers lists them).",),
    ),
    ErrorCode.CROSS_SITE_REFUSED: (
        403,
        "The request came from another site and was refused.",
        ("Use the Setup Hub or the CLI on this machine; other sites may not change settings.",),
    ),
    ErrorCode.CHARACTER_NOT_FOUND: (
        404,
        "No character with that id.",
        ("List characters with GET /ainfluencer/v1/characters.",),
    ),
}


class AInfError(Exception):
    """A user-facing failure with a code, a message, remediation steps and redacted detail."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        remediation: list[str] | None = None,
        detail: Any = None,
        job_id: str | None = None,
    ) -> None:
        status, default_message, default_steps = _CATALOG[code]
        self.code = code
        self.status = status
        self.message = message or default_message
        self.remediation = list(remediation) if remediation else list(default_steps)
        self.detail = detail
        self.job_id = job_id
        super().__init__(f"{code}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        """The one error response shape, redacted."""
        from .redact import redact_secrets

        return redact_secrets(
            {
                "error": str(self.code),
                "message": self.message,
                "remediation": self.remediation,
                "detail": self.detail,
                "job_id": self.job_id,
            }
        )


def remediation_for(code: ErrorCode) -> list[str]:
    """Default remediation steps for a code."""
    return list(_CATALOG[code][2])


def http_status_for(code: ErrorCode) -> int:
    """The HTTP status a code answers with."""
    return _CATALOG[code][0]
