"""Job routes: history, one job, its log lines, its consent records, cancel."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.store import JOB_STATES
from ..helpers import PAGING, Endpoints, int_query, need
from ..schemas import EmptyBody, JobAnswer, JobConsentAnswer, JobLogsAnswer, JobsAnswer


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the job history routes."""

    api = Endpoints(routes)

    @api.get(
        "/jobs",
        "List jobs (limit, offset, status)",
        query=(*PAGING, ("status", {"enum": list(JOB_STATES)})),
        answer=JobsAnswer,
    )
    async def list_jobs(request: web.Request) -> dict:
        status = request.query.get("status")
        if status is not None and status not in JOB_STATES:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR, f"Unknown status {status!r}.", detail={"allowed": JOB_STATES}
            )
        limit = int_query(request, "limit", 50, 1, 500)
        offset = int_query(request, "offset", 0, 0, 10**9)
        return get_sidecar().store.list(limit=limit, offset=offset, status=status)

    @api.get("/jobs/{job_id}", "One job: the run history fields, progress and artifacts", answer=JobAnswer)
    async def get_job(request: web.Request) -> dict:
        return get_sidecar().pipeline.get_job_status(request.match_info["job_id"])

    @api.get("/jobs/{job_id}/logs", "A job's redacted log lines", answer=JobLogsAnswer)
    async def get_job_logs(request: web.Request) -> dict:
        job_id = request.match_info["job_id"]
        return {"job_id": job_id, "lines": get_sidecar().store.read_logs(job_id)}

    @api.get("/jobs/{job_id}/consent", "The consent records stored with a job", answer=JobConsentAnswer)
    async def job_consent(request: web.Request) -> dict:
        sidecar = get_sidecar()
        job = sidecar.store.get(request.match_info["job_id"])
        records = need(sidecar.characters, "character store").consents_for_job(job["job_id"])
        return {"job_id": job["job_id"], "consent_given": job["consent_given"], "records": records}

    @api.post("/jobs/{job_id}/cancel", "Cancel a queued or running job", body=EmptyBody, answer=JobAnswer)
    async def cancel_job(request: web.Request, _body: EmptyBody) -> dict:
        return get_sidecar().pipeline.cancel_job(request.match_info["job_id"])
