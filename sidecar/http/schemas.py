"""Bodies and answers of the sidecar's own routes as pydantic models (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..billing.ledger import MAX_CREDITS


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
    last_check: float | None
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
    budget_set_at: float | None
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
    engine: str
    steps: list[EstimateStep]


class JobStarted(BaseModel):
    """`POST …/presets/{id}/run` (202)."""

    job_id: str
    status: str
    preset_id: str
    estimated_time_seconds: float


class BatchStarted(JobStarted):
    """`POST …/presets/{id}/batch` (202): one job holding `items` runs."""

    items: int
