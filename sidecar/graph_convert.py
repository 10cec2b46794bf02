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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .errors import AInfError, ErrorCode

MUTED, BYPASSED = 2, 4  # LGraphEventMode.NEVER / BYPASS
VIRTUAL_TITLES = {
    "Reroute": "Reroute",
    "PrimitiveNode": "Primitive",
    "Note": "Note",
    "MarkdownNote": "Markdown Note",
}
# Input types the frontend draws as a plain value widget; every other type is a socket.
VALUE_WIDGETS = {"INT", "FLOAT", "BOOLEAN", "STRING", "COMBO"}
# Widget types whose value only exists in a live editor (camera, 3D scene, audio recorder, ...).
EDITOR_ONLY_WIDGETS = {
    "MARKDOWN", "COLOR", "IMAGECOMPARE", "CHART", "GALLERIA", "TEXTAREA", "WEBCAM",
    "AUDIO_UI", "AUDIOUPLOAD", "AUDIO_RECORD", "LOAD_3D", "PREVIEW_3D",
}  # fmt: skip
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
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
# Preview widgets core extensions add after the definition's own: (name, constant value in the prompt).
EXTRA_WIDGETS = {"PreviewAny": [("preview", "")], "Preview3D": [("image", "")], "SaveGLB": [("image", "")]}
# Where the editor's bundled English names (frontend 1.32.9) differ from 0.3.75's display_name.
FRONTEND_TITLES = {
    "EmptyHunyuanLatentVideo": "EmptyHunyuanLatentVideo",
    "Preview3D": "Preview 3D",
    "PreviewAny": "Preview Any",
}
_UNDEFINED: Any = object()  # a JavaScript `undefined`: the key is left out of the prompt
_MAX_SAFE_INT = 2**53


@dataclass
class _Slot:
    name: str
    type: Any
    link: Any = None
    widget: str | None = None  # the widget this socket feeds, for widget inputs


@dataclass
class _Widget:
    name: str
    type: str
    value: Any
    options: dict = field(default_factory=dict)
    in_prompt: bool = True  # False for `serialize: false` widgets (control_after_generate, upload, ...)
    upload: tuple[str, str, bool] | None = None  # (initial file, folder, allow_batch) of an upload combo


@dataclass
class _Node:
    id: Any
    type: str
    mode: int
    title: str
    properties: dict
    inputs: list[_Slot]
    output_types: list[Any]
    output_links: list[list[Any]]
    widgets: list[_Widget] = field(default_factory=list)
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


