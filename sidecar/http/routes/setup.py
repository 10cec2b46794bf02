"""Setup routes: health check, the redacted diagnostics bundle and analytics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...host.health import analytics_summary, diagnostics, healthcheck
from ..helpers import Endpoints
from ..schemas import AnalyticsAnswer

DOWNLOAD = (("download", {"enum": ["1", "true", "0", "false"]}),)


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the health, diagnostics and analytics routes."""

    api = Endpoints(routes)

    @api.get("/setup/healthcheck", "Engines, disk, GPU and data-dir permission")
    async def health(_request: web.Request) -> dict:
        return await healthcheck(get_sidecar())

    @api.get("/setup/diagnostics", "Redacted diagnostics (download=1 for a file)", query=DOWNLOAD)
    async def diagnostics_bundle(request: web.Request) -> web.Response:
        bundle = await diagnostics(get_sidecar())
        response = web.json_response(bundle, dumps=lambda d: json.dumps(d, indent=1, default=str))
        if request.query.get("download") in ("1", "true"):
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            response.headers["Content-Disposition"] = (
                f'attachment; filename="ainfluencer-diagnostics-{stamp}.json"'
            )
        return response

    @api.get(
        "/analytics/summary",
        "Jobs per preset, success rate, median duration, credits (in `data`)",
        answer=AnalyticsAnswer,
    )
    async def analytics(_request: web.Request) -> dict:
        return analytics_summary(get_sidecar())
