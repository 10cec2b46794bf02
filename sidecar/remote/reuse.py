"""Remote results ComfyUI reused from its cache: said on the job, and never paid a second time.

ComfyUI returns a node's cached output while the node and everything upstream of it are unchanged. Runs
without a seed get a random one, which reaches every remote node's `seed` (or take) input, so a cached
remote result only happens when a caller deliberately repeats a seed. Such a job names the job whose
result it reused ("reused result of job …") and its hold for that step is voided, since nothing was sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ..billing.ledger import CreditLedger
from ..billing.step_ids import step_id_for
from ..core.storage import job_prompts, remote_requests
from ..jobs.store import JobStore
from .engines import REMOTE_NODE_TYPES

RECENT_PROMPTS = 200  # how many earlier jobs are searched for the run that produced a cached result
DONE = "completed"


@dataclass(frozen=True)
class ReusedResult:
    """A remote node of a job whose output ComfyUI took from the cache of an earlier job's run."""

    node_id: str
    step_id: str
    earlier_job_id: str


def node_signature(prompt: dict[str, Any], node_id: str) -> str:
    """A hash of a node's class, its own inputs and everything upstream of it (not the node ids)."""

    def walk(current: str, seen: frozenset[str]) -> Any:
        node = prompt.get(current) or {}
        inputs = {}
        for name, value in sorted((node.get("inputs") or {}).items()):
            is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
            if is_link and str(value[0]) in prompt and str(value[0]) not in seen:
                inputs[name] = [walk(str(value[0]), seen | {current}), value[1]]
            else:
                inputs[name] = value
        return {"class_type": node.get("class_type"), "inputs": inputs}

    text = json.dumps(walk(str(node_id), frozenset()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class CachedResults:
    """Finds the earlier job a cached remote node's result came from, logs it and voids the step's hold."""

    def __init__(self, database: Engine, ledger: CreditLedger, store: JobStore) -> None:
        self.database, self.ledger, self.store = database, ledger, store

    def _prompt(self, job_id: str) -> dict[str, Any] | None:
        with self.database.connect() as conn:
            row = conn.execute(
                select(job_prompts.c.prompt_json).where(job_prompts.c.job_id == job_id)
            ).first()
        return json.loads(row.prompt_json) if row else None

    def _completed_steps(self, job_id: str) -> set[str]:
        t = remote_requests
        with self.database.connect() as conn:
            rows = conn.execute(select(t.c.step_id).where(t.c.job_id == job_id, t.c.status == DONE)).all()
        return {r.step_id for r in rows}

    def _earlier_job(self, job_id: str, class_type: str, signature: str) -> str | None:
        """The most recent other job that ran a node with this signature and completed its remote step."""
        with self.database.connect() as conn:
            rows = conn.execute(
                select(job_prompts.c.job_id, job_prompts.c.prompt_json)
                .where(job_prompts.c.job_id != job_id)
                .order_by(job_prompts.c.created_at.desc())
                .limit(RECENT_PROMPTS)
            ).all()
        for row in rows:
            prompt = json.loads(row.prompt_json)
            done = self._completed_steps(row.job_id)
            for node_id, node in prompt.items():
                if not isinstance(node, dict) or node.get("class_type") != class_type:
                    continue
                if step_id_for(str(node_id)) in done and node_signature(prompt, node_id) == signature:
                    return str(row.job_id)
        return None

    def note_cached(self, job_id: str, node_ids: list[str]) -> list[ReusedResult]:
        """For each cached remote node of the job: name the earlier job on it and void the step's hold."""
        prompt = self._prompt(job_id)
        if prompt is None:
            return []
        reused = []
        for node_id in node_ids:
            node = prompt.get(str(node_id))
            if not isinstance(node, dict) or node.get("class_type") not in REMOTE_NODE_TYPES:
                continue
            earlier = self._earlier_job(job_id, node["class_type"], node_signature(prompt, str(node_id)))
            step_id = step_id_for(str(node_id))
            source = f"job {earlier}" if earlier else "an earlier run in this ComfyUI"
            self.ledger.void(job_id, step_id, reason=f"reused result of {source}: nothing was sent")
            self.store.log(job_id, "warning", f"reused result of {source}", node=str(node_id), step=step_id,
                           reused_from=earlier)  # fmt: skip
            if earlier:
                reused.append(ReusedResult(str(node_id), step_id, earlier))
        return reused
