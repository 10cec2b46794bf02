"""The credit ledger: the user's budget, reserve → post (≤ estimate) → void per (job, step), exactly once.

Amounts are integer thousandths of a credit. Every write runs in a `BEGIN IMMEDIATE` transaction, the
account row has `CHECK(available >= 0)`, and partial unique indexes let a reservation exist once per
(job, step) and resolve (post or void) once, so a retry or a replay never charges twice.

A reservation whose provider submit is in doubt (the job may exist and be billed) is marked so on its pending
line: it stays pending through the job's end and start-up reconciliation until a poll of the job posts it
or the user voids it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..core.clock import iso_utc
from ..core.errors import AInfError, ErrorCode
from ..core.storage import jobs, ledger_account, ledger_transfers, open_ledger_engine
from ..jobs.presets import WorkflowPreset
from ..jobs.store import CANCELLED, COMPLETED, FAILED, JobStore
from .cost_table import DEFAULT_COST_TABLE, MODEL_PRICES, PricedRequest, model_price
from .step_ids import is_node_step

MILLI = 1000
MAX_CREDITS = 1_000_000_000
COST_TABLE_FILE = "cost_table.json"
DEFAULT_STEP = "run"
IN_DOUBT = "submit in doubt"  # the reason of a pending line kept held until its job is known


def to_milli(credits: float) -> int:
    """Credits → integer thousandths (rounded up, so a reservation never undershoots)."""
    return int(-(-round(credits * MILLI * 1000) // 1000))


def from_milli(milli: int) -> float:
    """Integer thousandths → credits."""
    return round(milli / MILLI, 3)


class CostEntry(BaseModel):
    """One cost-table row: credits per run of an engine × operation × quality."""

    model_config = ConfigDict(extra="forbid")
    engine: str = Field(min_length=1, max_length=64)
    operation: str = Field(min_length=1, max_length=200)
    quality: Literal["low", "standard", "pro", "*"] = "*"
    credits: float = Field(ge=0, le=MAX_CREDITS)
    assumed: bool = True
    source: str = ""
    basis: str = ""


class CostTableFile(BaseModel):
    """`<data dir>/cost_table.json`."""

    model_config = ConfigDict(extra="forbid")
    entries: list[CostEntry]


def load_cost_table(folder: Path) -> list[CostEntry]:
    """Defaults overridden by the user's file (same engine, operation and quality replace a row)."""
    table = {(e.engine, e.operation, e.quality): e for e in map(CostEntry.model_validate, DEFAULT_COST_TABLE)}
    for entry in load_user_rows(folder):
        table[(entry.engine, entry.operation, entry.quality)] = entry
    return list(table.values())


def load_user_rows(folder: Path) -> list[CostEntry]:
    """The rows of the user's own cost table file (none when there is no file)."""
    path = Path(folder) / COST_TABLE_FILE
    if path.is_file():
        try:
            override = CostTableFile.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError, OSError) as exc:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"The cost table {path.name} is not valid.",
                remediation=[f"Fix or delete {path}."],
                detail=str(exc)[:1000],
            ) from None
        return list(override.entries)
    return []


