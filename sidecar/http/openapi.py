"""`GET /ainfluencer/v1/openapi.json`: every sidecar route, with bodies and answers from pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..billing.ledger import MAX_CREDITS
from ..jobs.characters import CharacterCreate, ConsentCreate, ReferenceAdd
from ..models.catalog import AddCustomModelRequest
from ..models.service import DownloadModelRequest
from ..runs.generate import GenerateRequest, GenerateResponse
from ..runs.pipeline import BatchRequest, RunRequest


class EmptyBody(BaseModel):
    """A state-changing request without parameters (`{}`)."""

    model_config = ConfigDict(extra="forbid")


class ConnectBody(BaseModel):
    """Body of `POST …/providers/{id}/connect`."""

    model_config = ConfigDict(extra="forbid")
    api_key: str = Field(min_length=1, max_length=512)


class BudgetBody(BaseModel):
    """Body of `POST …/credits/budget`: sets the available balance to `credits`."""

    model_config = ConfigDict(extra="forbid")
    credits: float = Field(ge=0, le=MAX_CREDITS, allow_inf_nan=False)


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


class ProvidersAnswer(BaseModel):
    """`GET …/providers`."""

    providers: list[ProviderStatus]


class ConnectAnswer(BaseModel):
    """`POST …/providers/{id}/connect`."""

    ok: bool
    balance: float | None
    message: str
    key: str


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


ACCEPTED = frozenset(
    {"/presets/{preset_id}/run", "/presets/{preset_id}/batch", "/generate/image", "/generate/video"}
)


Spec = tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None]
ROUTES: list[Spec] = [
    ("get", "/version", "Pack, API and ComfyUI versions", None, None),
    ("get", "/presets", "List presets", None, None),
    ("get", "/presets/{preset_id}", "Describe one preset", None, None),
    ("post", "/presets/{preset_id}/run", "Validate, reserve credits and queue a run", RunRequest, JobStarted),
    (
        "post",
        "/presets/{preset_id}/estimate",
        "Credits, time and engine of a run",
        RunRequest,
        EstimateAnswer,
    ),
    (
        "post",
        "/presets/{preset_id}/batch",
        "Several runs of one preset merged into one prompt (remote waits overlap)",
        BatchRequest,
        BatchStarted,
    ),
    (
        "post",
        "/generate/image",
        "Generate with an image preset (the seed's contract)",
        GenerateRequest,
        GenerateResponse,
    ),
    (
        "post",
        "/generate/video",
        "Generate with a video preset (the seed's contract)",
        GenerateRequest,
        GenerateResponse,
    ),
    ("get", "/generate/{job_id}", "A generate job in the seed's response shape", None, GenerateResponse),
    ("get", "/jobs", "List jobs (limit, offset, status)", None, None),
    ("get", "/jobs/{job_id}", "One job with progress, artifacts and credit_cost", None, None),
    ("get", "/jobs/{job_id}/logs", "A job's redacted log lines", None, None),
    ("get", "/jobs/{job_id}/consent", "The consent records stored with a job", None, None),
    ("post", "/jobs/{job_id}/cancel", "Cancel a queued or running job", EmptyBody, None),
    ("post", "/uploads", "Upload an input file (multipart/form-data, field 'file')", None, None),
    (
        "get",
        "/providers",
        "Engines and providers with status, balance, last check and error",
        None,
        ProvidersAnswer,
    ),
    (
        "post",
        "/providers/{provider_id}/connect",
        "Verify a key with the provider and store it if valid",
        ConnectBody,
        ConnectAnswer,
    ),
    ("post", "/providers/{provider_id}/test", "Re-check the stored key", EmptyBody, None),
    ("post", "/providers/{provider_id}/disconnect", "Forget the stored key", EmptyBody, None),
    ("get", "/credits", "Balance, pending and spending by provider", None, CreditsAnswer),
    ("get", "/credits/ledger", "Ledger transfers, newest first (limit, offset)", None, None),
    ("get", "/credits/cost-table", "The effective cost table (assumed rows are marked)", None, None),
    ("post", "/credits/budget", "Set the available balance", BudgetBody, CreditsAnswer),
    ("get", "/characters", "List characters", None, None),
    ("post", "/characters", "Create a character", CharacterCreate, None),
    ("get", "/characters/{character_id}", "One character with references and consent records", None, None),
    (
        "post",
        "/characters/{character_id}/references",
        "Attach an uploaded reference image",
        ReferenceAdd,
        None,
    ),
    (
        "post",
        "/characters/{character_id}/consent",
        "Record consent with the checklist answers",
        ConsentCreate,
        None,
    ),
    ("get", "/setup/healthcheck", "Engines, disk, GPU and data-dir permission", None, None),
    ("get", "/setup/diagnostics", "Redacted diagnostics (download=1 for a file)", None, None),
    ("get", "/analytics/summary", "Jobs per preset, success rate, median duration, credits", None, None),
    ("get", "/models/catalog", "Curated and custom models with installed status", None, None),
    ("get", "/models/custom", "The user's own model entries", None, None),
    (
        "post",
        "/models/custom",
        "Add a model entry (http/https, licence, optional sha256)",
        AddCustomModelRequest,
        None,
    ),
    ("post", "/models/{model_id}/download", "Start a checksum-verified download", DownloadModelRequest, None),
    ("get", "/downloads/{download_id}", "Progress, bytes, speed and state of a download", None, None),
    ("post", "/downloads/{download_id}/cancel", "Cancel a download", EmptyBody, None),
    ("get", "/openapi.json", "This document", None, None),
]


def openapi_document(prefix: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the sidecar."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = {
        "description": "An error in the one error shape",
        "content": {"application/json": {"schema": ref(ErrorBody)}},
    }
    paths: dict[str, Any] = {}
    for method, path, summary, body, answer in ROUTES:
        ok_schema = ref(answer) if answer else {"type": "object"}
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {
                "202" if path in ACCEPTED else "200": {
                    "description": "Accepted: queued" if path in ACCEPTED else "OK",
                    "content": {"application/json": {"schema": ok_schema}},
                },
                "default": error,
            },
        }
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
        paths.setdefault(prefix + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "AInfluencer sidecar", "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
