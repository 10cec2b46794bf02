"""Setup routes: health check, the redacted diagnostics bundle, analytics and the OpenAPI document."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar, pack_version
from ...host.health import analytics_summary, diagnostics, healthcheck
from ..helpers import PREFIX, guarded
from ..openapi import openapi_document


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the health, diagnostics, analytics and OpenAPI routes."""

    @routes.get(f"{PREFIX}/setup/healthcheck")
    @guarded
    async def health(_request: web.Request) -> web.Response:
        return web.json_response(await healthcheck(get_sidecar()))

    @routes.get(f"{PREFIX}/setup/diagnostics")
    @guarded
    async def diagnostics_bundle(request: web.Request) -> web.Response:
        bundle = await diagnostics(get_sidecar())
        response = web.json_response(bundle, dumps=lambda d: json.dumps(d, indent=1, default=str))
        if request.query.get("download") in ("1", "true"):
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            response.headers["Content-Disposition"] = (
                f'attachment; filename="ainfluencer-diagnostics-{stamp}.json"'
            )
        return response

    @routes.get(f"{PREFIX}/analytics/summary")
    @guarded
    async def analytics(_request: web.Request) -> web.Response:
        return web.json_response(analytics_summary(get_sidecar()))

    @routes.get(f"{PREFIX}/openapi.json")
    @guarded
    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(openapi_document(PREFIX, pack_version()))