class CreditLedger:
    """Budget, reservations and spending; implements the pipeline's CostEstimator seam."""

    def __init__(self, engine: Engine, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.engine = open_ledger_engine(engine)
        self.folder = Path(folder)
        self.clock = clock
        self.cost_table = load_cost_table(self.folder)
        self.user_rows = load_user_rows(self.folder)
        with self.engine.begin() as conn:
            if conn.execute(select(ledger_account.c.id)).first() is None:
                conn.execute(
                    ledger_account.insert().values(
                        id=1, available_milli=0, pending_milli=0, updated_at=self.clock()
                    )
                )

    # pricing -------------------------------------------------------------------------------------
    def find_cost(self, engine: str, operations: list[str], quality: str) -> CostEntry | None:
        """The most specific cost-table row for an engine, the first matching operation, and a quality."""
        for operation in [*operations, "*"]:
            for q in (quality, "*"):
                for entry in self.cost_table:
                    if (entry.engine, entry.operation, entry.quality) == (engine, operation, q):
                        return entry
        return None

    def calculate_cost(self, engine: str, operation: str, quality: str = "standard") -> float:
        """Credits one run of `operation` on `engine` at `quality` costs (DEPENDENCY_MISSING if unpriced)."""
        entry = self.find_cost(engine, [operation], quality)
        if entry is None:
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"There is no price for {operation} on {engine} at {quality} quality.",
                remediation=[f"Add a row for it to {self.folder / COST_TABLE_FILE}."],
                detail={"engine": engine, "operation": operation, "quality": quality},
            )
        return entry.credits

    def price(self, request: PricedRequest, operation: str, quality: str = "standard") -> float:
        """Credits a request as sent costs: the user's row, else the model's rate, else the per-run table."""
        operations = (f"model:{request.model}", operation)
        keys = [(request.engine, op, q) for op in operations for q in (quality, "*")]
        for key in keys:
            for entry in self.user_rows:
                if (entry.engine, entry.operation, entry.quality) == key:
                    return entry.credits
        published = model_price(request)
        return published if published is not None else self.calculate_cost(request.engine, operation, quality)

    def estimate(self, preset: WorkflowPreset, quality_level: str) -> float:
        """CostEstimator seam: a row for `preset:<id>` wins, then the preset's category, then `*`."""
        entry = self.find_cost(preset.engine, [f"preset:{preset.id}", preset.category], quality_level)
        if entry is None:
            return self.calculate_cost(preset.engine, preset.category, quality_level)
        return entry.credits

    # balances ------------------------------------------------------------------------------------
    def _account(self, conn: Connection) -> Any:
        return conn.execute(select(ledger_account).where(ledger_account.c.id == 1).with_for_update()).one()

    def _insert(self, conn: Connection, **values: Any) -> None:
        conn.execute(ledger_transfers.insert().values(created_at=self.clock(), **values))

    def _move(self, conn: Connection, available: int, pending: int) -> None:
        acct = self._account(conn)
        conn.execute(
            ledger_account.update()
            .where(ledger_account.c.id == 1)
            .values(
                available_milli=acct.available_milli + available,
                pending_milli=acct.pending_milli + pending,
                updated_at=self.clock(),
            )
        )

    def balance(self) -> dict[str, Any]:
        """Available and pending credits, spending by provider, and the budget history's last entry."""
        with self.engine.connect() as conn:
            acct = conn.execute(select(ledger_account).where(ledger_account.c.id == 1)).one()
            t = ledger_transfers
            spent: dict[str, int] = {}
            rows = conn.execute(
                select(t.c.engine, t.c.kind, func.sum(t.c.amount_milli))
                .where(t.c.kind.in_(("post", "single", "refund")))
                .group_by(t.c.engine, t.c.kind)
            )
            for engine, kind, total in rows:
                sign = -1 if kind == "refund" else 1
                spent[engine or "unknown"] = spent.get(engine or "unknown", 0) + sign * int(total or 0)
            budget = conn.execute(
                select(t.c.amount_milli, t.c.created_at)
                .where(t.c.kind == "budget")
                .order_by(t.c.created_at.desc(), t.c.id.desc())
                .limit(1)
            ).first()
        return {
            "available": from_milli(acct.available_milli),
            "pending": from_milli(acct.pending_milli),
            "spent_by_provider": {k: from_milli(v) for k, v in sorted(spent.items())},
            "budget": from_milli(budget.amount_milli) if budget else None,
            "budget_set_at": iso_utc(budget.created_at) if budget else None,
            "unit": "credit (1 credit = 1 USD in the default cost table)",
        }

    def set_budget(self, credits: float) -> dict[str, Any]:
        """Set the available balance to `credits` (pending reservations stay); the change is kept."""
        amount = to_milli(credits)
        with self.engine.begin() as conn:
            acct = self._account(conn)
            n = conn.execute(select(func.count()).select_from(ledger_transfers)).scalar() or 0
            self._insert(
                conn,
                id=f"budget:{n}:{self.clock():.6f}",
                kind="budget",
                amount_milli=amount,
                reason=f"available {from_milli(acct.available_milli)} -> {from_milli(amount)}",
            )
            self._move(conn, amount - acct.available_milli, 0)
        return self.balance()

    # two-phase transfers ---------------------------------------------------------------------------
    @staticmethod
    def _pending_id(job_id: str, step_id: str) -> str:
        return f"{job_id}:{step_id}:reserve"

    def _require_available(self, conn: Connection, amount: int, **detail: Any) -> None:
        """INSUFFICIENT_FUNDS unless `amount` thousandths are available (checked inside the write)."""
        acct = self._account(conn)
        if acct.available_milli < amount:
            raise AInfError(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"This run needs {from_milli(amount)} credits; {from_milli(acct.available_milli)} are "
                "available. Nothing was queued or charged.",
                detail={
                    "needed": from_milli(amount),
                    "available": from_milli(acct.available_milli),
                    "pending": from_milli(acct.pending_milli),
                    **detail,
                },
            )

    def reserve(self, job_id: str, credits: float, engine: str, step_id: str = DEFAULT_STEP) -> str:
        """Hold `credits` for (job, step); INSUFFICIENT_FUNDS when they are not available. Idempotent."""
        amount = to_milli(credits)
        pending_id = self._pending_id(job_id, step_id)
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(ledger_transfers).where(ledger_transfers.c.id == pending_id)
            ).first()
            if existing is not None:
                settled = conn.execute(
                    select(ledger_transfers.c.kind).where(ledger_transfers.c.pending_id == pending_id)
                ).scalar()
                if settled is not None:  # a held-then-settled step never runs again for free
                    raise AInfError(
                        ErrorCode.VALIDATION_ERROR,
                        f"This job step's reservation was already settled ({settled}).",
                        remediation=["Run the preset again as a new job."],
                        detail={"job_id": job_id, "step_id": step_id},
                    )
                if existing.amount_milli != amount:
                    raise AInfError(
                        ErrorCode.VALIDATION_ERROR,
                        "This job step already holds a reservation of a different amount.",
                        detail={"job_id": job_id, "step_id": step_id},
                    )
                return pending_id
            self._require_available(conn, amount)
            self._insert(
                conn,
                id=pending_id,
                kind="pending",
                job_id=job_id,
                step_id=step_id,
                engine=engine,
                amount_milli=amount,
            )
            self._move(conn, -amount, amount)
        return pending_id

    def raise_hold(self, job_id: str, step_id: str, credits: float) -> None:
        """Grow an open reservation to `credits` (INSUFFICIENT_FUNDS when the difference is not available)."""
        amount, pending_id = to_milli(credits), self._pending_id(job_id, step_id)
        with self.engine.begin() as conn:
            held = conn.execute(
                select(ledger_transfers.c.amount_milli).where(ledger_transfers.c.id == pending_id)
            ).scalar()
            settled = conn.execute(
                select(ledger_transfers.c.id).where(ledger_transfers.c.pending_id == pending_id)
            ).first()
            if held is None or settled is not None or held >= amount:
                return
            self._require_available(conn, amount - held, job_id=job_id, step_id=step_id)
            conn.execute(
                ledger_transfers.update()
                .where(ledger_transfers.c.id == pending_id)
                .values(amount_milli=amount)
            )
            self._move(conn, held - amount, amount - held)

    def reserve_steps(self, job_id: str, steps: list[tuple[str, float, str]]) -> None:
        """Hold credits for several (step_id, credits, engine) of one job at once: all or nothing."""
        total = sum(to_milli(credits) for _step, credits, _engine in steps)
        with self.engine.begin() as conn:
            self._require_available(conn, total, steps=[step for step, _c, _e in steps])
            for step_id, credits, engine in steps:
                self._insert(
                    conn,
                    id=self._pending_id(job_id, step_id),
                    kind="pending",
                    job_id=job_id,
                    step_id=step_id,
                    engine=engine,
                    amount_milli=to_milli(credits),
                )
            self._move(conn, -total, total)

    def _resolve(self, job_id: str, step_id: str, kind: str, actual: float | None, reason: str) -> bool:
        pending_id = self._pending_id(job_id, step_id)
        try:
            with self.engine.begin() as conn:
                pending = conn.execute(
                    select(ledger_transfers).where(
                        ledger_transfers.c.id == pending_id, ledger_transfers.c.kind == "pending"
                    )
                ).first()
                if pending is None:
                    return False
                done = conn.execute(
                    select(ledger_transfers.c.id).where(ledger_transfers.c.pending_id == pending_id)
                ).first()
                if done is not None:
                    return False
                held = pending.amount_milli
                charged = 0 if kind == "void" else min(held, to_milli(actual) if actual is not None else held)
                self._insert(
                    conn,
                    id=f"{job_id}:{step_id}:{kind}",
                    kind=kind,
                    job_id=job_id,
                    step_id=step_id,
                    engine=pending.engine,
                    amount_milli=charged if kind == "post" else held,
                    pending_id=pending_id,
                    reason=reason[:500],
                )
                self._move(conn, held - charged, -held)
                # the job's credit_cost becomes what it was actually charged
                posted = conn.execute(
                    select(func.sum(ledger_transfers.c.amount_milli)).where(
                        ledger_transfers.c.job_id == job_id, ledger_transfers.c.kind == "post"
                    )
                ).scalar()
                conn.execute(
                    jobs.update()
                    .where(jobs.c.job_id == job_id)
                    .values(credit_cost=from_milli(int(posted or 0)))
                )
        except IntegrityError:
            return False  # another writer resolved it first
        return True

    def post(self, job_id: str, step_id: str = DEFAULT_STEP, actual: float | None = None) -> bool:
        """Charge the reservation (the actual cost, at most the reserved amount); True if this call did."""
        return self._resolve(job_id, step_id, "post", actual, "completed")

    def void(self, job_id: str, step_id: str = DEFAULT_STEP, reason: str = "") -> bool:
        """Release the reservation in full; True if this call did."""
        return self._resolve(job_id, step_id, "void", None, reason or "released")

    def held(self, job_id: str, step_id: str = DEFAULT_STEP) -> float | None:
        """Credits a step's open reservation holds, or None (none made, or already posted or voided)."""
        if (job_id, step_id) not in self.unresolved(job_id):
            return None
        with self.engine.connect() as conn:
            amount = conn.execute(
                select(ledger_transfers.c.amount_milli).where(
                    ledger_transfers.c.id == self._pending_id(job_id, step_id)
                )
            ).scalar()
        return from_milli(int(amount or 0))

    def unresolved(self, job_id: str | None = None) -> list[tuple[str, str]]:
        """(job_id, step_id) of reservations neither posted nor voided."""
        t = ledger_transfers
        resolved = select(t.c.pending_id).where(t.c.kind.in_(("post", "void")), t.c.pending_id.is_not(None))
        query = select(t.c.job_id, t.c.step_id).where(t.c.kind == "pending", t.c.id.not_in(resolved))
        if job_id is not None:
            query = query.where(t.c.job_id == job_id)
        with self.engine.connect() as conn:
            return [(r.job_id, r.step_id) for r in conn.execute(query)]

    def mark_in_doubt(self, job_id: str, step_id: str, why: str) -> bool:
        """Keep a step's open reservation held: its submit may have created a billed job. True if marked.

        The mark is the pending line's reason (its amounts never change), shown in the ledger listing.
        """
        t = ledger_transfers
        if (job_id, step_id) not in self.unresolved(job_id):
            return False
        with self.engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == self._pending_id(job_id, step_id), t.c.kind == "pending")
                .values(reason=f"{IN_DOUBT}: {why}"[:500])
            )
        return True

    def in_doubt(self, job_id: str | None = None) -> list[tuple[str, str]]:
        """(job_id, step_id) of open reservations kept for a submit in doubt (see `mark_in_doubt`)."""
        t = ledger_transfers
        query = select(t.c.job_id, t.c.step_id).where(t.c.kind == "pending", t.c.reason.startswith(IN_DOUBT))
        if job_id is not None:
            query = query.where(t.c.job_id == job_id)
        with self.engine.connect() as conn:
            marked = {(r.job_id, r.step_id) for r in conn.execute(query)}
        return [step for step in self.unresolved(job_id) if step in marked]

    def release_in_doubt(self, job_id: str, step_id: str) -> None:
        """Void a hold kept for a submit in doubt, once the user found no such job at the provider."""
        if (job_id, step_id) not in self.in_doubt(job_id):
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "This job step holds no credits for a submit in doubt.",
                remediation=["Holds in doubt are the pending ledger lines whose reason starts with "
                             f"'{IN_DOUBT}' (GET /ainfluencer/v1/credits/ledger)."],
                detail={"job_id": job_id, "step_id": step_id},
            )  # fmt: skip
        self.void(job_id, step_id, reason="released by the user: the provider shows no such job")

    def settle_job(self, job_id: str, status: str) -> None:
        """JobStore final hook: completed → post the job's own steps; failed or cancelled → void them.

        Remote node steps (`node:…`) post themselves with the provider's cost when their call succeeds; one
        still open when the job ends never ran to a result (cached, skipped or failed), so it is voided,
        unless its submit is in doubt: that hold stays until it is resolved.
        """
        kept = set(self.in_doubt(job_id))
        for _job, step in self.unresolved(job_id):
            if (job_id, step) in kept:
                continue
            if status == COMPLETED and not is_node_step(step):
                self.post(job_id, step)
            else:
                self.void(job_id, step, reason=f"job {status}")

    def reconcile(self, store: JobStore) -> dict[str, int]:
        """Start-up: resolve reservations a crash left open (run after failing orphaned jobs)."""
        counts = {"posted": 0, "voided": 0, "kept": 0}
        kept = set(self.in_doubt())
        for job_id, step in self.unresolved():
            if (job_id, step) in kept:  # a submit in doubt: only a poll of the job or the user resolves it
                counts["kept"] += 1
                continue
            try:
                status = store.get(job_id)["status"]
            except AInfError:
                status = None  # crashed between reserving and recording the job: nothing was queued
            if status == COMPLETED:
                counts["posted"] += self.post(job_id, step)
            elif status in (FAILED, CANCELLED, None):
                counts["voided"] += self.void(job_id, step, reason="reconciled at start-up")
            else:
                counts["kept"] += 1
        return counts

    def transfers(self, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """The ledger, newest first."""
        t = ledger_transfers
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit).offset(offset)
            ).mappings()
            items = [
                {
                    "id": r["id"],
                    "kind": r["kind"],
                    "job_id": r["job_id"],
                    "step_id": r["step_id"],
                    "engine": r["engine"],
                    "credits": from_milli(r["amount_milli"]),
                    "reserve_id": r["pending_id"],
                    "reason": r["reason"],
                    "created_at": iso_utc(r["created_at"]),
                }
                for r in rows
            ]
            total = conn.execute(select(func.count()).select_from(t)).scalar() or 0
        return {"transfers": items, "total": total}

    def cost_table_dump(self) -> list[dict[str, Any]]:
        """The effective cost table; `user_row` marks the rows the user's own file set."""
        mine = {(e.engine, e.operation, e.quality) for e in self.user_rows}
        return [
            {**json.loads(e.model_dump_json()), "user_row": (e.engine, e.operation, e.quality) in mine}
            for e in self.cost_table
        ]

    def model_prices_dump(self) -> list[dict[str, Any]]:
        """The published per-model rates a remote request is priced from, with their sources."""
        return [asdict(p) for p in MODEL_PRICES]
