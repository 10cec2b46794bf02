"""Character routes: characters, their reference photos and consent records."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ...host.app import Sidecar
from ...jobs.characters import CharacterCreate, CharacterStore, ConsentCreate, ReferenceAdd
from ..helpers import PAGING, Endpoints, int_query, need
from ..schemas import CharacterAnswer, CharactersAnswer


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the character and consent routes."""

    api = Endpoints(routes)

    def characters() -> CharacterStore:
        return need(get_sidecar().characters, "character store")

    @api.get("/characters", "List characters", query=PAGING, answer=CharactersAnswer)
    async def list_characters(request: web.Request) -> dict:
        limit = int_query(request, "limit", 50, 1, 500)
        return characters().list(limit, int_query(request, "offset", 0, 0, 10**9))

    @api.post("/characters", "Create a character", body=CharacterCreate, answer=CharacterAnswer, status=201)
    async def create_character(_request: web.Request, body: CharacterCreate) -> dict:
        return characters().create(body)

    @api.get(
        "/characters/{character_id}",
        "One character with references and consent records",
        answer=CharacterAnswer,
    )
    async def get_character(request: web.Request) -> dict:
        return characters().get(request.match_info["character_id"])

    @api.delete(
        "/characters/{character_id}",
        "Delete a character and its reference list (consent records are kept for the audit trail)",
    )
    async def delete_character(request: web.Request) -> dict:
        return characters().delete(request.match_info["character_id"])

    @api.post(
        "/characters/{character_id}/references",
        "Attach an uploaded reference image",
        body=ReferenceAdd,
        answer=CharacterAnswer,
    )
    async def add_reference(request: web.Request, body: ReferenceAdd) -> dict:
        return characters().add_reference(request.match_info["character_id"], body)

    @api.post(
        "/characters/{character_id}/consent",
        "Record consent with the checklist answers",
        body=ConsentCreate,
        answer=CharacterAnswer,
    )
    async def add_consent(request: web.Request, body: ConsentCreate) -> dict:
        return characters().add_consent(request.match_info["character_id"], body)
