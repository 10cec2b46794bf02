"""The health matrix (engines, disk, GPU, data-dir permission), the redacted diagnostics bundle, analytics."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import platform
import shutil
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..core.redact import redact_secrets
from ..core.storage import jobs

MIN_FREE_BYTES = 2 * 1024**3
HEALTH_DEADLINE_S = 15.0
LOG_LINES = 100
log = logging.getLogger("ainfluencer")
MODEL_FOLDERS = ("checkpoints", "diffusion_models", "loras", "vae", "text_encoders", "upscale_models")


class RecentLogs(logging.Handler):
    """Keeps the last log lines in memory, formatted and redacted, for the diagnostics bundle."""

    def __init__(self, capacity: int = LOG_LINES) -> None:
        super().__init__(level=logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Store one redacted line."""
        try:
            line = redact_secrets(self.format(record))
        except Exception:
            return
        with self._guard:
            self.lines.append(line)


_recent: RecentLogs | None = None


def recent_logs() -> RecentLogs:
    """The process-wide recent-log buffer, attached to the root logger once."""
    global _recent
    if _recent is None:
        _recent = RecentLogs()
        logging.getLogger().addHandler(_recent)
    return _recent


def _disk(path: Path | None, label: str) -> dict[str, Any]:
    if path is None:
        return {"path": None, "label": label, "ok": False, "message": "Not configured"}
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return {"path": str(path), "label": label, "ok": False, "message": f"cannot read: {exc.strerror}"}
    ok = usage.free >= MIN_FREE_BYTES
    return {
        "path": str(path),
        "label": label,
        "ok": ok,
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "message": "enough free space" if ok else "less than 2 GiB free",
    }


def _writable(folder: Path) -> dict[str, Any]:
    probe = folder / f".write-probe-{uuid.uuid4().hex}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        return {"path": str(folder), "ok": False, "message": f"not writable: {exc.strerror}"}
    return {"path": str(folder), "ok": True, "message": "writable"}


def gpu_info() -> dict[str, Any]:
    """The GPU as the running process sees it (torch is only asked when it is already loaded)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"ok": None, "available": None, "message": "torch is not loaded in this process"}
    try:
        if torch.cuda.is_available():
            index = torch.cuda.current_device()
            free, total = torch.cuda.mem_get_info(index)
            return {
                "ok": True,
                "available": True,
                "name": torch.cuda.get_device_name(index),
                "free_bytes": int(free),
                "total_bytes": int(total),
                "message": "CUDA GPU available",
            }
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return {"ok": True, "available": True, "name": "Apple MPS", "message": "MPS available"}
    except Exception as exc:
        return {"ok": False, "available": None, "message": f"GPU query failed: {type(exc).__name__}"}
    return {"ok": True, "available": False, "message": "no GPU; ComfyUI runs on the CPU"}


async def healthcheck(sidecar: Any) -> dict[str, Any]:
    """Every engine (checked concurrently, each with a timeout), disk, GPU and data-dir write permission."""
    started = time.monotonic()
    registry = sidecar.registry
    if registry is None:
        engines: list[dict[str, Any]] = []
    else:
        try:
            engines = await asyncio.wait_for(registry.health_all(), HEALTH_DEADLINE_S)
        except TimeoutError:
            engines = [
                {**p, "status": "error", "message": "health check timed out"}
                for p in registry.list_providers()
            ]
    data = sidecar.data_dir
    checks = {
        "disk": [_disk(data, "data"), _disk(sidecar.output_dir, "output")],
        "gpu": gpu_info(),
        "data_dir": _writable(data) if data else {"ok": False, "message": "Not configured"},
    }
    ok = checks["data_dir"]["ok"] and all(d["ok"] for d in checks["disk"] if d["path"])
    return redact_secrets(
        {
            "ok": bool(ok),
            "engines": engines,
            **checks,
            "checked_in_seconds": round(time.monotonic() - started, 3),
        }
    )


def _installed_models(host: Any) -> dict[str, Any]:
    if not hasattr(host, "model_files"):
        return {"ok": False, "message": "Not configured"}
    found = {}
    for folder in MODEL_FOLDERS:
        try:
            found[folder] = sorted(host.model_files(folder))
        except Exception:
            found[folder] = []
    return {"ok": True, "folders": found}


async def diagnostics(sidecar: Any) -> dict[str, Any]:
    """System info, engines, providers, installed models and the last 100 log lines, redacted."""
    providers = sidecar.registry.list_providers() if sidecar.registry else []
    bundle = {
        "generated_at": time.time(),
        "system": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "pack": sidecar.version_info(),
            "cpu_count": os.cpu_count(),
        },
        "health": await healthcheck(sidecar),
        "providers": providers,
        "credits": sidecar.ledger.balance() if sidecar.ledger else {"ok": False, "message": "Not configured"},
        "models": _installed_models(sidecar.host),
        "jobs": {"total": sidecar.store.list(limit=1)["total"]},
        "logs": list(recent_logs().lines),
    }
    return redact_secrets(bundle)


def analytics_summary(sidecar: Any) -> dict[str, Any]:
    """The spec's `AnalyticsResponse` {ok, data, error, message}; a history that cannot be read degrades
    to `ok: false` with the reason (the UI shows "not available" instead of an error)."""
    try:
        with sidecar.store.engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(
                        jobs.c.preset_id,
                        jobs.c.status,
                        jobs.c.created_at,
                        jobs.c.started_at,
                        jobs.c.finished_at,
                    )
                )
            )
    except SQLAlchemyError as exc:
        log.warning("ainfluencer: analytics unavailable: %s", exc)
        return {
            "ok": False,
            "data": None,
            "error": "ANALYTICS_UNAVAILABLE",
            "message": "Analytics not available: the job history could not be read.",
        }
    return {"ok": True, "data": _summarise(rows, sidecar.ledger), "error": None, "message": None}


def _summarise(rows: list[Any], ledger: Any) -> dict[str, Any]:
    """Jobs per preset, success rate, median duration and credits by provider, from our own history."""
    per_preset: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = {}
    for row in rows:
        key = row.preset_id or "(editor)"
        entry = per_preset.setdefault(
            key, {"jobs": 0, "completed": 0, "failed": 0, "cancelled": 0, "active": 0}
        )
        entry["jobs"] += 1
        entry[row.status if row.status in entry else "active"] += 1
        if row.status == "completed" and row.finished_at:
            durations.setdefault(key, []).append(row.finished_at - (row.started_at or row.created_at))
    for key, entry in per_preset.items():
        finished = entry["completed"] + entry["failed"]
        entry["success_rate"] = round(entry["completed"] / finished, 4) if finished else None
        entry["median_duration_seconds"] = (
            round(statistics.median(durations[key]), 3) if durations.get(key) else None
        )
    total_finished = sum(e["completed"] + e["failed"] for e in per_preset.values())
    total_completed = sum(e["completed"] for e in per_preset.values())
    credits: dict[str, Any]
    if ledger is None:
        credits = {"ok": False, "message": "Not configured"}
    else:
        credits = {"ok": True, "by_provider": ledger.balance()["spent_by_provider"]}
    return {
        "jobs_total": len(rows),
        "success_rate": round(total_completed / total_finished, 4) if total_finished else None,
        "per_preset": per_preset,
        "credits": credits,
    }
