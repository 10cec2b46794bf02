"""Routes of the v1 generate contract: generate an image or a video from a preset, read the job back."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...core.errors import AInfError
from ...host.app import Sidecar
from ...runs.generate import GenerateRequest, GenerateResponse, response_for, to_run_request
from ..helpers import Endpoints, client_source


def _estimate(sidecar: Sidecar, job: dict) -> float | None:
    """The time estimate of a job's preset at its quality level (None when the preset is gone)."""
    try:
        manifest = sidecar.catalog.get(job["preset_id"])[job["engine"]].manifest
        return manifest.quality_levels[job["quality_level"]].estimated_time_seconds
    except (AInfError, KeyError, TypeError):
        return None


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the generate routes."""

    api = Endpoints(routes)

    def generate(kind: str) -> None:
        article = "an" if kind == "image" else "a"
        summary = f"Generate with {article} {kind} preset (the v1 generate contract)"

        @api.post(f"/generate/{kind}", summary, body=GenerateRequest, answer=GenerateResponse, status=202)
        async def handler(request: web.Request, body: GenerateRequest) -> dict:
            sidecar = get_sidecar()
            run = to_run_request(kind, body, sidecar.pipeline)
            job = await sidecar.pipeline.execute_preset(body.preset_id, run, source=client_source(request))
            return response_for(sidecar.store.get(job["job_id"]), job["estimated_time_seconds"]).model_dump()

        handler.__name__ = f"generate_{kind}"

    generate("image")
    generate("video")

    @api.get(
        "/generate/{job_id}", "A generate job in the v1 generate response shape", answer=GenerateResponse
    )
    async def generate_status(request: web.Request) -> dict:
        sidecar = get_sidecar()
        job = sidecar.store.get(request.match_info["job_id"])
        return response_for(job, _estimate(sidecar, job)).model_dump()
