"""Preset routes: the catalogue, one manifest, a run and its estimate."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...runs.pipeline import RunRequest
from ..helpers import PREFIX, client_source, guarded, json_body


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the version and preset routes."""

    @routes.get(f"{PREFIX}/version")
    @guarded
    async def version(_request: web.Request) -> web.Response:
        return web.json_response(get_sidecar().version_info())

    @routes.get(f"{PREFIX}/presets")
    @guarded
    async def list_presets(_request: web.Request) -> web.Response:
        catalog = get_sidecar().catalog
        return web.json_response({"presets": [catalog.describe(pid) for pid in catalog.ids()]})

    @routes.get(PREFIX + "/presets/{preset_id}")
    @guarded
    async def get_preset(request: web.Request) -> web.Response:
        return web.json_response(get_sidecar().catalog.describe(request.match_info["preset_id"]))

    @routes.post(PREFIX + "/presets/{preset_id}/run")
    @guarded
    async def run_preset(request: web.Request) -> web.Response:
        body = RunRequest.model_validate(await json_body(request))
        pipeline = get_sidecar().pipeline
        job = await pipeline.execute_preset(
            request.match_info["preset_id"], body, source=client_source(request)
        )
        return web.json_response(job, status=202)

    @routes.post(PREFIX + "/presets/{preset_id}/estimate")
    @guarded
    async def estimate(request: web.Request) -> web.Response:
        body = RunRequest.model_validate(await json_body(request))
        return web.json_response(get_sidecar().pipeline.estimate(request.match_info["preset_id"], body))
