"""Preset routes: version, the catalogue, one manifest, a run, its estimate and merged batches."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...runs.pipeline import BatchRequest, RunRequest
from ...runs.repair import REPAIR_DESCRIPTION, REPAIR_PRESET
from ..helpers import Endpoints, client_source
from ..schemas import BatchStarted, EstimateAnswer, JobStarted


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the version and preset routes."""

    api = Endpoints(routes)

    @api.get("/version", "Pack, API and ComfyUI versions")
    async def version(_request: web.Request) -> dict:
        return get_sidecar().version_info()

    @api.get("/presets", "List presets")
    async def list_presets(_request: web.Request) -> dict:
        catalog = get_sidecar().catalog
        return {"presets": [catalog.describe(pid) for pid in catalog.ids()] + [REPAIR_DESCRIPTION]}

    @api.get("/presets/{preset_id}", "Describe one preset")
    async def get_preset(request: web.Request) -> dict:
        if request.match_info["preset_id"] == REPAIR_PRESET:  # a preset of the pipeline, not a graph
            return REPAIR_DESCRIPTION
        return get_sidecar().catalog.describe(request.match_info["preset_id"])

    @api.post(
        "/presets/{preset_id}/run",
        "Validate, reserve credits and queue a run",
        body=RunRequest,
        answer=JobStarted,
        status=202,
    )
    async def run_preset(request: web.Request, body: RunRequest) -> dict:
        pipeline = get_sidecar().pipeline
        return await pipeline.execute_preset(
            request.match_info["preset_id"], body, source=client_source(request)
        )

    @api.post(
        "/presets/{preset_id}/estimate",
        "Credits, time and engine of a run",
        body=RunRequest,
        answer=EstimateAnswer,
    )
    async def estimate(request: web.Request, body: RunRequest) -> dict:
        return get_sidecar().pipeline.estimate(request.match_info["preset_id"], body)

    @api.post(
        "/presets/{preset_id}/batch",
        "Several runs of one preset merged into one prompt (remote waits overlap)",
        body=BatchRequest,
        answer=BatchStarted,
        status=202,
    )
    async def run_batch(request: web.Request, body: BatchRequest) -> dict:
        pipeline = get_sidecar().pipeline
        return await pipeline.execute_batch(
            request.match_info["preset_id"], body.runs, client_source(request)
        )
