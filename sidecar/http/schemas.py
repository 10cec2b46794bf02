"""Bodies and answers of the sidecar's own routes as pydantic models (the OpenAPI document shows them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..billing.ledger import MAX_CREDITS

# Answer models document what routes send; every time in an answer is ISO 8601 in UTC with its offset
# (RFC 3339, `format: date-time` in the OpenAPI document).


class EmptyBody(BaseModel):
    """A state-changing request without parameters (`{}`)."""

    model_config = ConfigDict(extra="forbid")


class ConnectBody(BaseModel):
    """Body of `POST …/providers/{id}/connect`."""

    model_config = ConfigDict(extra="forbid")
    api_key: str = Field(min_length=1, max_length=512)
    verify: bool = Field(default=True, description="check the key with the provider before storing it")


class BudgetBody(BaseModel):
    """Body of `POST …/credits/budget`: sets the available balance to `credits`."""

    model_config = ConfigDict(extra="forbid")
    credits: float = Field(ge=0, le=MAX_CREDITS, allow_inf_nan=False, strict=True)  # `true` is no amount


class ReleaseHoldBody(BaseModel):
    """Body of `POST …/credits/holds/release`: the job step whose hold in doubt the user releases."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(min_length=1, max_length=64)
    step_id: str = Field(min_length=1, max_length=64)


class ErrorBody(BaseModel):
    """The one error shape every route answers with."""

    error: str
    message: str
    remediation: list[str]
    detail: Any = None
    job_id: str | None = None


class ProviderStatus(BaseModel):
    """One engine in `GET …/providers` (the key only as `…last4`)."""

    id: str
    kind: str
    status: str
    adapter_installed: bool
    key: str | None
    key_source: str | None
    balance: float | None
    last_check: datetime | None
    error: dict[str, Any] | None
    message: str | None
    verified: bool | None = Field(
        description="the key passed a check (false: stored unchecked; null: no key)"
    )


class ProvidersAnswer(BaseModel):
    """`GET …/providers`."""

    providers: list[ProviderStatus]


class ConnectAnswer(BaseModel):
    """`POST …/providers/{id}/connect`."""

    ok: bool
    balance: float | None
    message: str
    key: str
    verified: bool = True


class CreditsAnswer(BaseModel):
    """`GET …/credits`."""

    available: float
    pending: float
    spent_by_provider: dict[str, float]
    budget: float | None
    budget_set_at: datetime | None
    unit: str


class EstimateStep(BaseModel):
    """One remote step of an estimate: its ledger step id, price and engine."""

    step_id: str
    credits: float
    engine: str


class EstimateAnswer(BaseModel):
    """`POST …/presets/{id}/estimate`."""

    credits: float
    estimated_time_seconds: float
    time_basis: Literal["measured", "manifest default"]  # measured: from finished runs on this machine
    long_run: bool  # longer than two minutes
    time_note: str | None  # the plain warning to show before a long run
    engine: str
    steps: list[EstimateStep]
    repair_of: str | None = None  # repair_pipeline_v1: the failed job the run would repair


class JobStarted(BaseModel):
    """`POST …/presets/{id}/run` (202)."""

    job_id: str
    status: str
    preset_id: str
    estimated_time_seconds: float
    repair_of: str | None = None  # repair_pipeline_v1: the failed job this one repairs


class BatchStarted(JobStarted):
    """`POST …/presets/{id}/batch` (202): one job holding `items` runs."""

    items: int


class ArtifactAnswer(BaseModel):
    """One output file of a job: where it is, its sha256 and size."""

    kind: str
    path: str
    filename: str
    subfolder: str
    type: str
    node_id: str | None
    sha256: str
    size_bytes: int
    metadata: dict[str, Any]
    created_at: datetime


class IdentityCheckAnswer(BaseModel):
    """One identity measurement: each shot's or frame's face distance to the nearest reference face."""

    node_id: str | None
    subject: Literal["shot", "frame"]
    labels: list[int] = Field(description="shot numbers (from 1) or frame indices")
    distances: list[float | None] = Field(description="null where no face was found")
    mean: float | None
    worst: float | None
    frame_spread: float | None = Field(description="largest embedding step between neighbouring items")
    threshold: float
    drifted: list[int]
    warning: str | None


