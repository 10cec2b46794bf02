"""A variant built on a user-installed node pack: DEPENDENCY_MISSING naming the pack, and its licence trap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import AInfError
from ..graph.convert import VIRTUAL_TITLES
from .ports import NodePackAdvice


def graph_node_types(graph: Mapping[str, Any]) -> set[str]:
    """The node classes a UI-format graph uses (editor-only nodes such as Note left out)."""
    types = {str(n.get("type")) for n in graph.get("nodes", []) if isinstance(n, dict)}
    return types - set(VIRTUAL_TITLES)


def pack_node_types(advice: NodePackAdvice | None, graph: Mapping[str, Any]) -> set[str]:
    """The graph's node classes plus the pack nodes our nodes in it call from inside."""
    types = graph_node_types(graph)
    return types | advice.called_nodes(types) if advice is not None else types


def require_node_packs(
    advice: NodePackAdvice | None, graph: Mapping[str, Any], registered: Mapping[str, Any], others: list[str]
) -> None:
    """Refuse a graph whose pack nodes are not registered: the pack's repo, its weights, its licence.

    `others` names the engines of the preset's other variants, offered as the way round it.
    """
    missing = pack_node_types(advice, graph) - set(registered)
    error = advice.missing_nodes_error(missing) if advice is not None and missing else None
    if error is None:
        return  # unknown nodes are refused later, by name, when the graph is bound
    steps = list(error.remediation or [])
    if others:
        steps.append(f"Or connect {', '.join(others)} in Setup to run the preset's remote variant.")
    detail = {**(error.detail if isinstance(error.detail, dict) else {}), "missing_nodes": sorted(missing)}
    raise AInfError(error.code, error.message, remediation=steps, detail=detail)


def licence_warnings(advice: NodePackAdvice | None, graph: Mapping[str, Any]) -> list[str]:
    """The licence traps of the node packs a run's graph uses, logged as the run's warnings."""
    return advice.licence_notes(pack_node_types(advice, graph)) if advice is not None else []
