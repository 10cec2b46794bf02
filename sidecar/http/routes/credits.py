"""Credit routes: balance, ledger lines, the cost table, the budget."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...billing.ledger import CreditLedger
from ...host.app import Sidecar
from ..helpers import endpoint, int_query, json_body, need
from ..schemas import BudgetBody, CreditsAnswer


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the credit routes."""

    def ledger() -> CreditLedger:
        return need(get_sidecar().ledger, "credit ledger")

    @endpoint(routes, "GET", "/credits", "Balance, pending and spending by provider", answer=CreditsAnswer)
    async def credits(_request: web.Request) -> dict:
        return ledger().balance()

    @endpoint(routes, "GET", "/credits/ledger", "Ledger transfers, newest first (limit, offset)")
    async def credit_ledger(request: web.Request) -> dict:
        limit = int_query(request, "limit", 100, 1, 1000)
        return ledger().transfers(limit, int_query(request, "offset", 0, 0, 10**9))

    @endpoint(routes, "GET", "/credits/cost-table", "The effective cost table (assumed rows are marked)")
    async def cost_table(_request: web.Request) -> dict:
        return {"entries": ledger().cost_table_dump()}

    @endpoint(
        routes, "POST", "/credits/budget", "Set the available balance", body=BudgetBody, answer=CreditsAnswer
    )
    async def set_budget(request: web.Request) -> dict:
        body = BudgetBody.model_validate(await json_body(request))
        return ledger().set_budget(body.credits)
