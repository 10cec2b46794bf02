"""Character routes: characters, their reference photos, consent records and a job's consent."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...jobs.characters import CharacterCreate, CharacterStore, ConsentCreate, ReferenceAdd
from ..helpers import PREFIX, guarded, int_query, json_body, need


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the character and consent routes."""

    def characters() -> CharacterStore:
        return need(get_sidecar().characters, "character store")

    @routes.get(f"{PREFIX}/characters")
    @guarded
    async def list_characters(request: web.Request) -> web.Response:
        limit = int_query(request, "limit", 50, 1, 500)
        offset = int_query(request, "offset", 0, 0, 10**9)
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
