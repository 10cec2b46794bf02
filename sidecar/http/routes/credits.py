"""Credit routes: balance, ledger lines, the cost table, the budget, releasing a hold in doubt."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...billing.ledger import COST_TABLE_FILE, CreditLedger
from ...host.app import Sidecar
from ..helpers import PAGING, Endpoints, int_query, need
from ..schemas import BudgetBody, CreditsAnswer, ReleaseHoldBody


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the credit routes."""

    api = Endpoints(routes)

    def ledger() -> CreditLedger:
        return need(get_sidecar().ledger, "credit ledger")

    @api.get("/credits", "Balance, pending and spending by provider", answer=CreditsAnswer)
    async def credits(_request: web.Request) -> dict:
        return ledger().balance()

    @api.get("/credits/ledger", "Ledger transfers, newest first (limit, offset)", query=PAGING)
    async def credit_ledger(request: web.Request) -> dict:
        limit = int_query(request, "limit", 100, 1, 1000)
        return ledger().transfers(limit, int_query(request, "offset", 0, 0, 10**9))

    @api.get(
        "/credits/cost-table",
        "The effective cost table and the per-model rates, each with its source (assumed prices are marked)",
    )
    async def cost_table(_request: web.Request) -> dict:
        book = ledger()
        return {
            "entries": book.cost_table_dump(),
            "model_prices": book.model_prices_dump(),
            "user_file": str(book.folder / COST_TABLE_FILE),
        }

    @api.post("/credits/budget", "Set the available balance", body=BudgetBody, answer=CreditsAnswer)
    async def set_budget(request: web.Request, body: BudgetBody) -> dict:
        return ledger().set_budget(body.credits)

    release = "Release the credits held for a remote submit in doubt, once its provider shows no such job"

    @api.post("/credits/holds/release", release, body=ReleaseHoldBody, answer=CreditsAnswer)
    async def release_hold(request: web.Request, body: ReleaseHoldBody) -> dict:
        ledger().release_in_doubt(body.job_id, body.step_id)
        return ledger().balance()
