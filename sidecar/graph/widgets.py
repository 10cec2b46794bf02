"""How the 0.3.75 editor turns a node definition into sockets and widgets, and what each widget holds."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..core.errors import AInfError, ErrorCode
from .js_semantics import UNDEFINED, js_round, js_str, truthy

# Input types the frontend draws as a plain value widget; every other type is a socket.
VALUE_WIDGETS = {"INT", "FLOAT", "BOOLEAN", "STRING", "COMBO"}
# Widget types whose value only exists in a live editor (camera, 3D scene, audio recorder, ...).
EDITOR_ONLY_WIDGETS = {
    "MARKDOWN", "COLOR", "IMAGECOMPARE", "CHART", "GALLERIA", "TEXTAREA", "WEBCAM",
    "AUDIO_UI", "AUDIOUPLOAD", "AUDIO_RECORD", "LOAD_3D", "PREVIEW_3D",
}  # fmt: skip
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
# Preview widgets core extensions add after the definition's own: (name, constant value in the prompt).
EXTRA_WIDGETS = {"PreviewAny": [("preview", "")], "Preview3D": [("image", "")], "SaveGLB": [("image", "")]}


@dataclass
class Slot:
    name: str
    type: Any
    link: Any = None
    widget: str | None = None  # the widget this socket feeds, for widget inputs


@dataclass
class Widget:
    name: str
    type: str
    value: Any
    options: dict = field(default_factory=dict)
    in_prompt: bool = True  # False for `serialize: false` widgets (control_after_generate, upload, ...)
    upload: tuple[str, str, bool] | None = None  # (initial file, folder, allow_batch) of an upload combo


def input_specs(node_def: dict) -> dict[str, tuple[str, dict, bool]]:
    """The definition's inputs as the editor sees them: name -> (type, options, optional)."""
    specs: dict[str, tuple[str, dict, bool]] = {}
    inputs = node_def.get("input") or {}
    required = dict(inputs.get("required") or {})
    upload = next(
        (n for n, s in required.items() if combo_options(s) is not None and is_upload(spec_options(s))), None
    )
    if upload is not None:  # Comfy.UploadImage adds an upload button after the file combo
        required["upload"] = ["IMAGEUPLOAD", {**spec_options(required[upload]), "imageInputName": upload}]
    for optional, section in ((False, required), (True, inputs.get("optional") or {})):
        for name, spec in section.items():
            options = dict(spec_options(spec))
            if optional and options.get("defaultInput"):
                options["forceInput"] = True
            kind = "COMBO" if combo_options(spec) is not None else str(spec[0])
            specs[name] = (kind, {**options, "_combo": combo_options(spec)}, optional)
    return specs


def ordered_specs(node_def: dict) -> list[tuple[str, str, dict]]:
    """getOrderedInputSpecs: `input_order` required, then optional, then everything else."""
    specs = input_specs(node_def)
    order = node_def.get("input_order")
    names: list[str] = []
    if order:
        names += [n for n in order.get("required") or [] if n in specs and not specs[n][2]]
        names += [n for n in order.get("optional") or [] if n in specs and specs[n][2]]
    names += [n for n in specs if n not in names]
    return [(name, specs[name][0], specs[name][1]) for name in names]


def node_layout(node_type: str, node_def: dict) -> tuple[list[Slot], list[Widget]]:
    """Input slots (sockets first, then one per widget) and the widgets a fresh node gets."""
    sockets: list[Slot] = []
    widget_slots: list[Slot] = []
    widgets: list[Widget] = []
    for name, kind, options in ordered_specs(node_def):
        widget_type = options.get("widgetType") if options.get("widgetType") is not None else kind
        is_widget = widget_type in VALUE_WIDGETS or widget_type == "IMAGEUPLOAD"
        if widget_type in EDITOR_ONLY_WIDGETS and not options.get("forceInput"):
            raise AInfError(
                ErrorCode.GRAPH_INVALID,
                f"Input {name!r} of {node_type!r} is a {widget_type} widget that only works in the editor.",
                remediation=["Queue this workflow from the editor, or export it there with 'Export (API)'."],
            )
        if not is_widget or options.get("forceInput"):
            sockets.append(Slot(name, kind))
            continue
        widget_slots.append(Slot(name, kind, widget=name))
        widgets += make_widgets(name, widget_type, options, widgets)
    widgets += [Widget(name, "extra", value) for name, value in EXTRA_WIDGETS.get(node_type, [])]
    return sockets + widget_slots, widgets


