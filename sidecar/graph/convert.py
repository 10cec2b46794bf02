"""Convert an editor (UI-format) workflow into the API prompt the ComfyUI 0.3.75 editor would queue.

This mirrors `app.graphToPrompt()` of comfyui-frontend-package 1.32.9 (`utils/executionUtil.ts`,
`ExecutableNodeDTO`, the core widget constructors and the Reroute / PrimitiveNode / Note extensions),
so presets saved from the editor can be queued without a browser. Refused instead of guessed: subgraphs,
group nodes, widgets that need a live editor (webcam, 3D, audio recorder) and Reroute loops (which the
editor silently cuts). Remote combos keep their saved value (the editor may swap in the first remote one).
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.errors import AInfError, ErrorCode
from .js_semantics import (
    UNDEFINED,
    format_date,
    js_key_order,
    js_str,
    process_dynamic_prompt,
    truthy,
    wrap,
)
from .widgets import (
    Slot,
    Widget,
    input_specs,
    migrate_widgets_values,
    node_layout,
    set_value,
    widget_callback,
)

MUTED, BYPASSED = 2, 4  # LGraphEventMode.NEVER / BYPASS
VIRTUAL_TITLES = {
    "Reroute": "Reroute",
    "PrimitiveNode": "Primitive",
    "Note": "Note",
    "MarkdownNote": "Markdown Note",
}
# Types the editor renames while loading (app.loadGraphData).
RENAMED_TYPES = {
    "T2IAdapterLoader": "ControlNetLoader",
    "ConditioningAverage ": "ConditioningAverage",
    "SDV_img2vid_Conditioning": "SVD_img2vid_Conditioning",
    "Load3DAnimation": "Load3D",
    "Preview3DAnimation": "Preview3D",
}
# Nodes whose `filename_prefix` gets %date:...% / %Node.widget% replacement (Comfy.SaveImageExtraOutput).
SAVE_NODES = {
    "SaveImage", "SaveVideo", "SaveAnimatedWEBP", "SaveWEBM", "SaveAudio", "SaveGLB", "SaveAnimatedPNG",
    "CLIPSave", "VAESave", "ModelSave", "LoraSave", "SaveLatent",
}  # fmt: skip
# Where the editor's bundled English names (frontend 1.32.9) differ from 0.3.75's display_name.
FRONTEND_TITLES = {
    "EmptyHunyuanLatentVideo": "EmptyHunyuanLatentVideo",
    "Preview3D": "Preview 3D",
    "PreviewAny": "Preview Any",
}


@dataclass
class _Node:
    id: Any
    type: str
    mode: int
    title: str
    properties: dict
    inputs: list[Slot]
    output_types: list[Any]
    output_links: list[list[Any]]
    widgets: list[Widget] = field(default_factory=list)
    widgets_values: Any = None


@dataclass(frozen=True)
class _Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int


def ui_to_api(
    graph: dict,
    node_defs: Mapping[str, dict],
    *,
    rng: random.Random | None = None,
    now: datetime | None = None,
) -> dict:
    """Return the API prompt `app.graphToPrompt()` would build for this UI-format graph."""
    _refuse_unsupported(graph)
    converter = _Converter(graph, node_defs, rng or random.Random(), now or datetime.now())
    return converter.convert()


def _refuse_unsupported(graph: Any) -> None:
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise AInfError(ErrorCode.GRAPH_INVALID, "This is not a UI-format workflow (no `nodes` list).")
    subgraphs = (graph.get("definitions") or {}).get("subgraphs") or []
    if subgraphs:
        names = [s.get("name") or s.get("id") for s in subgraphs if isinstance(s, dict)]
        raise AInfError(
            ErrorCode.GRAPH_INVALID,
            f"Subgraphs are not supported by the server-side converter (found {names}).",
            remediation=[
                "Open the workflow in the editor, select each subgraph node and choose 'Unpack Subgraph', "
                "then save it again.",
                "Or export it with 'Export (API)' and use the API-format file instead.",
            ],
            detail={"subgraphs": names},
        )
    if (graph.get("extra") or {}).get("groupNodes"):
        raise AInfError(
            ErrorCode.GRAPH_INVALID,
            "Group nodes are not supported by the server-side converter.",
            remediation=[
                "Open it in the editor, right-click each group node, choose 'Convert to nodes', save again."
            ],
        )


class _Converter:
    def __init__(self, graph: dict, node_defs: Mapping[str, dict], rng: random.Random, now: datetime):
        self.defs = node_defs
        self.rng = rng
        self.now = now
        self.links = _parse_links(graph.get("links") or [])
        raw_nodes = [n for n in graph["nodes"] if isinstance(n, dict)]
        types = [RENAMED_TYPES.get(n.get("type"), n.get("type")) for n in raw_nodes]
        missing = sorted({str(t) for t in types if not self._known(t)})
        if missing:
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"Node type {missing[0]!r} is not installed"
                + (f" (also missing: {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
                + "; install the node packs that provide them.",
                detail={"missing_nodes": missing},
            )
        self.nodes = [
            self._build_node(raw, node_type) for raw, node_type in zip(raw_nodes, types, strict=True)
        ]
        self.by_id = {n.id: n for n in self.nodes}

    def _known(self, node_type: Any) -> bool:
        return isinstance(node_type, str) and (node_type in VIRTUAL_TITLES or node_type in self.defs)

    # -- loading (LGraph.configure + ComfyNode.configure) ------------------------------------------

    def _build_node(self, raw: dict, node_type: str) -> _Node:
        raw_inputs = [i for i in raw.get("inputs") or [] if isinstance(i, dict)]
        raw_outputs = [o if isinstance(o, dict) else {} for o in raw.get("outputs") or []]
        node_def = None if node_type in VIRTUAL_TITLES else self.defs[node_type]
        if node_def is None:  # a frontend-only node: its slots are whatever was saved
            inputs = [Slot(i.get("name", ""), i.get("type"), i.get("link")) for i in raw_inputs]
            if node_type == "Reroute" and not raw_inputs:
                inputs = [Slot("", "*")]
            output_types = [o.get("type") for o in raw_outputs]
            title = VIRTUAL_TITLES[node_type]
            widgets: list[Widget] = []
            if node_type in ("Note", "MarkdownNote"):
                text = Widget("text", "STRING", "", {"multiline": node_type == "Note"})
                values = raw.get("widgets_values")
                set_value(text, values[0] if isinstance(values, list) and values else text.value)
                widgets = [text]
        else:
            inputs, widgets = node_layout(node_type, node_def)
            by_name = {i.get("name"): i for i in raw_inputs}
            for slot in inputs:
                slot.link = (by_name.get(slot.name) or {}).get("link")
            defined = {slot.name for slot in inputs}
            inputs += [
                Slot(i.get("name", ""), i.get("type"), i.get("link"), (i.get("widget") or {}).get("name"))
                for i in raw_inputs
                if i.get("name") not in defined
            ]
            output_types = [_output_type(t) for t in node_def.get("output") or []]
            output_types += [o.get("type") for o in raw_outputs[len(output_types) :]]
            title = FRONTEND_TITLES.get(node_type) or node_def.get("display_name") or node_type
        properties = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
        if node_def is not None and node_type not in SAVE_NODES:
            properties = {"Node name for S&R": node_type, **properties}
        node = _Node(
            id=raw.get("id"),
            type=node_type,
            mode=raw.get("mode") or 0,
            title=raw.get("title") or title,
            properties=properties,
            inputs=inputs,
            output_types=output_types,
            output_links=[list(o.get("links") or []) for o in raw_outputs],
            widgets=widgets,
            widgets_values=raw.get("widgets_values"),
        )
        if node_def is not None:
            self._apply_widgets_values(node, node_def)
        return node

    def _apply_widgets_values(self, node: _Node, node_def: dict) -> None:
        values = node.widgets_values
        if not isinstance(values, list):  # e.g. a dict saved by a pack's own JS: core ignores it
            return
        values = migrate_widgets_values(input_specs(node_def), node.widgets, values)
        positional = [w for w in node.widgets if w.type != "extra"]  # extension previews ignore values
        for widget, value in zip(positional, values, strict=False):
            set_value(widget, value)
        if node.type in ("KSampler", "KSamplerAdvanced"):
            for widget in node.widgets:
                if widget.name == "sampler_name" and isinstance(widget.value, str):
                    widget.value = widget.value.removeprefix("sample_")

    # -- graphToPrompt -------------------------------------------------------------------------------

    def convert(self) -> dict:
        for node in self.nodes:
            if node.type == "PrimitiveNode":
                self._configure_primitive(node)
        order = self._execution_order()
        for node in order:
            if node.type == "PrimitiveNode":
                self._apply_primitive(node)
        output: dict[str, dict] = {}
        for node in order:
            if node.type in VIRTUAL_TITLES or node.mode in (MUTED, BYPASSED):
                continue
            inputs: dict[str, Any] = {}
            for widget in node.widgets:
                if widget.name and widget.in_prompt:
                    value = self._serialize_widget(node, widget)
                    if value is not UNDEFINED:
                        inputs[widget.name] = wrap(value)
            for index, slot in enumerate(node.inputs):
                resolved = self._resolve_input(node, index, set())
                if resolved is not None:
                    inputs[slot.name] = [str(resolved[0]), int(resolved[1])]
            output[str(node.id)] = {
                "inputs": {name: inputs[name] for name in js_key_order(list(inputs))},
                "class_type": node.type,
                "_meta": {"title": node.title},
            }
        for entry in output.values():  # drop links to nodes that were left out (muted ones)
            for name, value in list(entry["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del entry["inputs"][name]
        return {key: output[key] for key in js_key_order(list(output))}  # JS objects list integer keys first

    def _execution_order(self) -> list[_Node]:
        """LGraph.computeExecutionOrder: Kahn's algorithm over saved links, leftovers by ascending id."""
        pending = {n.id: n for n in self.nodes}
        remaining: dict[Any, int] = {}
        queue: deque[_Node] = deque()
        for node in self.nodes:
            count = sum(1 for slot in node.inputs if slot.link is not None)
            if count:
                remaining[node.id] = count
            else:
                queue.append(node)
        order: list[_Node] = []
        seen_links: set[Any] = set()
        while queue:
            node = queue.popleft()
            order.append(node)
            pending.pop(node.id, None)
            for link_id in (lid for links in node.output_links for lid in links):
                link = self.links.get(link_id)
                if link is None or link_id in seen_links:
                    continue
                seen_links.add(link_id)
                target = self.by_id.get(link.target_id)
                if target is None or target.id not in remaining:
                    continue
                remaining[target.id] -= 1
                if remaining[target.id] == 0:
                    queue.append(target)
        return order + [pending[key] for key in js_key_order(list(pending))]

    def _primitive_targets(self, node: _Node) -> list[Widget | None]:
        """The widgets a PrimitiveNode's output links point at (None where a link leads nowhere)."""
        targets: list[Widget | None] = []
        for link_id in node.output_links[0] if node.output_links else []:
            link = self.links.get(link_id)
            target = self.by_id.get(link.target_id) if link else None
            slot = _slot_for_link(target, link_id) if target else None
            widgets = target.widgets if target and slot else []
            targets.append(next((w for w in widgets if w.name == slot.widget), None))
        return targets

    def _configure_primitive(self, node: _Node) -> None:
        """PrimitiveNode.onAfterGraphConfigured: a linked primitive gets a `value` widget like its target."""
        targets = self._primitive_targets(node)
        if not targets or targets[0] is None:
            return  # never connected to a widget: the editor gives it no widget at all
        first = targets[0]
        values = node.widgets_values
        value = values[0] if isinstance(values, list) and values else first.value
        widget = Widget("value", first.type, value, first.options)
        numeric = [w for w in targets if w is not None and w.type in ("INT", "FLOAT")]
        if first.type in ("INT", "FLOAT") and isinstance(value, int | float) and not isinstance(value, bool):
            # it adopts the merged range of its targets, clamps its value to it and rounds it to the step
            low = max(w.options.get("min", -math.inf) for w in numeric)
            high = min(w.options.get("max", math.inf) for w in numeric)
            widget.value = min(max(value, low), high) if low <= high else value
            widget_callback(widget)
        node.widgets = [widget]

    def _apply_primitive(self, node: _Node) -> None:
        """PrimitiveNode.applyToGraph: copy its value onto every widget it is linked to."""
        if not node.widgets:
            return
        value = node.widgets[0].value
        if truthy(value) and node.properties.get("Run widget replace on values") and isinstance(value, str):
            value = self._text_replacements(value)
        for widget in self._primitive_targets(node):
            if widget is not None:
                set_value(widget, value)
                widget_callback(widget)

    def _serialize_widget(self, node: _Node, widget: Widget) -> Any:
        if widget.options.get("dynamicPrompts") is True and isinstance(widget.value, str):
            return process_dynamic_prompt(widget.value, self.rng)
        if node.type in SAVE_NODES and widget.name == "filename_prefix" and isinstance(widget.value, str):
            return self._text_replacements(widget.value)
        return widget.value

    # -- link resolution (ExecutableNodeDTO) -----------------------------------------------------------

    def _resolve_input(self, node: _Node, slot: int, visited: set, link_type: Any = None) -> tuple | None:
        key = (node.id, "I", slot)
        if key in visited:
            raise _graph_error(f"Circular reference while resolving input {slot} of node {node.id}.")
        visited.add(key)
        if slot >= len(node.inputs):
            raise _graph_error(f"Node {node.id} has no input slot {slot}.")
        input_slot = node.inputs[slot]
        if input_slot.link is None:
            return None
        link = self.links.get(input_slot.link)
        origin = self.by_id.get(link.origin_id) if link else None
        if origin is None:  # the editor refuses to queue such a graph too (InvalidLinkError)
            what = "an unknown node" if link else f"link {input_slot.link!r}, which does not exist"
            raise _graph_error(f"Input {input_slot.name!r} of node {node.id} is connected to {what}.")
        return self._resolve_output(origin, link.origin_slot, link_type or input_slot.type, visited)

    def _resolve_output(self, node: _Node, slot: int, link_type: Any, visited: set) -> tuple | None:
        key = (node.id, "O", slot)
        if key in visited:
            raise _graph_error(f"Circular reference while resolving output {slot} of node {node.id}.")
        visited.add(key)
        if node.mode == BYPASSED:
            index = self._bypass_slot(node, slot, link_type)
            return None if index == -1 else self._resolve_input(node, index, visited)
        if node.type in VIRTUAL_TITLES:  # a Reroute passes its input on; other virtual nodes end here
            if slot < len(node.inputs) and node.inputs[slot].link in self.links:
                target_slot = self.links[node.inputs[slot].link].target_slot
                return self._resolve_input(node, target_slot, visited, link_type)
            return None
        return (node.id, slot)

    def _bypass_slot(self, node: _Node, slot: int, link_type: Any) -> int:
        """The input a bypassed node hands on for output `slot`, or -1 (ExecutableNodeDTO)."""
        inputs = node.inputs
        if link_type in ("*", ""):
            return slot if len(inputs) > slot else 0
        output_type = node.output_types[slot] if slot < len(node.output_types) else None
        if slot < len(inputs):
            opposite = inputs[slot].type
            if _valid_connection(opposite, output_type) and _valid_connection(opposite, link_type):
                return slot
        for index, candidate in enumerate(inputs):
            if candidate.type == link_type:
                return index
        for index, candidate in enumerate(inputs):
            if all(_valid_connection(candidate.type, t) for t in (output_type, link_type)):
                return index
        return -1

    # -- text replacement (utils/searchAndReplace.ts) ------------------------------------------------

    def _text_replacements(self, text: str) -> str:
        def replace(match: re.Match) -> str:
            parts = match.group(1).split(".")
            if len(parts) != 2:
                is_date = parts[0].startswith("date:")
                return format_date(parts[0][5:], self.now) if is_date else match.group(0)
            found = [n for n in self.nodes if n.properties.get("Node name for S&R") == parts[0]]
            found = found or [n for n in self.nodes if n.title == parts[0]]
            widget = next((w for w in found[0].widgets if w.name == parts[1]), None) if found else None
            if widget is None:
                return match.group(0)
            value = "" if widget.value is None or widget.value is UNDEFINED else widget.value
            return re.sub(r'[/?<>\\:*|"\x00-\x1f\x7f]', "_", js_str(value))

        return re.sub(r"%([^%]+)%", replace, text)


