"""Routes of the seed's generate contract and of merged batch runs."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...core.errors import AInfError
from ...host.app import Sidecar
from ...runs.generate import GenerateRequest, response_for, to_run_request
from ...runs.pipeline import BatchRequest
from ..helpers import PREFIX, client_source, guarded, json_body


def _estimate(sidecar: Sidecar, job: dict) -> float | None:
    """The time estimate of a job's preset at its quality level (None when the preset is gone)."""
    try:
        manifest = sidecar.catalog.get(job["preset_id"])[job["engine"]].manifest
        return manifest.quality_levels[job["quality_level"]].estimated_time_seconds
    except (AInfError, KeyError, TypeError):
        return None


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the generate and batch routes."""

    def generate_handler(kind: str):
        async def generate(request: web.Request) -> web.Response:
            sidecar = get_sidecar()
            body = GenerateRequest.model_validate(await json_body(request))
            run = to_run_request(kind, body, sidecar.pipeline)
            job = await sidecar.pipeline.execute_preset(body.preset_id, run, source=client_source(request))
            answer = response_for(sidecar.store.get(job["job_id"]), job["estimated_time_seconds"])
            return web.json_response(answer.model_dump(), status=202)

        generate.__name__ = f"generate_{kind}"
        return guarded(generate)

    routes.post(f"{PREFIX}/generate/image")(generate_handler("image"))
    routes.post(f"{PREFIX}/generate/video")(generate_handler("video"))

    @routes.get(PREFIX + "/generate/{job_id}")
    @guarded
    async def generate_status(request: web.Request) -> web.Response:
        sidecar = get_sidecar()
        job = sidecar.store.get(request.match_info["job_id"])
        return web.json_response(response_for(job, _estimate(sidecar, job)).model_dump())

    @routes.post(PREFIX + "/presets/{preset_id}/batch")
    @guarded
    async def run_batch(request: web.Request) -> web.Response:
        body = BatchRequest.model_validate(await json_body(request))
        pipeline = get_sidecar().pipeline
        job = await pipeline.execute_batch(request.match_info["preset_id"], body.runs, client_source(request))
        return web.json_response(job, status=202)
