"""Remote steps of a job: engine choice, credit reserve → post/void per step, request ids kept for re-polling.

A remote node calls `RemoteSteps.run`. Before anything is submitted the step holds a reservation (made by the
pipeline when the job was queued, or here for editor runs); the provider's request id is written to
`remote_requests` before polling starts, so after a ComfyUI restart the same request is polled again and its
result fetched — never submitted and paid twice. A step is priced from the request it sends (model,
duration, resolution, output size) after the provider's model table accepted it, so a refused value is
refused before anything is held. Success posts the provider-reported cost (at most the reservation); every
failure voids it, except a submit in doubt (SubmitUnconfirmed: the provider may have created and billed the
job): its record says `in_doubt`, the job's log says how many credits stay held, and the reservation stays
pending, marked in the ledger, until the user releases it after checking the provider's dashboard
(`POST …/credits/holds/release`); a job the adapter found again is polled and posted like any other.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ..billing.ledger import CreditLedger
from ..billing.step_ids import step_id_for
from ..core.errors import AInfError, ErrorCode
from ..core.redact import redact_secrets
from ..core.storage import job_prompts, jobs, remote_requests
from ..jobs.store import FINAL_STATES, QUEUED, RUNNING, JobStore, pid_alive
from .adapters.base import NO_CONTROL, EngineAdapter
from .adapters.control import RemoteResult, RunControl
from .adapters.http_policy import SubmitUnconfirmed
from .engines import CAPABILITIES, LOCAL_ENGINE, REMOTE_NODE_TYPES
from .pricing import node_request, priced_request
from .recorded import RecordedResults
from .registry import ProviderRegistry
from .storyboard import STORYBOARD_NODE, has_reference, planned_shots, shot_engine

log = logging.getLogger("ainfluencer.remote")

SUBMITTING, SUBMITTED, DONE, FAILED = "submitting", "submitted", "completed", "failed"
IN_DOUBT = "in_doubt"  # the submit may have created a billed job; its credits stay held


def _adapter_offers(adapter: Any, method: str) -> bool:
    return getattr(type(adapter), method, None) is not getattr(EngineAdapter, method)


class RemoteSteps:
    """Runs one remote step of a job with its reservation, its request record and its settlement."""

    def __init__(
        self, database: Engine, registry: ProviderRegistry, ledger: CreditLedger, store: JobStore
    ) -> None:
        self.database, self.registry, self.ledger, self.store = database, registry, ledger, store
        self.recorded = RecordedResults(store, ledger)  # a repair job's already-paid results

    # engine choice -------------------------------------------------------------------------------
    def resolve_engine(self, engine: str, capability: str, preference: list[str] | None = None) -> str:
        """`auto` → the first engine in the preference order that offers the capability and can run now."""
        method = CAPABILITIES[capability].method
        if engine != "auto":
            return engine
        offered = CAPABILITIES[capability].engines
        order = [e for e in (preference or []) if e in offered]
        order += [e for e in offered if e not in order]
        reasons = {}
        for candidate in order:
            if candidate == LOCAL_ENGINE:
                return candidate
            adapter = self.registry.get_provider(candidate)
            if adapter is None or not _adapter_offers(adapter, method):
                reasons[candidate] = "no adapter offers this"
                continue
            ok, why = self.registry.availability(candidate)
            if ok:
                return candidate
            reasons[candidate] = why
        raise AInfError(
            ErrorCode.ENGINE_OFFLINE,
            f"No engine can run {capability} now. Add a provider's API key in Setup.",
            remediation=["Open the Setup Hub → Providers and connect one of: " + ", ".join(order)],
            detail={"capability": capability, "engines": reasons},
        )

    def plan(
        self, prompt: dict[str, Any], quality: str, preference: list[str] | None = None
    ) -> list[tuple[str, float, str]]:
        """(step_id, credits, engine) per remote node of an API prompt, `auto` resolved as it would run."""
        steps = []
        for node_id, node in sorted(prompt.items()):
            if not isinstance(node, dict) or node.get("class_type") not in REMOTE_NODE_TYPES:
                continue
            capability, fixed = REMOTE_NODE_TYPES[node["class_type"]]
            inputs = node.get("inputs") or {}
            chosen = fixed or str(inputs.get("engine") or "auto")
            shots = node["class_type"] == STORYBOARD_NODE
            if shots:
                chosen = shot_engine(chosen, has_reference(inputs))
            engine = self.resolve_engine(chosen, capability, preference)
            if engine != LOCAL_ENGINE:
                ok, why = self.registry.availability(engine)
                if not ok:
                    raise AInfError(
                        ErrorCode.ENGINE_OFFLINE,
                        f"{why}.",
                        remediation=[f"{why}.", "Or pick another engine on the node."],
                        detail={"engine": engine, "node_id": str(node_id)},
                    )
                # a storyboard node sends one call per shot, each its own numbered step
                requests = (
                    planned_shots(engine, inputs)
                    if shots
                    else [node_request(node["class_type"], engine, inputs)]
                )
                for index, request in enumerate(requests):
                    price = self.cost_of(engine, capability, quality, request)
                    steps.append((step_id_for(str(node_id), index), price, engine))
        return steps

    def cost_of(
        self, engine: str, capability: str, quality: str, request: dict[str, Any] | None = None
    ) -> float:
        """The price of one call as it will be sent (its model, duration, resolution, size); 0 on the host.

        VALIDATION_ERROR when the provider's model table refuses the request's parameters.
        """
        if engine == LOCAL_ENGINE:
            return 0.0
        priced = priced_request(engine, capability, request or {})
        return self.ledger.price(priced, CAPABILITIES[capability].operation, quality)

    # records -------------------------------------------------------------------------------------
    def record(self, job_id: str, step_id: str) -> dict[str, Any] | None:
        """The request record of one step, if any."""
        with self.database.connect() as conn:
            row = (
                conn.execute(
                    select(remote_requests).where(
                        remote_requests.c.job_id == job_id, remote_requests.c.step_id == step_id
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def _write(self, job_id: str, step_id: str, **values: Any) -> None:
        now = time.time()
        with self.database.begin() as conn:
            found = conn.execute(
                select(remote_requests.c.status).where(
                    remote_requests.c.job_id == job_id, remote_requests.c.step_id == step_id
                )
            ).first()
            if found is None:
                conn.execute(
                    remote_requests.insert().values(
                        job_id=job_id, step_id=step_id, created_at=now, updated_at=now, **values
                    )
                )
            else:
                conn.execute(
                    update(remote_requests)
                    .where(remote_requests.c.job_id == job_id, remote_requests.c.step_id == step_id)
                    .values(updated_at=now, **values)
                )

    # running -------------------------------------------------------------------------------------
    async def run(
        self,
        job_id: str,
        step_id: str,
        engine: str,
        capability: str,
        request: dict[str, Any],
        *,
        quality: str = "standard",
        model: str | None = None,
        control: RunControl = NO_CONTROL,
    ) -> RemoteResult:
        """Reserve unless held, submit or resume, record the request id; post the cost, or void on failure.

        `control` carries the caller's cancel check and status display; the step adds the submit record and,
        for a request recorded earlier, the id to resume.
        """
        method = CAPABILITIES[capability].method
        adapter = self.registry.get_provider(engine)
        if adapter is None or not _adapter_offers(adapter, method):
            raise AInfError(
                ErrorCode.NOT_SUPPORTED,
                f"{engine} does not offer {capability}.",
                remediation=["Pick another engine on the node, or `auto`."],
                detail={"engine": engine, "capability": capability},
            )
        found = self.registry.vault.get(engine)
        if found is None:
            missing = getattr(adapter, "missing_key", None)
            raise missing() if missing else AInfError(ErrorCode.ENGINE_OFFLINE, detail={"engine": engine})
        key = found[0]
        previous = self.record(job_id, step_id)
        resume_id = None
        if previous and previous["status"] in (SUBMITTED, DONE) and previous["request_id"]:
            resume_id = str(previous["request_id"])
            self.store.log(job_id, "info", "re-polling the recorded remote request", step=step_id,
                           engine=engine, request_id=resume_id)  # fmt: skip
        if previous and previous["status"] == IN_DOUBT:
            raise AInfError(
                ErrorCode.ENGINE_OFFLINE,
                "This step's earlier submit may have reached the provider; it is not sent again.",
                remediation=["Check the provider's dashboard, then run the preset again as a new job."],
                detail={"engine": engine, "step": step_id, "submit": "unconfirmed"},
            )
        if previous and previous["status"] == DONE:
            # finished and charged before a restart: fetch the same result again, charge nothing more
            return await getattr(adapter, method)(key, request, replace(control, resume_request_id=resume_id))
        self._reserve(job_id, step_id, engine, self.cost_of(engine, capability, quality, request))

        def on_submit(request_id: str) -> None:
            self._write(job_id, step_id, status=SUBMITTED, request_id=str(request_id)[:200])
            self.store.log(job_id, "info", "remote request submitted", step=step_id, engine=engine,
                           request_id=request_id)  # fmt: skip

        call = replace(control, on_submit=on_submit, resume_request_id=resume_id)
        if resume_id is None:
            self._write(job_id, step_id, engine=engine, operation=capability, model=model, status=SUBMITTING,
                        request_id=None, error_json=None)  # fmt: skip
        try:
            result = await getattr(adapter, method)(key, request, call)
        except AInfError as exc:
            self._fail(job_id, step_id, exc)
            raise
        except BaseException as exc:  # cancelled by the executor, or an adapter bug: never a stuck hold
            error = AInfError(ErrorCode.EXECUTION_FAILED, detail={"error": redact_secrets(repr(exc))[:300]})
            self._fail(job_id, step_id, error)
            raise
        cost = result.cost
        self._write(job_id, step_id, status=DONE, cost=cost, request_id=str(result.request_id or "")[:200])
        posted = self.ledger.post(job_id, step_id, actual=cost if isinstance(cost, (int, float)) else None)
        self.store.log(job_id, "info", "remote step completed", step=step_id, engine=engine,
                       request_id=result.request_id, provider_cost=cost, posted=posted)  # fmt: skip
        return result

    def _reserve(self, job_id: str, step_id: str, engine: str, price: float) -> None:
        """Hold the request's price; a hold planned lower (an input larger than assumed) is grown."""
        if engine == LOCAL_ENGINE:
            return
        held = self.ledger.held(job_id, step_id)
        if held is None:
            self.ledger.reserve(job_id, price, engine, step_id)
        elif held < price:
            self.ledger.raise_hold(job_id, step_id, price)

    def _fail(self, job_id: str, step_id: str, error: AInfError) -> None:
        if isinstance(error, SubmitUnconfirmed):
            self._keep_in_doubt(job_id, step_id, error)
            return
        self._write(job_id, step_id, status=FAILED, error_json=json.dumps(error.to_dict()))
        voided = self.ledger.void(job_id, step_id, reason=f"remote step failed: {error.code.value}")
        self.store.log(
            job_id, "error", "remote step failed", step=step_id, error=error.to_dict(), voided=voided
        )

    def _keep_in_doubt(self, job_id: str, step_id: str, error: SubmitUnconfirmed) -> None:
        """Record the doubtful submit and keep its credits held (never voided here, never posted twice)."""
        self._write(job_id, step_id, status=IN_DOUBT, error_json=json.dumps(error.to_dict()))
        held = self.ledger.held(job_id, step_id)
        resolve = "POST /ainfluencer/v1/credits/holds/release once the provider's dashboard shows no such job"
        self.ledger.mark_in_doubt(job_id, step_id, str(error.detail.get("failure", "")))
        self.store.log(job_id, "warning", "remote submit in doubt: its credits stay held until resolved",
                       step=step_id, credits_held=held, resolve=resolve, error=error.to_dict())  # fmt: skip

    def step_error(self, job_id: str, node_id: str) -> AInfError | None:
        """The error a node's remote call failed with (its code and the provider's reason), if any."""
        t = remote_requests
        with self.database.connect() as conn:
            row = conn.execute(
                select(t.c.error_json)
                .where(
                    t.c.job_id == job_id,
                    t.c.status.in_((FAILED, IN_DOUBT)),
                    (t.c.step_id == step_id_for(node_id)) | t.c.step_id.like(step_id_for(node_id) + "#%"),
                )
                .order_by(t.c.updated_at.desc())
            ).first()
        if row is None or not row.error_json:
            return None
        data = json.loads(row.error_json)
        try:
            code = ErrorCode(data.get("error"))
        except ValueError:
            return None
        return AInfError(
            code, data.get("message"), remediation=data.get("remediation"), detail=data.get("detail")
        )

    # restart -------------------------------------------------------------------------------------
    def save_prompt(
        self, job_id: str, prompt: dict[str, Any], extra: dict[str, Any], outputs: list[str]
    ) -> None:
        """Keep the API prompt a job was queued with (to queue it again after a restart)."""
        with self.database.begin() as conn:
            exists = conn.execute(select(job_prompts.c.job_id).where(job_prompts.c.job_id == job_id)).first()
            if exists is None:
                conn.execute(
                    job_prompts.insert().values(
                        job_id=job_id,
                        prompt_json=json.dumps(prompt),
                        extra_json=json.dumps(redact_secrets(extra), default=str),
                        outputs_json=json.dumps(list(outputs)),
                        resumes=0,
                        created_at=time.time(),
                    )
                )

    def resumable_jobs(self) -> list[str]:
        """Unfinished jobs of a dead process with a submitted remote request and a kept prompt."""
        with self.database.connect() as conn:
            rows = conn.execute(
                select(jobs.c.job_id, jobs.c.owner_pid)
                .join(remote_requests, remote_requests.c.job_id == jobs.c.job_id)
                .join(job_prompts, job_prompts.c.job_id == jobs.c.job_id)
                .where(jobs.c.status.in_((QUEUED, RUNNING)), remote_requests.c.status == SUBMITTED)
                .distinct()
            ).all()
        return [r.job_id for r in rows if not pid_alive(r.owner_pid)]

    def resume(self, job_ids: list[str], enqueue: Callable[[str, dict, dict, list[str]], None]) -> list[str]:
        """Queue each job's kept prompt again under a fresh prompt id; the remote nodes then re-poll."""
        import uuid

        resumed = []
        for job_id in job_ids:
            with self.database.connect() as conn:
                row = (
                    conn.execute(select(job_prompts).where(job_prompts.c.job_id == job_id)).mappings().first()
                )
            if row is None:
                continue
            prompt_id = str(uuid.uuid4())
            with self.database.begin() as conn:
                changed = conn.execute(
                    update(jobs)
                    .where(jobs.c.job_id == job_id, jobs.c.status.not_in(tuple(FINAL_STATES)))
                    .values(prompt_id=prompt_id, status=QUEUED, owner_pid=os.getpid(), updated_at=time.time())
                ).rowcount
                conn.execute(
                    update(job_prompts)
                    .where(job_prompts.c.job_id == job_id)
                    .values(resumes=job_prompts.c.resumes + 1)
                )
            if not changed:
                continue
            self.store.log(job_id, "warning", "ComfyUI restarted; queued again to re-poll the remote request",
                           prompt_id=prompt_id)  # fmt: skip
            enqueue(prompt_id, json.loads(row["prompt_json"]), json.loads(row["extra_json"]),
                    json.loads(row["outputs_json"]))  # fmt: skip
            resumed.append(job_id)
        return resumed
