"""Results a repaired job already paid for: a repair re-uses them by step instead of paying again.

Every remote result the pack keeps is recorded as an artifact with the fingerprint of the request that made it
(`request_sha256`). A repair job (its inputs carry `repair_of`, the job it repairs, and so on up the chain)
sends the same requests for the steps that completed before, because it runs the same preset with the same
inputs and seed; such a step takes the recorded file instead of a provider call, its hold is voided and the
job's log says "reused result of job …". ComfyUI's cache cannot be relied on for this: it holds only the last
prompt and is gone after a restart. A job that is not a repair never reuses anything, so a fresh take stays a
new provider request, and so does a repair of a completed job (its identity drifted: a fresh take).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..billing.ledger import CreditLedger
from ..core.errors import AInfError
from ..jobs.store import JobStore

MAX_LINEAGE = 10
REPAIR_OF = "repair_of"  # the job input naming the job a repair job repairs


def request_fingerprint(engine: str, capability: str, request: dict[str, Any]) -> str:
    """A sha256 of what a request asks for (its media by their own sha256), stable across runs."""

    def plain(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return "sha256:" + hashlib.sha256(value).hexdigest()
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in sorted(value.items())}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    text = json.dumps([engine, capability, plain(request)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RecordedResult:
    """A kept remote result of an earlier job of the repair chain."""

    job_id: str
    path: Path
    engine: str
    model: str
    request_id: str
    content_type: str


class RecordedResults:
    """Finds a repair job's already-paid results and books their reuse (hold voided, log line)."""

    def __init__(self, store: JobStore, ledger: CreditLedger) -> None:
        self.store, self.ledger = store, ledger

    def lineage(self, job_id: str) -> list[str]:
        """The jobs a repair job repairs, nearest first (empty for a job that is not a repair)."""
        return [row["job_id"] for row in self._chain(job_id)]

    def _chain(self, job_id: str) -> list[dict[str, Any]]:
        """The records of :meth:`lineage`'s jobs, each read once.

        The chain stops before a completed job: that one is repaired for its drift, a fresh take, so none
        of its results are reused.
        """
        chain: list[dict[str, Any]] = []
        try:
            current = self.store.get(job_id)
        except AInfError:
            return chain
        while len(chain) < MAX_LINEAGE:
            earlier = (current.get("inputs") or {}).get(REPAIR_OF)
            if not isinstance(earlier, str) or earlier == job_id or earlier in {r["job_id"] for r in chain}:
                break
            try:
                current = self.store.get(earlier)
            except AInfError:
                break
            if current["status"] == "completed":
                break
            chain.append(current)
        return chain

    def find(self, job_id: str, fingerprint: str) -> RecordedResult | None:
        """The kept result of the same request in the job's repair chain, if its file is still there."""
        for row in self._chain(job_id):
            for artifact in row["artifacts"]:
                meta = artifact.get("metadata") or {}
                path = Path(artifact["path"])
                if meta.get("remote") and meta.get("request_sha256") == fingerprint and path.is_file():
                    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    text = {k: str(meta.get(k) or "") for k in ("engine", "model", "request_id")}
                    return RecordedResult(row["job_id"], path, content_type=content_type, **text)
        return None

    def reuse(self, job_id: str, step_id: str, found: RecordedResult) -> None:
        """Book the reuse: nothing is sent, the step's hold is released and the job's log names the source."""
        self.ledger.void(job_id, step_id, reason=f"reused result of job {found.job_id}: nothing was sent")
        self.store.log(job_id, "info", f"reused result of job {found.job_id}", step=step_id,
                       request_id=found.request_id, file=found.path.name)  # fmt: skip