# -- node definitions -> slots and widgets (services/litegraphService.ts, scripts/widgets.ts) ----------


def _output_type(output: Any) -> Any:
    return "COMBO" if isinstance(output, list) else output


# -- widget values -------------------------------------------------------------------------------------


# -- graph plumbing ------------------------------------------------------------------------------------


def _parse_links(raw_links: list) -> dict[Any, _Link]:
    """Links as 6-element arrays [id, origin, origin_slot, target, target_slot, type] or as objects."""
    links: dict[Any, _Link] = {}
    for raw in raw_links:
        if isinstance(raw, list | tuple) and len(raw) >= 5:
            links[raw[0]] = _Link(raw[1], raw[2], raw[3], raw[4])
        elif isinstance(raw, dict) and "id" in raw:
            ends = (raw.get(key) for key in ("origin_id", "origin_slot", "target_id", "target_slot"))
            links[raw["id"]] = _Link(*ends)
    return links


def _slot_for_link(node: _Node, link_id: Any) -> Slot | None:
    return next((slot for slot in node.inputs if slot.link == link_id and link_id is not None), None)


def _valid_connection(type_a: Any, type_b: Any) -> bool:
    """LiteGraph.isValidConnection: '*' and '' match anything; comma lists match any member."""
    a = 0 if type_a in ("", "*") else type_a
    b = 0 if type_b in ("", "*") else type_b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


def _graph_error(message: str) -> AInfError:
    return AInfError(ErrorCode.GRAPH_INVALID, message)