class IdentityAnswer(BaseModel):
    """The identity checks of a job and the warnings they raised."""

    checks: list[IdentityCheckAnswer]
    warnings: list[str]


class JobAnswer(BaseModel):
    """`GET …/jobs/{id}`: the spec's run history (`JobHistory`), then progress, artifacts, the full error."""

    job_id: str
    preset_id: str | None = Field(description="null for a job queued from the editor without a preset")
    user_id: str | None
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    inputs: dict[str, Any]
    outputs: dict[str, Any] = Field(description="artifact kind -> [{path, url}] (url: ComfyUI's /view link)")
    engine_used: str | None
    quality_level: str | None
    credit_cost: float | None
    error: str | None = Field(description="the error message of a failed job")
    error_code: str | None
    remediation: list[str] | None
    logs: list[str] = Field(default=[], description="redacted log lines (one job only; empty in lists)")
    error_detail: ErrorBody | None = Field(description="the failure in the one error shape")
    prompt_id: str | None
    source: str
    engine: str | None
    progress: float
    progress_text: str | None
    frames_done: int | None = Field(default=None, description="frames of the streamed video pass under way")
    frames_total: int | None = Field(default=None, description="frames that pass writes")
    eta_seconds: float | None = Field(default=None, description="seconds the pass needs at its pace so far")
    consent_given: bool
    artifacts: list[ArtifactAnswer]
    identity: IdentityAnswer | None = Field(
        default=None, description="face distance of each output to the reference (identity presets only)"
    )
    warnings: list[str] = Field(default=[], description='e.g. "identity drift in shots 3 and 7"')


class JobsAnswer(BaseModel):
    """`GET …/jobs`: newest first, with the total count."""

    jobs: list[JobAnswer]
    total: int


class ReferenceAnswer(BaseModel):
    """A character's reference image."""

    image: str
    sha256: str
    created_at: datetime


class ConsentAnswer(BaseModel):
    """A consent record: who confirmed, when, and the checklist answers."""

    consent_id: str
    character_id: str | None
    job_id: str | None
    confirmed_by: str
    source: str
    checklist: dict[str, Any]
    confirmed_at: datetime


class CharacterAnswer(BaseModel):
    """A character (the spec's `CharacterResponse`) with its metadata, references and consent records."""

    id: str
    name: str
    description: str | None
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime = Field(description="when a reference or consent record was last added")
    metadata: dict[str, Any]
    references: list[ReferenceAnswer]
    consents: list[ConsentAnswer]


class CharactersAnswer(BaseModel):
    """`GET …/characters`."""

    characters: list[CharacterAnswer]
    total: int


class JobConsentAnswer(BaseModel):
    """`GET …/jobs/{id}/consent`."""

    job_id: str
    consent_given: bool
    records: list[ConsentAnswer]


class AnalyticsAnswer(BaseModel):
    """`GET …/analytics/*` (the spec's `AnalyticsResponse`): 200 with `ok: false` when unavailable."""

    ok: bool = Field(description="false when analytics are not available; `message` says why")
    data: dict[str, Any] | None = Field(default=None, description="the summary (null when not available)")
    error: str | None = Field(default=None, description="a machine-readable reason when not available")
    message: str | None = Field(default=None, description='e.g. "Analytics not available: …"')


class LogLine(BaseModel):
    """One redacted job log entry; its other fields depend on the message."""

    model_config = ConfigDict(extra="allow")
    ts: datetime
    level: str
    message: str


class JobLogsAnswer(BaseModel):
    """`GET …/jobs/{id}/logs`."""

    job_id: str
    lines: list[LogLine]


class DownloadAnswer(BaseModel):
    """`GET …/downloads/{id}` and the start or cancel of a download: progress, speed and state."""

    download_id: str
    model_id: str | None
    filename: str
    url: str
    state: str
    progress: float
    bytes: int
    total_bytes: int | None
    speed_bps: float
    resumed_from: int
    path: str | None
    error: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
