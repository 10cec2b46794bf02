"""`ainfluencer jobs [JOB_ID]`: list jobs or show one, from the local store or a running server."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.paths import data_dir
from ..core.storage import open_database
from ..host import runtime
from ..jobs.store import JobStore
from .client import SidecarClient
from .common import cli_words


def _local_store(base_dir: Path | None) -> JobStore:
    folder = data_dir((base_dir or runtime.default_base_dir()) / "user")
    return JobStore(open_database(folder), folder)


def _moment(stamp: str | None) -> datetime | None:
    """An ISO 8601 time of an answer (UTC with offset) as an aware datetime."""
    return datetime.fromisoformat(stamp) if stamp else None


def _when(stamp: str | None) -> str:
    moment = _moment(stamp)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(start: str | None, end: str | None) -> str:
    began, ended = _moment(start), _moment(end)
    if began is None or ended is None:
        return ""
    seconds = max(0.0, (ended - began).total_seconds())
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def progress_words(job: dict[str, Any]) -> str:
    """The job's progress as a sentence: where it stands, the percentage and the step it reported."""
    percent = f"{job['progress'] * 100:.0f}%"
    step = f" — {job['progress_text']}" if job.get("progress_text") else ""
    return {
        "queued": "waiting in the queue, not started yet",
        "running": f"running, {percent} done{step}",
        "completed": "finished, all outputs written",
        "failed": f"failed at {percent}{step}",
        "cancelled": f"cancelled at {percent}",
    }.get(job["status"], f"{job['status']}, {percent}{step}")


def render_job(job: dict[str, Any]) -> str:
    """One job as a readable summary: status, times, progress in words, engine, cost, outputs and error."""
    ran = _duration(job.get("started_at"), job.get("finished_at"))
    lines = [
        f"job       {job['job_id']}  {job['status']}",
        f"preset    {job['preset_id'] or '-'} (quality {job['quality_level'] or '-'}, from {job['source']})",
        f"engine    {job['engine'] or '-'}",
        f"created   {_when(job['created_at'])}",
        f"started   {_when(job.get('started_at'))}",
        f"finished  {_when(job.get('finished_at'))}" + (f"  (ran {ran})" if ran else ""),
        f"progress  {progress_words(job)}",
        f"cost      {job['credit_cost']:g} credits" if job.get("credit_cost") is not None else "cost      -",
    ]
    lines.append("outputs" + ("" if job["artifacts"] else "   none"))
    for art in job["artifacts"]:
        size = f" ({art['size_bytes'] / 1024**2:.1f} MiB)" if art.get("size_bytes") else ""
        lines.append(f"  {art['kind']:<8}{art['path']}{size}")
    lines += [f"warning   {text}" for text in job.get("warnings") or []]
    if job["error"]:
        lines.append(f"error     {job['error_code'] or 'ERROR'}: {job['error']}")
        lines += [f"  -> {cli_words(step)}" for step in job.get("remediation") or []]
    return "\n".join(lines)


def cmd_jobs(args: argparse.Namespace) -> int:
    """List jobs or show one (reads the store directly unless --server is given)."""
    if args.server:
        client = SidecarClient(args.server)
        data = client.job(args.job_id) if args.job_id else client.jobs(args.limit)
        client.close()
    else:
        store = _local_store(args.base_dir)
        data = store.get(args.job_id) if args.job_id else store.list(limit=args.limit)
    if args.json:
        print(json.dumps(data))
        return 0
    if args.job_id:
        print(render_job(data))
        return 0
    for job in data["jobs"]:
        print(f"{job['job_id']}  {_when(job['created_at'])}  {job['status']:<9}  "
              f"{job['preset_id'] or '-':<28}  {job['source']}")  # fmt: skip
    print(f"{data['total']} job(s)")
    return 0


def add_jobs_command(sub: Any) -> None:
    """Register jobs on the CLI's subparsers."""
    jobs = sub.add_parser("jobs", help="list jobs or show one (a readable summary; --json for the record)")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--server")
    jobs.add_argument("--base-dir", type=Path)
    jobs.add_argument("--json", action="store_true", help="the job record as JSON")
    jobs.set_defaults(func=cmd_jobs)
