"""Preset routes: version, the catalogue, one manifest, a run, its estimate and merged batches."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...runs.pipeline import BatchRequest, RunRequest
from ..helpers import client_source, endpoint, json_body
from ..schemas import BatchStarted, EstimateAnswer, JobStarted


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the version and preset routes."""

    @endpoint(routes, "GET", "/version", "Pack, API and ComfyUI versions")
    async def version(_request: web.Request) -> dict:
        return get_sidecar().version_info()

    @endpoint(routes, "GET", "/presets", "List presets")
    async def list_presets(_request: web.Request) -> dict:
        catalog = get_sidecar().catalog
        return {"presets": [catalog.describe(pid) for pid in catalog.ids()]}

    @endpoint(routes, "GET", "/presets/{preset_id}", "Describe one preset")
    async def get_preset(request: web.Request) -> dict:
        return get_sidecar().catalog.describe(request.match_info["preset_id"])

    @endpoint(
        routes,
        "POST",
        "/presets/{preset_id}/run",
        "Validate, reserve credits and queue a run",
        body=RunRequest,
        answer=JobStarted,
        status=202,
    )
    async def run_preset(request: web.Request) -> dict:
        body = RunRequest.model_validate(await json_body(request))
        pipeline = get_sidecar().pipeline
        return await pipeline.execute_preset(
            request.match_info["preset_id"], body, source=client_source(request)
        )

    @endpoint(
        routes,
        "POST",
        "/presets/{preset_id}/estimate",
        "Credits, time and engine of a run",
        body=RunRequest,
        answer=EstimateAnswer,
    )
    async def estimate(request: web.Request) -> dict:
        body = RunRequest.model_validate(await json_body(request))
        return get_sidecar().pipeline.estimate(request.match_info["preset_id"], body)

    @endpoint(
        routes,
        "POST",
        "/presets/{preset_id}/batch",
        "Several runs of one preset merged into one prompt (remote waits overlap)",
        body=BatchRequest,
        answer=BatchStarted,
        status=202,
    )
    async def run_batch(request: web.Request) -> dict:
        body = BatchRequest.model_validate(await json_body(request))
        pipeline = get_sidecar().pipeline
        return await pipeline.execute_batch(
            request.match_info["preset_id"], body.runs, client_source(request)
        )
