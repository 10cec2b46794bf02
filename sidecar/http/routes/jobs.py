"""Job routes: history, one job, its log lines, cancel."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.store import JOB_STATES
from ..helpers import PREFIX, guarded, int_query, json_body


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the job history routes."""

    @routes.get(f"{PREFIX}/jobs")
    @guarded
    async def list_jobs(request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status is not None and status not in JOB_STATES:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR, f"Unknown status {status!r}.", detail={"allowed": JOB_STATES}
            )
        limit = int_query(request, "limit", 50, 1, 500)
        offset = int_query(request, "offset", 0, 0, 10**9)
        return web.json_response(get_sidecar().store.list(limit=limit, offset=offset, status=status))

    @routes.get(PREFIX + "/jobs/{job_id}")
    @guarded
    async def get_job(request: web.Request) -> web.Response:
        return web.json_response(get_sidecar().pipeline.get_job_status(request.match_info["job_id"]))

    @routes.get(PREFIX + "/jobs/{job_id}/logs")
    @guarded
    async def get_job_logs(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        return web.json_response({"job_id": job_id, "lines": get_sidecar().store.read_logs(job_id)})

    @routes.post(PREFIX + "/jobs/{job_id}/cancel")
    @guarded
    async def cancel_job(request: web.Request) -> web.Response:
        await json_body(request)
        return web.json_response(get_sidecar().pipeline.cancel_job(request.match_info["job_id"]))
