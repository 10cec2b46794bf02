"""Job history: job rows, their artifacts and per-job `logs.jsonl`, all redacted at write time."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from ..core.clock import iso_utc
from ..core.errors import AInfError, ErrorCode, remediation_for
from ..core.partial_files import remove_leftovers
from ..core.redact import redact_secrets
from ..core.storage import artifacts, jobs, row_dict
from .identity import IdentityRecords, IdentityReport, identity_summary

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "queued", "running", "completed", "failed", "cancelled"
FINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED})
JOB_STATES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)


def job_output_folder(output_dir: Path, job_id: str) -> Path:
    """Where a preset run's save nodes write (`ainfluencer/<job_id>/…` is the prefix each run gets)."""
    return Path(output_dir) / "ainfluencer" / job_id


def new_job_id() -> str:
    """A fresh job id."""
    return f"job_{uuid.uuid4().hex}"


def sha256_file(path: Path) -> str:
    """The sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class JobStore:
    """Reads and writes jobs, artifacts and job logs; safe to call from any thread."""

    def __init__(
        self, engine: Engine, data_dir: Path, final_hooks: Sequence[Callable[[str, str], None]] = ()
    ) -> None:
        self.engine = engine
        self.data_dir = Path(data_dir)
        self._log_lock = threading.Lock()
        # called once per job with (job_id, final status) right after it became final (ledger post/void)
        self.final_hooks: tuple[Callable[[str, str], None], ...] = tuple(final_hooks)
        self.identity = IdentityRecords(engine)

    # -- jobs -------------------------------------------------------------------------------------
    def create(
        self,
        *,
        source: str,
        preset_id: str | None,
        inputs: dict[str, Any],
        quality_level: str | None = None,
        engine: str | None = None,
        prompt_id: str | None = None,
        consent_given: bool = False,
        credit_cost: float | None = None,
        job_id: str | None = None,
    ) -> str:
        """Record a new queued job and return its id."""
        job_id = job_id or new_job_id()
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                insert(jobs).values(
                    job_id=job_id,
                    prompt_id=prompt_id,
                    preset_id=preset_id,
                    source=source,
                    status=QUEUED,
                    quality_level=quality_level,
                    engine=engine,
                    inputs_json=json.dumps(redact_secrets(inputs)),
                    consent_given=consent_given,
                    credit_cost=credit_cost,
                    owner_pid=os.getpid(),
                    progress=0.0,
                    created_at=now,
                    updated_at=now,
                )
            )
        self.log(job_id, "info", "job queued", preset_id=preset_id, source=source, prompt_id=prompt_id)
        return job_id

    def set_prompt_id(self, job_id: str, prompt_id: str) -> None:
        """Attach the ComfyUI prompt id once known."""
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(prompt_id=prompt_id))

    def job_id_for_prompt(self, prompt_id: str) -> str | None:
        """The job that owns a ComfyUI prompt id, if any."""
        with self.engine.connect() as conn:
            return conn.execute(select(jobs.c.job_id).where(jobs.c.prompt_id == prompt_id)).scalar()

    def mark_running(self, job_id: str) -> None:
        """Move a queued job to running."""
        now = time.time()
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.status == QUEUED)
                .values(status=RUNNING, started_at=now, updated_at=now)
            ).rowcount
        if changed:
            self.log(job_id, "info", "job running")

    def set_progress(self, job_id: str, fraction: float, text: str | None = None) -> None:
        """Store progress (0..1) of a running job."""
        values: dict[str, Any] = {"progress": max(0.0, min(1.0, fraction)), "updated_at": time.time()}
        if text is not None:
            values["progress_text"] = redact_secrets(text)[:500]
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.status.in_((QUEUED, RUNNING)))
                .values(**values)
            )

    def finish(self, job_id: str, status: str, error: AInfError | None = None) -> bool:
        """Move a job to a final state exactly once; returns False when it was already final."""
        if status not in FINAL_STATES:
            raise ValueError(f"not a final state: {status}")
        now = time.time()
        values: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now}
        if status == COMPLETED:
            values["progress"] = 1.0
        if error is not None:
            error.job_id = job_id
            values["error_json"] = json.dumps(error.to_dict())
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id, jobs.c.status.in_((QUEUED, RUNNING)))
                .values(**values)
            ).rowcount
        if changed:
            level = "error" if status == FAILED else "info"
            self.log(job_id, level, f"job {status}", error=error.to_dict() if error else None)
            for hook in self.final_hooks:
                try:
                    hook(job_id, status)
                except Exception as exc:  # a hook must never undo the state change; reconciliation retries
                    self.log(job_id, "error", "final hook failed", error=repr(exc))
        return bool(changed)

    def fail_orphans(self, keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """Fail jobs whose ComfyUI process is gone while they were queued or running (they died with it).

        Jobs in `keep` (a remote request in flight that will be re-polled) are left for the caller to resume.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.job_id, jobs.c.owner_pid).where(jobs.c.status.in_((QUEUED, RUNNING)))
            )
            ids = [r.job_id for r in rows if not pid_alive(r.owner_pid) and r.job_id not in keep]
        for job_id in ids:
            self.finish(
                job_id,
                FAILED,
                AInfError(
                    ErrorCode.JOB_INTERRUPTED,
                    remediation=remediation_for(ErrorCode.JOB_INTERRUPTED),
                    detail={"reason": "ComfyUI restarted while the job was queued or running"},
                ),
            )
        return ids

    def remove_crash_leftovers(self, job_ids: Sequence[str], output_dir: Path) -> list[Path]:
        """Delete the partial and torn files crashed runs left in their output folders; returns them."""
        removed = []
        for job_id in job_ids:
            gone = remove_leftovers(job_output_folder(output_dir, job_id))
            if gone:
                self.log(job_id, "warning", "removed files a crash left", files=[p.name for p in gone])
            removed += gone
        return removed

    def get(self, job_id: str) -> dict[str, Any]:
        """One job as a JSON-ready dict with its artifacts, or JOB_NOT_FOUND."""
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
            if row is None:
                raise AInfError(ErrorCode.JOB_NOT_FOUND, detail={"job_id": job_id})
            arts = conn.execute(
                select(artifacts).where(artifacts.c.job_id == job_id).order_by(artifacts.c.id)
            )
            answer = _job_dict(row, [_artifact_dict(a) for a in arts.mappings()])
        return _with_identity(answer, self.identity.for_job(job_id))

    def list(self, *, limit: int = 50, offset: int = 0, status: str | None = None) -> dict[str, Any]:
        """Newest jobs first, with a total count."""
        query = select(jobs)
        count = select(func.count()).select_from(jobs)
        if status:
            query = query.where(jobs.c.status == status)
            count = count.where(jobs.c.status == status)
        query = query.order_by(jobs.c.created_at.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
            total = conn.execute(count).scalar() or 0
            ids = [r["job_id"] for r in rows]
            arts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            if ids:
                for a in conn.execute(
                    select(artifacts).where(artifacts.c.job_id.in_(ids)).order_by(artifacts.c.id)
                ):
                    arts[a.job_id].append(_artifact_dict(a._mapping))
        answers = [_job_dict(r, arts[r["job_id"]]) for r in rows]
        return {
            "jobs": [_with_identity(a, self.identity.for_job(a["job_id"])) for a in answers],
            "total": total,
        }

    def record_identity(self, job_id: str, node_id: str | None, report: IdentityReport) -> None:
        """Keep an identity measurement on a job; a drift is logged as a warning the job answer carries."""
        self.identity.record(job_id, node_id, report)
        if report.warning:
            self.log(job_id, "warning", report.warning, node_id=node_id, worst=report.worst)
        else:
            self.log(job_id, "info", "identity holds", node_id=node_id, worst=report.worst, mean=report.mean)

    # -- artifacts --------------------------------------------------------------------------------
    def add_artifact(
        self,
        job_id: str,
        path: Path,
        *,
        kind: str,
        filename: str,
        subfolder: str,
        folder_type: str = "output",
        node_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an output file with its sha256 and size."""
        values = {
            "job_id": job_id,
            "kind": kind,
            "path": str(path),
            "filename": filename,
            "subfolder": subfolder,
            "folder_type": folder_type,
            "node_id": node_id,
            "sha256": sha256_file(path),
            "size_bytes": path.stat().st_size,
            "metadata_json": json.dumps(redact_secrets(metadata or {})),
            "created_at": time.time(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(artifacts).values(**values))
        self.log(
            job_id,
            "info",
            "artifact saved",
            path=str(path),
            sha256=values["sha256"],
            size=values["size_bytes"],
        )
        return values

    # -- logs -------------------------------------------------------------------------------------
    def log_path(self, job_id: str) -> Path:
        """`<data dir>/jobs/<job_id>/logs.jsonl`."""
        return self.data_dir / "jobs" / job_id / "logs.jsonl"

    def log(self, job_id: str, level: str, message: str, **fields: Any) -> None:
        """Append one redacted JSON line to the job's log."""
        entry = redact_secrets({"ts": time.time(), "level": level, "message": message, **fields})
        path = self.log_path(job_id)
        with self._log_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, default=str) + "\n")

    def read_logs(self, job_id: str) -> list[dict[str, Any]]:
        """All log lines of a job (JOB_NOT_FOUND for unknown ids)."""
        self.get(job_id)
        path = self.log_path(job_id)
        if not path.exists():
            return []
        with open(path, encoding="utf-8") as fh:
            entries = [json.loads(line) for line in fh if line.strip()]
        return [{**e, "ts": iso_utc(e["ts"])} if isinstance(e.get("ts"), int | float) else e for e in entries]