def make_widgets(name: str, kind: str, options: dict, existing: list[Widget]) -> list[Widget]:
    if kind == "IMAGEUPLOAD":
        combo = next((w for w in existing if w.name == options.get("imageInputName")), None)
        if combo is not None:
            initial = js_str(combo.value)
            combo.upload = (initial, options.get("image_folder") or "input", bool(options.get("allow_batch")))
            combo.value = upload_value(combo.upload, initial)
        return [Widget(name, kind, "image", options, in_prompt=False)]
    if kind == "COMBO" and options.get("multi_select"):
        return [Widget(name, kind, [], options)]
    main = Widget(name, kind, default_value(kind, options), options)
    if kind == "STRING" and options.get("multiline"):
        main.value = textarea_value(main.value)
    result = [main]
    if kind == "COMBO" and options.get("remote"):
        result.append(Widget("Auto-refresh after generation", "toggle", False, in_prompt=False))
        if options["remote"].get("refresh_button"):
            result.append(Widget("refresh", "button", "refresh"))
    control = options.get("control_after_generate")
    if kind == "INT" and (control if control is not None else name in ("seed", "noise_seed")):
        result.append(Widget("control_after_generate", "control", "randomize", in_prompt=False))
    elif kind == "COMBO" and control:
        result.append(Widget("control_after_generate", "control", "randomize", in_prompt=False))
        result.append(Widget("control_filter_list", "control", "", in_prompt=False))
    return result


def default_value(kind: str, options: dict) -> Any:
    default = options.get("default", UNDEFINED)
    if kind == "COMBO":
        if truthy(default):
            return default
        if options.get("_combo"):
            return options["_combo"][0]
        return "Loading..." if options.get("remote") else UNDEFINED
    if default is not UNDEFINED and default is not None:
        return default
    return {"INT": 0, "FLOAT": 0, "BOOLEAN": False, "STRING": ""}[kind]


def migrate_widgets_values(specs: dict, widgets: list[Widget], values: list) -> list:
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


def is_upload(options: dict) -> bool:
    return any(options.get(flag) is True for flag in UPLOAD_FLAGS)


def spec_options(spec: Any) -> dict:
    return spec[1] if isinstance(spec, list | tuple) and len(spec) > 1 and isinstance(spec[1], dict) else {}


def combo_options(spec: Any) -> list | None:
    """The choices of a combo input (V1 list form or ["COMBO", {"options": [...]}]), else None."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO":
        return spec_options(spec).get("options") or []
    return None


def set_value(widget: Widget, value: Any) -> None:
    if widget.upload:
        value = upload_value(widget.upload, value)
    elif widget.type == "STRING" and widget.options.get("multiline"):
        value = textarea_value(value)
    widget.value = value


def textarea_value(value: Any) -> str:
    """What a <textarea> gives back: a string (null -> ""), line breaks normalised to \\n."""
    text = "" if value is None else js_str(value)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def upload_value(upload: tuple[str, str, bool], value: Any) -> Any:
    """The value an upload combo reports (useImageUploadWidget's transform + createAnnotatedPath)."""
    initial, folder, allow_batch = upload
    if not truthy(value):
        return initial

    def annotated(item: Any) -> str:
        if isinstance(item, str):
            return item + annotation(item, folder)
        if isinstance(item, dict):
            path = str(item.get("filename") or "")
            path = f"{item['subfolder']}/{path}" if item.get("subfolder") else path
            return path + (annotation(str(item["type"]), folder) if item.get("type") else "")
        return ""

    if isinstance(value, list):
        return [annotated(v) for v in value] if allow_batch else annotated(value[0] if value else None)
    return annotated(value)


def annotation(path: str, folder: str) -> str:
    if re.search(r"\[(input|output|temp)\]", path, re.IGNORECASE) or folder == "input":
        return ""
    return f" [{folder}]"


def widget_callback(widget: Widget) -> None:
    """The rounding INT and FLOAT widgets apply when a PrimitiveNode sets their value."""
    value, opts = widget.value, widget.options
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if widget.type == "INT":
        step = opts.get("step") or 1
        if step == 1:
            widget.value = js_round(value)
        else:
            offset = math.fmod(opts.get("min") or 0, step)
            widget.value = js_round((value - offset) / step) * step + offset
    elif widget.type == "FLOAT":
        step = opts.get("step") if opts.get("step") is not None else 0.5
        precision = max(0, -math.floor(math.log10(step))) if step > 0 else 0
        rounding = 10**-precision if precision and not opts.get("round") else opts.get("round")
        if rounding:
            rounded = js_round(value / rounding) * rounding
            fixed = float(Decimal(rounded).quantize(Decimal(1).scaleb(-precision), ROUND_HALF_UP))
            low = opts.get("min") if opts.get("min") is not None else 0
            high = opts.get("max") if opts.get("max") is not None else 2048
            widget.value = min(max(fixed, low), high)


def widget_names(node_type: str, node_def: Mapping[str, Any]) -> list[str | None]:
    """Input names in a node's `widgets_values` order; None marks an entry that never reaches the prompt."""
    _, widgets = node_layout(node_type, dict(node_def))
    return [w.name if w.in_prompt and w.type != "extra" else None for w in widgets]
