"""`ainfluencer jobs [JOB_ID]`: list jobs or show one, from the local store or a running server."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..core.paths import data_dir
from ..core.storage import open_database
from ..host import runtime
from ..jobs.store import JobStore
from .client import SidecarClient


def _local_store(base_dir: Path | None) -> JobStore:
    folder = data_dir((base_dir or runtime.default_base_dir()) / "user")
    return JobStore(open_database(folder), folder)


def cmd_jobs(args: argparse.Namespace) -> int:
    """List jobs or show one (reads the store directly unless --server is given)."""
    if args.server:
        client = SidecarClient(args.server)
        data = client.job(args.job_id) if args.job_id else client.jobs(args.limit)
        client.close()
    else:
        store = _local_store(args.base_dir)
        data = store.get(args.job_id) if args.job_id else store.list(limit=args.limit)
    if args.json or args.job_id:
        print(json.dumps(data, indent=None if args.json else 2))
        return 0
    for job in data["jobs"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created_at"]))
        print(f"{job['job_id']}  {when}  {job['status']:<9}  {job['preset_id'] or '-':<28}  {job['source']}")
    print(f"{data['total']} job(s)")
    return 0


def add_jobs_command(sub: Any) -> None:
    """Register jobs on the CLI's subparsers."""
    jobs = sub.add_parser("jobs", help="list jobs or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--server")
    jobs.add_argument("--base-dir", type=Path)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=cmd_jobs)