def log_line(entry: dict[str, Any]) -> str:
    """One log entry as the spec's `logs` list holds it: `<ISO time> <level> <message>`."""
    return f"{entry.get('ts')} {entry.get('level', 'info')} {entry.get('message', '')}"


def pid_alive(pid: int | None) -> bool:
    """True when another live process has this pid (our own pid counts as gone: we are its successor)."""
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _artifact_dict(row: Any) -> dict[str, Any]:
    columns = ("kind", "path", "filename", "subfolder", "node_id", "sha256", "size_bytes")
    answer = row_dict(row, columns, type="folder_type", metadata="metadata_json")
    answer["created_at"] = iso_utc(row["created_at"])
    return answer


def view_url(artifact: dict[str, Any]) -> str:
    """ComfyUI's `/view` link of an artifact."""
    query = {"filename": artifact["filename"], "subfolder": artifact["subfolder"], "type": artifact["type"]}
    return f"/view?{urllib.parse.urlencode(query)}"


def _outputs(arts: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec's `outputs`: each artifact's path and `/view` link, grouped by kind."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for art in arts:
        grouped.setdefault(art["kind"], []).append({"path": art["path"], "url": view_url(art)})
    return grouped


def _with_identity(answer: dict[str, Any], reports: list[dict[str, Any]]) -> dict[str, Any]:
    """A job answer with its identity checks (`identity`, None when unmeasured) and `warnings`."""
    summary = identity_summary(reports)
    return {**answer, "identity": summary, "warnings": summary["warnings"] if summary else []}


def _job_dict(row: Any, arts: list[dict[str, Any]]) -> dict[str, Any]:
    """A job as answers give it: the run-history fields of the spec, then the richer ones."""
    error = json.loads(row["error_json"]) if row["error_json"] else None
    return {
        "job_id": row["job_id"],
        "preset_id": row["preset_id"],
        "user_id": None,  # single-user: jobs belong to whoever runs this ComfyUI
        "status": row["status"],
        "created_at": iso_utc(row["created_at"]),
        "started_at": iso_utc(row["started_at"]),
        "finished_at": iso_utc(row["finished_at"]),
        "updated_at": iso_utc(row["updated_at"]),
        "inputs": json.loads(row["inputs_json"] or "{}"),
        "outputs": _outputs(arts),
        "engine_used": row["engine"],
        "quality_level": row["quality_level"],
        "credit_cost": row["credit_cost"],
        "error": error["message"] if error else None,
        "error_code": error["error"] if error else None,
        "remediation": error["remediation"] if error else None,
        "error_detail": error,
        "prompt_id": row["prompt_id"],
        "source": row["source"],
        "engine": row["engine"],
        "progress": row["progress"],
        "progress_text": row["progress_text"],
        "consent_given": bool(row["consent_given"]),
        "artifacts": arts,
    }
