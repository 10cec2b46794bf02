"""Set values on a UI-format graph's widgets by input name, using the live node definitions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import AInfError, ErrorCode

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_INPUTS = frozenset({"seed", "noise_seed"})


def is_widget_spec(spec: Any) -> bool:
    """True when an /object_info input spec is shown as a widget rather than a socket."""
    kind = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
    return isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES


def has_control_widget(name: str, spec: Any) -> bool:
    """True when the frontend stores a 'control after generate' entry after this widget's value."""
    options = (
        spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
    )
    if "control_after_generate" in options:
        return bool(options["control_after_generate"])
    kind = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
    return kind == "INT" and name in SEED_INPUTS


def has_upload_widget(spec: Any) -> bool:
    """True when the frontend adds an upload button whose value follows this widget's value."""
    options = (
        spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
    )
    return any(
        options.get(key) for key in ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
    )


def widget_layout(node_def: Mapping[str, Any]) -> list[str | None]:
    """Input names in `widgets_values` order; None marks a frontend-only entry."""
    layout: list[str | None] = []
    inputs = node_def.get("input", {})
    for section in ("required", "optional"):
        specs = inputs.get(section) or {}
        for name in node_def.get("input_order", {}).get(section, list(specs)):
            spec = specs.get(name)
            if spec is None or not is_widget_spec(spec):
                continue
            layout.append(name)
            if has_control_widget(name, spec) or has_upload_widget(spec):
                layout.append(None)
    return layout


def set_widget(
    graph: dict[str, Any], node_defs: Mapping[str, Any], node_id: str, name: str, value: Any
) -> None:
    """Write `value` into node `node_id`'s widget `name` (CONTRACT_MISMATCH when the graph disagrees)."""
    node = next((n for n in graph.get("nodes", []) if str(n.get("id")) == str(node_id)), None)
    if node is None:
        raise AInfError(ErrorCode.CONTRACT_MISMATCH, f"The preset graph has no node {node_id}.")
    values = node.get("widgets_values")
    if isinstance(values, dict):
        values[name] = value
        return
    node_def = node_defs.get(node.get("type", ""))
    if node_def is None:
        raise AInfError(
            ErrorCode.DEPENDENCY_MISSING,
            f"Node type {node.get('type')!r} is not installed in this ComfyUI.",
            detail={"missing_nodes": [node.get("type")]},
        )
    layout = widget_layout(node_def)
    if name not in layout:
        raise AInfError(
            ErrorCode.CONTRACT_MISMATCH, f"Node {node_id} ({node.get('type')}) has no widget {name!r}."
        )
    index = layout.index(name)
    values = list(values or [])
    if len(values) <= index:
        values.extend([None] * (index + 1 - len(values)))
    values[index] = value
    node["widgets_values"] = values


def seed_targets(graph: dict[str, Any], node_defs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (node id, input) that holds a seed widget, so a request's `seed` reaches all of them."""
    targets = []
    for node in graph.get("nodes", []):
        layout = widget_layout(node_defs.get(node.get("type", ""), {}))
        targets += [(str(node["id"]), name) for name in layout if name in SEED_INPUTS]
    return targets
