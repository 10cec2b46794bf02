"""Graph-editor routes: a remote node's price before Run, and what each preset's template card shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ...core.errors import AInfError, ErrorCode
from ...host.app import Sidecar
from ...jobs.presets import PresetCatalog, WorkflowPreset
from ...remote.engines import CAPABILITIES, LOCAL_ENGINE, PROVIDER_NAMES, REMOTE_NODE_TYPES
from ...remote.pricing import node_request
from ...remote.registry import KEYED_PROVIDERS
from ...remote.steps import RemoteSteps
from ..helpers import Endpoints, need


class NodePriceBody(BaseModel):
    """Body of `POST …/nodes/price`: a remote node's type and its widget values by input name."""

    model_config = ConfigDict(extra="forbid")
    node_type: str = Field(min_length=1, max_length=200)
    inputs: dict[str, Any] = {}
    quality_level: Literal["low", "standard", "pro"] = "standard"


class NodePrice(BaseModel):
    """A remote node's price as it would be reserved now."""

    node_type: str
    engine: str  # the engine that would run it (`auto` resolved as at run time)
    engine_name: str
    credits: float
    engine_connected: bool  # False: priced on the first engine that offers it; connect it to run


class Need(BaseModel):
    """One thing a preset needs: a provider key, a model or a node pack (optional: another variant runs)."""

    kind: Literal["key", "model", "node_pack"]
    label: str
    optional: bool


class TemplateCard(BaseModel):
    """What the template browser shows for one preset."""

    id: str
    title: str
    summary: str
    needs: list[Need]
    engines: list[str]


class TemplateCards(BaseModel):
    """`GET …/templates`."""

    templates: list[TemplateCard]


def price_node(remote: RemoteSteps, body: NodePriceBody) -> NodePrice:
    """The price of one remote node with these widget values (VALIDATION_ERROR for values a model refuses)."""
    if body.node_type not in REMOTE_NODE_TYPES:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"{body.node_type!r} is not a remote node.",
            detail={"node_type": body.node_type, "remote_nodes": sorted(REMOTE_NODE_TYPES)},
        )
    capability, fixed = REMOTE_NODE_TYPES[body.node_type]
    chosen = fixed or str(body.inputs.get("engine") or "auto")
    connected = True
    try:
        engine = remote.resolve_engine(chosen, capability)
    except AInfError:  # nothing connected yet: show what the first engine that offers it would cost
        engine = next(e for e in CAPABILITIES[capability].engines if e != LOCAL_ENGINE)
        connected = False
    if engine != LOCAL_ENGINE and connected:
        connected = remote.registry.availability(engine)[0]
    request = node_request(body.node_type, engine, body.inputs)
    return NodePrice(
        node_type=body.node_type,
        engine=engine,
        engine_name=PROVIDER_NAMES.get(engine, engine),
        credits=remote.cost_of(engine, capability, body.quality_level, request),
        engine_connected=connected,
    )


def _engine_need(engine: str, optional: bool) -> Need | None:
    if engine == LOCAL_ENGINE:
        return None
    name = PROVIDER_NAMES.get(engine, engine)
    if engine in KEYED_PROVIDERS:
        return Need(kind="key", label=f"{name} key", optional=optional)
    return Need(kind="node_pack", label=f"{name} nodes", optional=optional)


def preset_needs(catalog: PresetCatalog, preset_id: str) -> list[Need]:
    """Keys, models and node packs a preset needs; a need is optional when another variant runs without it.

    Variants are alternatives: when one runs on this machine, the others' keys and node packs are optional;
    when none does, the first variant's key is required and the rest are alternatives to it.
    """
    variants = catalog.get(preset_id)
    primary = catalog.primary(preset_id)
    order = [e for e in primary.engine_preference if e in variants] + sorted(
        set(variants) - set(primary.engine_preference)
    )
    runs_here = LOCAL_ENGINE in variants
    needs: list[Need] = []
    for index, engine in enumerate(order):
        need_ = _engine_need(engine, optional=runs_here or index > 0)
        if need_ is not None:
            needs.append(need_)
        manifest: WorkflowPreset = variants[engine].manifest
        needs += [Need(kind="model", label=m, optional=len(order) > 1) for m in manifest.required_models]
    # engines an `auto` node of the graph may use besides its variants' own (a remote step of a local graph)
    for engine in primary.engine_preference:
        if engine not in variants:
            extra = _engine_need(engine, optional=True)
            needs += [extra] if extra is not None else []
    return needs


def card_summary(manifest: WorkflowPreset) -> str:
    """The manifest's one-line summary, else its description's first clause."""
    if manifest.summary:
        return manifest.summary
    first = manifest.description.split(". ")[0].split("; ")[0].rstrip(".")
    return first if len(first) <= 100 else first[:97].rsplit(" ", 1)[0] + " …"


PRICE_SUMMARY = (
    "The credits a remote node would reserve with these widget values (shown on the node before Run)"
)


def register(routes: web.RouteTableDef, get_sidecar: Callable[[], Sidecar]) -> None:
    """Add the graph-editor routes."""

    api = Endpoints(routes)

    @api.post("/nodes/price", PRICE_SUMMARY, body=NodePriceBody, answer=NodePrice)
    async def node_price(_request: web.Request, body: NodePriceBody) -> dict:
        return price_node(need(get_sidecar().remote, "remote step runner"), body).model_dump()

    @api.get(
        "/templates", "Title, one-line summary and needs of each preset's template card", answer=TemplateCards
    )
    async def templates(_request: web.Request) -> dict:
        catalog = get_sidecar().catalog
        cards = []
        for preset_id in catalog.ids():
            manifest = catalog.primary(preset_id)
            cards.append(
                TemplateCard(
                    id=preset_id,
                    title=manifest.name,
                    summary=card_summary(manifest),
                    needs=preset_needs(catalog, preset_id),
                    engines=sorted(catalog.get(preset_id)),
                )
            )
        return TemplateCards(templates=cards).model_dump()
