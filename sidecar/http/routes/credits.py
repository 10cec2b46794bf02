"""Credit routes: balance, ledger lines, the cost table, the budget."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...billing.ledger import CreditLedger
from ...host.app import Sidecar
from ..helpers import PREFIX, guarded, int_query, json_body, need
from ..openapi import BudgetBody


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the credit routes."""

    def ledger() -> CreditLedger:
        return need(get_sidecar().ledger, "credit ledger")

    @routes.get(f"{PREFIX}/credits")
    @guarded
    async def credits(_request: web.Request) -> web.Response:
        return web.json_response(ledger().balance())

    @routes.get(f"{PREFIX}/credits/ledger")
    @guarded
    async def credit_ledger(request: web.Request) -> web.Response:
        limit = int_query(request, "limit", 100, 1, 1000)
        offset = int_query(request, "offset", 0, 0, 10**9)
        return web.json_response(ledger().transfers(limit, offset))

    @routes.get(f"{PREFIX}/credits/cost-table")
    @guarded
    async def cost_table(_request: web.Request) -> web.Response:
        return web.json_response({"entries": ledger().cost_table_dump()})

    @routes.post(f"{PREFIX}/credits/budget")
    @guarded
    async def set_budget(request: web.Request) -> web.Response:
        body = BudgetBody.model_validate(await json_body(request))
        return web.json_response(ledger().set_budget(body.credits))