def widget_names(node_type: str, node_def: Mapping[str, Any]) -> list[str | None]:
    """Input names in a node's `widgets_values` order; None marks an entry that never reaches the prompt."""
    _, widgets = _layout(node_type, dict(node_def))
    return [w.name if w.in_prompt and w.type != "extra" else None for w in widgets]


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
            inputs = [_Slot(i.get("name", ""), i.get("type"), i.get("link")) for i in raw_inputs]
            if node_type == "Reroute" and not raw_inputs:
                inputs = [_Slot("", "*")]
            output_types = [o.get("type") for o in raw_outputs]
            title = VIRTUAL_TITLES[node_type]
            widgets: list[_Widget] = []
            if node_type in ("Note", "MarkdownNote"):
                text = _Widget("text", "STRING", "", {"multiline": node_type == "Note"})
                values = raw.get("widgets_values")
                _set_value(text, values[0] if isinstance(values, list) and values else text.value)
                widgets = [text]
        else:
            inputs, widgets = _layout(node_type, node_def)
            by_name = {i.get("name"): i for i in raw_inputs}
            for slot in inputs:
                slot.link = (by_name.get(slot.name) or {}).get("link")
            defined = {slot.name for slot in inputs}
            inputs += [
                _Slot(i.get("name", ""), i.get("type"), i.get("link"), (i.get("widget") or {}).get("name"))
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
        values = _migrate_widgets_values(_input_specs(node_def), node.widgets, values)
        positional = [w for w in node.widgets if w.type != "extra"]  # extension previews ignore values
        for widget, value in zip(positional, values, strict=False):
            _set_value(widget, value)
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
                    if value is not _UNDEFINED:
                        inputs[widget.name] = _wrap(value)
            for index, slot in enumerate(node.inputs):
                resolved = self._resolve_input(node, index, set())
                if resolved is not None:
                    inputs[slot.name] = [str(resolved[0]), int(resolved[1])]
            output[str(node.id)] = {
                "inputs": {name: inputs[name] for name in _js_key_order(list(inputs))},
                "class_type": node.type,
                "_meta": {"title": node.title},
            }
        for entry in output.values():  # drop links to nodes that were left out (muted ones)
            for name, value in list(entry["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del entry["inputs"][name]
        return {key: output[key] for key in _js_key_order(list(output))}  # JS objects list integer keys first

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
        return order + [pending[key] for key in _js_key_order(list(pending))]

    def _primitive_targets(self, node: _Node) -> list[_Widget | None]:
        """The widgets a PrimitiveNode's output links point at (None where a link leads nowhere)."""
        targets: list[_Widget | None] = []
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
        widget = _Widget("value", first.type, value, first.options)
        numeric = [w for w in targets if w is not None and w.type in ("INT", "FLOAT")]
        if first.type in ("INT", "FLOAT") and isinstance(value, int | float) and not isinstance(value, bool):
            # it adopts the merged range of its targets, clamps its value to it and rounds it to the step
            low = max(w.options.get("min", -math.inf) for w in numeric)
            high = min(w.options.get("max", math.inf) for w in numeric)
            widget.value = min(max(value, low), high) if low <= high else value
            _widget_callback(widget)
        node.widgets = [widget]

    def _apply_primitive(self, node: _Node) -> None:
        """PrimitiveNode.applyToGraph: copy its value onto every widget it is linked to."""
        if not node.widgets:
            return
        value = node.widgets[0].value
        if _truthy(value) and node.properties.get("Run widget replace on values") and isinstance(value, str):
            value = self._text_replacements(value)
        for widget in self._primitive_targets(node):
            if widget is not None:
                _set_value(widget, value)
                _widget_callback(widget)

    def _serialize_widget(self, node: _Node, widget: _Widget) -> Any:
        if widget.options.get("dynamicPrompts") is True and isinstance(widget.value, str):
            return _process_dynamic_prompt(widget.value, self.rng)
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
                return _format_date(parts[0][5:], self.now) if is_date else match.group(0)
            found = [n for n in self.nodes if n.properties.get("Node name for S&R") == parts[0]]
            found = found or [n for n in self.nodes if n.title == parts[0]]
            widget = next((w for w in found[0].widgets if w.name == parts[1]), None) if found else None
            if widget is None:
                return match.group(0)
            value = "" if widget.value is None or widget.value is _UNDEFINED else widget.value
            return re.sub(r'[/?<>\\:*|"\x00-\x1f\x7f]', "_", _js_str(value))

        return re.sub(r"%([^%]+)%", replace, text)


# -- node definitions -> slots and widgets (services/litegraphService.ts, scripts/widgets.ts) ----------


def _input_specs(node_def: dict) -> dict[str, tuple[str, dict, bool]]:
    """The definition's inputs as the editor sees them: name -> (type, options, optional)."""
    specs: dict[str, tuple[str, dict, bool]] = {}
    inputs = node_def.get("input") or {}
    required = dict(inputs.get("required") or {})
    upload = next(
        (n for n, s in required.items() if _combo_options(s) is not None and _is_upload(_options(s))), None
    )
    if upload is not None:  # Comfy.UploadImage adds an upload button after the file combo
        required["upload"] = ["IMAGEUPLOAD", {**_options(required[upload]), "imageInputName": upload}]
    for optional, section in ((False, required), (True, inputs.get("optional") or {})):
        for name, spec in section.items():
            options = dict(_options(spec))
            if optional and options.get("defaultInput"):
                options["forceInput"] = True
            kind = "COMBO" if _combo_options(spec) is not None else str(spec[0])
            specs[name] = (kind, {**options, "_combo": _combo_options(spec)}, optional)
    return specs


def _ordered_specs(node_def: dict) -> list[tuple[str, str, dict]]:
    """getOrderedInputSpecs: `input_order` required, then optional, then everything else."""
    specs = _input_specs(node_def)
    order = node_def.get("input_order")
    names: list[str] = []
    if order:
        names += [n for n in order.get("required") or [] if n in specs and not specs[n][2]]
        names += [n for n in order.get("optional") or [] if n in specs and specs[n][2]]
    names += [n for n in specs if n not in names]
    return [(name, specs[name][0], specs[name][1]) for name in names]


def _layout(node_type: str, node_def: dict) -> tuple[list[_Slot], list[_Widget]]:
    """Input slots (sockets first, then one per widget) and the widgets a fresh node gets."""
    sockets: list[_Slot] = []
    widget_slots: list[_Slot] = []
    widgets: list[_Widget] = []
    for name, kind, options in _ordered_specs(node_def):
        widget_type = options.get("widgetType") if options.get("widgetType") is not None else kind
        is_widget = widget_type in VALUE_WIDGETS or widget_type == "IMAGEUPLOAD"
        if widget_type in EDITOR_ONLY_WIDGETS and not options.get("forceInput"):
            raise AInfError(
                ErrorCode.GRAPH_INVALID,
                f"Input {name!r} of {node_type!r} is a {widget_type} widget that only works in the editor.",
                remediation=["Queue this workflow from the editor, or export it there with 'Export (API)'."],
            )
        if not is_widget or options.get("forceInput"):
            sockets.append(_Slot(name, kind))
            continue
        widget_slots.append(_Slot(name, kind, widget=name))
        widgets += _make_widgets(name, widget_type, options, widgets)
    widgets += [_Widget(name, "extra", value) for name, value in EXTRA_WIDGETS.get(node_type, [])]
    return sockets + widget_slots, widgets


def _make_widgets(name: str, kind: str, options: dict, existing: list[_Widget]) -> list[_Widget]:
    if kind == "IMAGEUPLOAD":
        combo = next((w for w in existing if w.name == options.get("imageInputName")), None)
        if combo is not None:
            initial = _js_str(combo.value)
            combo.upload = (initial, options.get("image_folder") or "input", bool(options.get("allow_batch")))
            combo.value = _upload_value(combo.upload, initial)
        return [_Widget(name, kind, "image", options, in_prompt=False)]
    if kind == "COMBO" and options.get("multi_select"):
        return [_Widget(name, kind, [], options)]
    main = _Widget(name, kind, _default_value(kind, options), options)
    if kind == "STRING" and options.get("multiline"):
        main.value = _textarea_value(main.value)
    result = [main]
    if kind == "COMBO" and options.get("remote"):
        result.append(_Widget("Auto-refresh after generation", "toggle", False, in_prompt=False))
        if options["remote"].get("refresh_button"):
            result.append(_Widget("refresh", "button", "refresh"))
    control = options.get("control_after_generate")
    if kind == "INT" and (control if control is not None else name in ("seed", "noise_seed")):
        result.append(_Widget("control_after_generate", "control", "randomize", in_prompt=False))
    elif kind == "COMBO" and control:
        result.append(_Widget("control_after_generate", "control", "randomize", in_prompt=False))
        result.append(_Widget("control_filter_list", "control", "", in_prompt=False))
    return result


def _default_value(kind: str, options: dict) -> Any:
    default = options.get("default", _UNDEFINED)
    if kind == "COMBO":
        if _truthy(default):
            return default
        if options.get("_combo"):
            return options["_combo"][0]
        return "Loading..." if options.get("remote") else _UNDEFINED
    if default is not _UNDEFINED and default is not None:
        return default
    return {"INT": 0, "FLOAT": 0, "BOOLEAN": False, "STRING": ""}[kind]


def _migrate_widgets_values(specs: dict, widgets: list[_Widget], values: list) -> list:
    """migrateWidgetsValues: drop the dummy values pre-1.16 editors saved for forceInput inputs."""
    names = {w.name for w in widgets}
    originals = [
        (name, opts) for name, (_, opts, _) in specs.items() if name in names or opts.get("forceInput")
    ]
    expected = sum(
        2 if opts.get("control_after_generate") or name in ("seed", "noise_seed") else 1
        for name, opts in originals
    )
    if expected != len(values):
        return values
    padded = originals + [("", {})] * (len(values) - len(originals))
    return [value for (_, opts), value in zip(padded, values, strict=False) if not opts.get("forceInput")]


def _is_upload(options: dict) -> bool:
    return any(options.get(flag) is True for flag in UPLOAD_FLAGS)


def _options(spec: Any) -> dict:
    return spec[1] if isinstance(spec, list | tuple) and len(spec) > 1 and isinstance(spec[1], dict) else {}


def _combo_options(spec: Any) -> list | None:
    """The choices of a combo input (V1 list form or ["COMBO", {"options": [...]}]), else None."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO":
        return _options(spec).get("options") or []
    return None


def _output_type(output: Any) -> Any:
    return "COMBO" if isinstance(output, list) else output


# -- widget values -------------------------------------------------------------------------------------


def _set_value(widget: _Widget, value: Any) -> None:
    if widget.upload:
        value = _upload_value(widget.upload, value)
    elif widget.type == "STRING" and widget.options.get("multiline"):
        value = _textarea_value(value)
    widget.value = value


def _textarea_value(value: Any) -> str:
    """What a <textarea> gives back: a string (null -> ""), line breaks normalised to \\n."""
    text = "" if value is None else _js_str(value)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _upload_value(upload: tuple[str, str, bool], value: Any) -> Any:
    """The value an upload combo reports (useImageUploadWidget's transform + createAnnotatedPath)."""
    initial, folder, allow_batch = upload
    if not _truthy(value):
        return initial

    def annotated(item: Any) -> str:
        if isinstance(item, str):
            return item + _annotation(item, folder)
        if isinstance(item, dict):
            path = str(item.get("filename") or "")
            path = f"{item['subfolder']}/{path}" if item.get("subfolder") else path
            return path + (_annotation(str(item["type"]), folder) if item.get("type") else "")
        return ""

    if isinstance(value, list):
        return [annotated(v) for v in value] if allow_batch else annotated(value[0] if value else None)
    return annotated(value)


def _annotation(path: str, folder: str) -> str:
    if re.search(r"\[(input|output|temp)\]", path, re.IGNORECASE) or folder == "input":
        return ""
    return f" [{folder}]"


def _widget_callback(widget: _Widget) -> None:
    """The rounding INT and FLOAT widgets apply when a PrimitiveNode sets their value."""
    value, opts = widget.value, widget.options
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if widget.type == "INT":
        step = opts.get("step") or 1
        if step == 1:
            widget.value = _js_round(value)
        else:
            offset = math.fmod(opts.get("min") or 0, step)
            widget.value = _js_round((value - offset) / step) * step + offset
    elif widget.type == "FLOAT":
        step = opts.get("step") if opts.get("step") is not None else 0.5
        precision = max(0, -math.floor(math.log10(step))) if step > 0 else 0
        rounding = 10**-precision if precision and not opts.get("round") else opts.get("round")
        if rounding:
            rounded = _js_round(value / rounding) * rounding
            fixed = float(Decimal(rounded).quantize(Decimal(1).scaleb(-precision), ROUND_HALF_UP))
            low = opts.get("min") if opts.get("min") is not None else 0
            high = opts.get("max") if opts.get("max") is not None else 2048
            widget.value = min(max(fixed, low), high)


def _wrap(value: Any) -> Any:
    """List values travel as {"__value__": [...]} (arrays mean links in a prompt); numbers as in JS."""
    value = _js_json(value)
    return {"__value__": value} if isinstance(value, list) else value


def _js_json(value: Any) -> Any:
    """What a value becomes after a JavaScript JSON round trip (one number type, 53-bit integers)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INT else _js_json(float(value))
    if isinstance(value, float):  # JS writes integral numbers below 1e21 as integers of <= 17 digits
        return int(Decimal(repr(value))) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, list):
        return [_js_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _js_json(v) for k, v in value.items() if v is not _UNDEFINED}
    return value


def _js_str(value: Any) -> str:
    """JavaScript's String(value) for JSON values."""
    if value is _UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _js_number_str(value)
    if isinstance(value, list):
        return ",".join("" if v is None else _js_str(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _js_number_str(number: float) -> str:
    """Number.prototype.toString(): shortest round-trip digits, exponent only below 1e-6 or from 1e21."""
    if isinstance(number, float) and not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("-" if number < 0 else "") + "Infinity"
    number = _js_json(number)
    if isinstance(number, int) or number == 0:
        return str(int(number))
    _, digits, exponent = Decimal(repr(abs(number))).normalize().as_tuple()
    text, point = "".join(map(str, digits)), len(digits) + exponent  # value = 0.<text> * 10**point
    if 0 < point <= 21:
        body = text + "0" * (point - len(text)) if point >= len(text) else f"{text[:point]}.{text[point:]}"
    elif -6 < point <= 0:
        body = "0." + "0" * -point + text
    else:
        mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
        body = f"{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    return ("-" if number < 0 else "") + body


def _js_round(value: float) -> int:
    return math.floor(value + 0.5)


def _truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value."""
    if value is _UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def _process_dynamic_prompt(text: str, rng: random.Random) -> str:
    """processDynamicPrompt: strip C comments, pick one option of each {a|b|c}; \\ escapes."""
    text = re.sub(r"/\*[\s\S]*?\*/|//[^\n\r\u2028\u2029]*", "", text)
    pos = 0

    def escape() -> str:
        nonlocal pos
        pos += 1
        return "\\" + (text[pos - 1] if pos - 1 < len(text) else "undefined")

    def choice_block() -> str:
        nonlocal pos
        options, choice, depth = [], "", 0
        while pos < len(text):
            char = text[pos]
            pos += 1
            if char == "\\":
                choice += escape()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append(choice)
                choice = ""
                continue
            choice += char
        options.append(choice)
        return _process_dynamic_prompt(options[math.floor(rng.random() * len(options))], rng)

    result = ""
    while pos < len(text):
        char = text[pos]
        pos += 1
        if char == "\\":
            result += escape()
        elif char == "{":
            result += choice_block()
        else:
            result += char
    return re.sub(r"\\([{}|])", r"\1", result)


def _format_date(pattern: str, now: datetime) -> str:
    """formatDate of utils/formatUtil.ts: d, M, h, m, s (doubled = zero-padded), yy, yyyy."""
    parts = {"d": now.day, "M": now.month, "h": now.hour, "m": now.minute, "s": now.second}

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "yy":
            return str(now.year)[2:]
        if token == "yyyy":
            return str(now.year)
        if token[0] in parts:
            return str(parts[token[0]]).rjust(len(token), "0")
        return token

    return re.sub(r"dd?|MM?|hh?|mm?|ss?|yyy?y?", replace, pattern)


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


def _slot_for_link(node: _Node, link_id: Any) -> _Slot | None:
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


def _js_key_order(keys: list) -> list:
    """The order `for (k in obj)` visits keys: integer-like keys ascending, then the rest as inserted."""

    def index(key: Any) -> int | None:
        text = str(key)
        return int(text) if text.isdigit() and str(int(text)) == text and int(text) < 2**32 - 1 else None

    numeric = sorted((k for k in keys if index(k) is not None), key=lambda k: index(k))
    return numeric + [k for k in keys if index(k) is None]


def _graph_error(message: str) -> AInfError:
    return AInfError(ErrorCode.GRAPH_INVALID, message)
