"""Set values on a UI-format graph's widgets by input name, using the live node definitions."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..core.errors import AInfError, ErrorCode
from .widgets import widget_names

SEED_INPUTS = frozenset({"seed", "noise_seed"})


def _layout(node: Mapping[str, Any], node_defs: Mapping[str, Any]) -> list[str | None]:
    node_def = node_defs.get(node.get("type", ""))
    if node_def is None:
        raise AInfError(
            ErrorCode.DEPENDENCY_MISSING,
            f"Node type {node.get('type')!r} is not installed in this ComfyUI.",
            detail={"missing_nodes": [node.get("type")]},
        )
    return widget_names(node["type"], node_def)


def set_widget(
    graph: dict[str, Any], node_defs: Mapping[str, Any], node_id: str, name: str, value: Any
) -> None:
    """Write `value` into node `node_id`'s widget `name` (CONTRACT_MISMATCH when the graph disagrees)."""
    node = next((n for n in graph.get("nodes", []) if str(n.get("id")) == str(node_id)), None)
    if node is None:
        raise AInfError(ErrorCode.CONTRACT_MISMATCH, f"The preset graph has no node {node_id}.")
    layout = _layout(node, node_defs)
    if name not in layout:
        raise AInfError(
            ErrorCode.CONTRACT_MISMATCH, f"Node {node_id} ({node.get('type')}) has no widget {name!r}."
        )
    index = layout.index(name)
    values = list(node.get("widgets_values") or []) if isinstance(node.get("widgets_values"), list) else []
    if len(values) <= index:
        values.extend([None] * (index + 1 - len(values)))
    values[index] = value
    node["widgets_values"] = values


def widget_targets(
    graph: dict[str, Any], node_defs: Mapping[str, Any], names: Collection[str]
) -> list[tuple[str, str, Any]]:
    """Every (node id, widget, current value) of the graph's installed nodes whose widget is in `names`."""
    targets = []
    for node in graph.get("nodes", []):
        if node.get("type") not in node_defs:
            continue
        values = node.get("widgets_values") if isinstance(node.get("widgets_values"), list) else []
        for index, name in enumerate(_layout(node, node_defs)):
            if name in names:
                targets.append((str(node["id"]), name, values[index] if index < len(values) else None))
    return targets


def seed_targets(graph: dict[str, Any], node_defs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (node id, input) that holds a seed widget, so a request's `seed` reaches all of them."""
    return [(node_id, name) for node_id, name, _ in widget_targets(graph, node_defs, SEED_INPUTS)]


def fit_seed(seed: int, node_defs: Mapping[str, Any], graph: dict[str, Any], node_id: str, name: str) -> int:
    """A request's seed brought into one seed widget's range (modulo its max + 1), so every node takes it."""
    node = next((n for n in graph.get("nodes", []) if str(n.get("id")) == node_id), None)
    spec = (node_defs.get(node.get("type"), {}) if node else {}).get("input", {})
    options = {**spec.get("optional", {}), **spec.get("required", {})}.get(name, [None, {}])
    maximum = options[1].get("max") if len(options) > 1 and isinstance(options[1], dict) else None
    return seed % (int(maximum) + 1) if isinstance(maximum, (int, float)) and maximum >= 0 else seed
