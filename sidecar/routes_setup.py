"""Routes for providers and keys, credits, characters and consent, health, diagnostics, analytics, OpenAPI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .characters import CharacterCreate, ConsentCreate, ReferenceAdd
from .errors import AInfError, ErrorCode
from .health import analytics_summary, diagnostics, healthcheck
from .openapi import BudgetBody, ConnectBody, EmptyBody, openapi_document
from .pipeline import RunRequest
from .routes import PREFIX, _int_query, guarded, json_body
from .service import Sidecar, pack_version


def _need(value: Any, what: str) -> Any:
    if value is None:
        raise AInfError(ErrorCode.DEPENDENCY_MISSING, f"The {what} is not set up in this process.")
    return value


def register_setup_routes(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the Setup Hub's routes."""

    def registry():
        return _need(get_sidecar().registry, "provider registry")

    def ledger():
        return _need(get_sidecar().ledger, "credit ledger")

    def characters():
        return _need(get_sidecar().characters, "character store")

    # providers and keys ---------------------------------------------------------------------------
    @routes.get(f"{PREFIX}/providers")
    @guarded
    async def list_providers(_request: web.Request) -> web.Response:
        return web.json_response({"providers": registry().list_providers()})

    @routes.post(PREFIX + "/providers/{provider_id}/connect")
    @guarded
    async def connect_provider(request: web.Request) -> web.Response:
        body = ConnectBody.model_validate(await json_body(request))
        result = await registry().connect(request.match_info["provider_id"], body.api_key)
        return web.json_response(result)

    @routes.post(PREFIX + "/providers/{provider_id}/test")
    @guarded
    async def test_provider(request: web.Request) -> web.Response:
        EmptyBody.model_validate(await json_body(request))
        return web.json_response(await registry().test_provider(request.match_info["provider_id"]))

    @routes.post(PREFIX + "/providers/{provider_id}/disconnect")
    @guarded
    async def disconnect_provider(request: web.Request) -> web.Response:
        EmptyBody.model_validate(await json_body(request))
        return web.json_response(registry().disconnect(request.match_info["provider_id"]))

    # credits --------------------------------------------------------------------------------------
    @routes.get(f"{PREFIX}/credits")
    @guarded
    async def credits(_request: web.Request) -> web.Response:
        return web.json_response(ledger().balance())

    @routes.get(f"{PREFIX}/credits/ledger")
    @guarded
    async def credit_ledger(request: web.Request) -> web.Response:
        limit = _int_query(request, "limit", 100, 1, 1000)
        offset = _int_query(request, "offset", 0, 0, 10**9)
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

    @routes.post(PREFIX + "/presets/{preset_id}/estimate")
    @guarded
    async def estimate(request: web.Request) -> web.Response:
        body = RunRequest.model_validate(await json_body(request))
        return web.json_response(get_sidecar().pipeline.estimate(request.match_info["preset_id"], body))

    # characters and consent -----------------------------------------------------------------------
    @routes.get(f"{PREFIX}/characters")
    @guarded
    async def list_characters(request: web.Request) -> web.Response:
        limit = _int_query(request, "limit", 50, 1, 500)
        offset = _int_query(request, "offset", 0, 0, 10**9)
        return web.json_response(characters().list(limit, offset))

    @routes.post(f"{PREFIX}/characters")
    @guarded
    async def create_character(request: web.Request) -> web.Response:
        body = CharacterCreate.model_validate(await json_body(request))
        return web.json_response(characters().create(body), status=201)

    @routes.get(PREFIX + "/characters/{character_id}")
    @guarded
    async def get_character(request: web.Request) -> web.Response:
        return web.json_response(characters().get(request.match_info["character_id"]))

    @routes.post(PREFIX + "/characters/{character_id}/references")
    @guarded
    async def add_reference(request: web.Request) -> web.Response:
        body = ReferenceAdd.model_validate(await json_body(request))
        return web.json_response(characters().add_reference(request.match_info["character_id"], body))

    @routes.post(PREFIX + "/characters/{character_id}/consent")
    @guarded
    async def add_consent(request: web.Request) -> web.Response:
        body = ConsentCreate.model_validate(await json_body(request))
        return web.json_response(characters().add_consent(request.match_info["character_id"], body))

    @routes.get(PREFIX + "/jobs/{job_id}/consent")
    @guarded
    async def job_consent(request: web.Request) -> web.Response:
        job = get_sidecar().store.get(request.match_info["job_id"])
        records = characters().consents_for_job(job["job_id"])
        return web.json_response(
            {"job_id": job["job_id"], "consent_given": job["consent_given"], "records": records}
        )

    # health, diagnostics, analytics, OpenAPI -------------------------------------------------------
    @routes.get(f"{PREFIX}/setup/healthcheck")
    @guarded
    async def health(_request: web.Request) -> web.Response:
        return web.json_response(await healthcheck(get_sidecar()))

    @routes.get(f"{PREFIX}/setup/diagnostics")
    @guarded
    async def diagnostics_bundle(request: web.Request) -> web.Response:
        bundle = await diagnostics(get_sidecar())
        response = web.json_response(bundle, dumps=lambda d: json.dumps(d, indent=1, default=str))
        if request.query.get("download") in ("1", "true"):
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            response.headers["Content-Disposition"] = (
                f'attachment; filename="ainfluencer-diagnostics-{stamp}.json"'
            )
        return response

    @routes.get(f"{PREFIX}/analytics/summary")
    @guarded
    async def analytics(_request: web.Request) -> web.Response:
        return web.json_response(analytics_summary(get_sidecar()))

    @routes.get(f"{PREFIX}/openapi.json")
    @guarded
    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(openapi_document(PREFIX, pack_version()))
