"""ui_to_api: turning an editor (UI-format) graph into the prompt the ComfyUI 0.3.75 editor would queue.

Node definitions are trimmed /object_info entries in tests/data/convert/node_defs.json (the loaders get
a realistic file list); the browser oracle (test_converter_oracle.py) checks the same rules against the
real editor.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.graph.convert import ui_to_api

DEFS: dict[str, dict] = json.loads(
    (Path(__file__).parent / "data" / "convert" / "node_defs.json").read_text(encoding="utf-8")
)
MUTED, BYPASSED = 2, 4


class Graph:
    """A tiny UI-format graph builder: nodes with positional widgets_values, links as 6-element arrays."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []

    def add(self, node_type: str, widgets: Any = None, **fields: Any) -> int:
        node = {"id": len(self.nodes) + 1, "type": node_type, "mode": 0, "inputs": [], "outputs": []}
        if widgets is not None:
            node["widgets_values"] = widgets
        node.update(fields)
        self.nodes.append(node)
        return node["id"]

    def connect(
        self, src: int, slot: int, dst: int, name: str, type_: str = "*", widget: bool = False
    ) -> int:
        link_id = len(self.links) + 1
        outputs = self.nodes[src - 1]["outputs"]
        while len(outputs) <= slot:
            outputs.append({"name": "", "type": type_, "links": []})
        outputs[slot]["links"].append(link_id)
        inputs = self.nodes[dst - 1]["inputs"]
        entry = {"name": name, "type": type_, "link": link_id}
        if widget:
            entry["widget"] = {"name": name}
        inputs.append(entry)
        self.links.append([link_id, src, slot, dst, len(inputs) - 1, type_])
        return link_id

    def build(self, **extra: Any) -> dict[str, Any]:
        return {"version": 0.4, "nodes": self.nodes, "links": self.links, "groups": [], "extra": {}, **extra}


def convert(graph: dict, defs: dict | None = None, **kwargs: Any) -> dict:
    """Convert, then JSON round-trip like a prompt sent over HTTP."""
    return json.loads(json.dumps(ui_to_api(graph, defs or DEFS, **kwargs)))


def inputs_of(prompt: dict, node_id: int) -> dict:
    return prompt[str(node_id)]["inputs"]


# -- widgets ------------------------------------------------------------------------------------------


def test_widgets_values_are_positional_and_mapped_by_name_in_input_order():
    g = Graph()
    g.add("EmptyLatentImage", [832, 1216, 2])
    assert convert(g.build()) == {
        "1": {
            "inputs": {"width": 832, "height": 1216, "batch_size": 2},
            "class_type": "EmptyLatentImage",
            "_meta": {"title": "Empty Latent Image"},
        }
    }


def test_a_node_title_overrides_the_display_name_in_meta():
    g = Graph()
    g.add("VAEDecode", title="Decode final")
    assert convert(g.build())["1"]["_meta"] == {"title": "Decode final"}


def test_the_control_after_generate_entry_after_a_seed_is_skipped():
    g = Graph()
    g.add("KSampler", [156680208700286, "randomize", 28, 6.5, "euler", "karras", 1.0])
    assert inputs_of(convert(g.build()), 1) == {
        "seed": 156680208700286,
        "steps": 28,
        "cfg": 6.5,
        "sampler_name": "euler",
        "scheduler": "karras",
        "denoise": 1,
    }


def test_seed_and_noise_seed_get_a_control_entry_unless_the_flag_says_false():
    defs = {
        "Seeded": {"input": {"required": {"seed": ["INT", {}], "steps": ["INT", {}]}}},
        "NoControl": {
            "input": {"required": {"seed": ["INT", {"control_after_generate": False}], "steps": ["INT", {}]}}
        },
    }
    g = Graph()
    g.add("Seeded", [7, "fixed", 20])
    g.add("NoControl", [7, 20])
    prompt = convert(g.build(), defs)
    assert inputs_of(prompt, 1) == {"seed": 7, "steps": 20}
    assert inputs_of(prompt, 2) == {"seed": 7, "steps": 20}


def test_a_combo_with_control_after_generate_has_two_frontend_only_entries():
    defs = {
        "Pick": {
            "input": {
                "required": {"style": [["a", "b"], {"control_after_generate": True}], "n": ["INT", {}]}
            },
            "input_order": {"required": ["style", "n"]},
        }
    }
    g = Graph()
    g.add("Pick", ["b", "increment", "filter text", 3])
    assert inputs_of(convert(g.build(), defs), 1) == {"style": "b", "n": 3}


def test_missing_or_dict_widgets_values_fall_back_to_the_definition_defaults():
    g = Graph()
    g.add("EmptyLatentImage", [640])
    g.add("EmptyLatentImage", {"width": 1024, "height": 1024})  # a pack's own JS format: core ignores it
    g.add("EmptyLatentImage")
    prompt = convert(g.build())
    assert inputs_of(prompt, 1) == {"width": 640, "height": 512, "batch_size": 1}
    assert inputs_of(prompt, 2) == inputs_of(prompt, 3) == {"width": 512, "height": 512, "batch_size": 1}


def test_list_values_are_wrapped_and_numbers_come_out_as_javascript_has_them():
    g = Graph()
    g.add("StringConcatenate", ["a", "b", ["x", "y"]])
    g.add("PrimitiveInt", [18446744073709551615, "fixed"])  # beyond 2**53: rounded like a JS number
    g.add("PrimitiveFloat", [2.0])
    prompt = convert(g.build())
    assert inputs_of(prompt, 1)["delimiter"] == {"__value__": ["x", "y"]}
    assert inputs_of(prompt, 2) == {"value": 18446744073709552000}
    assert inputs_of(prompt, 3) == {"value": 2} and isinstance(inputs_of(prompt, 3)["value"], int)


def test_multiline_text_reads_back_like_a_textarea():
    g = Graph()
    g.add("StringConcatenate", ["one\r\ntwo\rthree", None, None])
    assert inputs_of(convert(g.build()), 1) == {
        "string_a": "one\ntwo\nthree",
        "string_b": "",
        "delimiter": None,
    }


def test_upload_combos_annotate_non_input_folders_and_fall_back_when_empty():
    g = Graph()
    g.add("LoadImage", ["portrait.png", "image"])
    g.add("LoadImage", ["", "image"])
    g.add("LoadImageOutput", ["ComfyUI_00002_.png", False, "refresh"])
    prompt = convert(g.build())
    assert inputs_of(prompt, 1) == {"image": "portrait.png"}  # the upload button is not sent
    assert inputs_of(prompt, 2) == {"image": "example.png"}  # empty -> the combo's first choice
    assert inputs_of(prompt, 3) == {"image": "ComfyUI_00002_.png [output]", "refresh": "refresh"}


def test_values_saved_for_force_input_sockets_by_old_editors_are_dropped():
    g = Graph()
    g.add("KlingVideoExtendNode", ["a prompt", "a negative", 0.5, "dummy for video_id"])
    g.add("KlingVideoExtendNode", ["a prompt", "a negative", 0.5])
    prompt = convert(g.build())
    expected = {"prompt": "a prompt", "negative_prompt": "a negative", "cfg_scale": 0.5}
    assert inputs_of(prompt, 1) == inputs_of(prompt, 2) == expected


def test_old_names_are_migrated_like_the_editor_does_on_load():
    g = Graph()
    g.add("ConditioningAverage ", [0.25])  # a historic typo in the type name
    g.add("KSampler", [1, "fixed", 20, 8, "sample_euler", "normal", 1])
    prompt = convert(g.build())
    assert prompt["1"]["class_type"] == "ConditioningAverage"
    assert inputs_of(prompt, 2)["sampler_name"] == "euler"


# -- links ---------------------------------------------------------------------------------------------


def txt2img() -> tuple[Graph, dict[str, int]]:
    g = Graph()
    ids = {
        "ckpt": g.add("CheckpointLoaderSimple", ["sd15.safetensors"]),
        "pos": g.add("CLIPTextEncode", ["a portrait"]),
        "neg": g.add("CLIPTextEncode", ["blurry"]),
        "latent": g.add("EmptyLatentImage", [512, 768, 1]),
        "ksampler": g.add("KSampler", [5, "fixed", 20, 8, "euler", "normal", 1]),
    }
    g.connect(ids["ckpt"], 0, ids["ksampler"], "model", "MODEL")
    g.connect(ids["ckpt"], 1, ids["pos"], "clip", "CLIP")
    g.connect(ids["ckpt"], 1, ids["neg"], "clip", "CLIP")
    g.connect(ids["pos"], 0, ids["ksampler"], "positive", "CONDITIONING")
    g.connect(ids["neg"], 0, ids["ksampler"], "negative", "CONDITIONING")
    g.connect(ids["latent"], 0, ids["ksampler"], "latent_image", "LATENT")
    return g, ids


def test_links_become_origin_id_and_slot_pairs():
    g, ids = txt2img()
    prompt = convert(g.build())
    assert inputs_of(prompt, ids["pos"]) == {"text": "a portrait", "clip": ["1", 1]}
    assert inputs_of(prompt, ids["ksampler"])["latent_image"] == ["4", 0]


def test_links_given_as_objects_are_accepted():
    g, _ = txt2img()
    keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
    objects = [dict(zip(keys, link, strict=True)) for link in g.links]
    as_schema_1 = g.build(version=1, links=objects, state={"lastNodeId": 5, "lastLinkId": len(objects)})
    assert convert(as_schema_1) == convert(g.build())


def test_a_widget_converted_to_an_input_takes_the_linked_value():
    g, ids = txt2img()
    steps = g.add("PrimitiveInt", [30, "fixed"])
    g.connect(steps, 0, ids["ksampler"], "steps", "INT", widget=True)
    assert inputs_of(convert(g.build()), ids["ksampler"])["steps"] == [str(steps), 0]


def test_a_muted_node_is_left_out_and_every_link_into_it_disappears():
    g, ids = txt2img()
    g.nodes[ids["latent"] - 1]["mode"] = MUTED
    cfg = g.add("PrimitiveFloat", [3.5], mode=MUTED)
    g.connect(cfg, 0, ids["ksampler"], "cfg", "FLOAT", widget=True)
    prompt = convert(g.build())
    assert str(ids["latent"]) not in prompt and str(cfg) not in prompt
    assert "latent_image" not in inputs_of(prompt, ids["ksampler"])
    assert "cfg" not in inputs_of(prompt, ids["ksampler"])  # not even the widget's own value survives


def test_a_bypassed_node_hands_on_the_input_matching_the_wanted_type():
    g = Graph()
    latent = g.add("EmptyLatentImage", [512, 512, 1])
    upscale = g.add("LatentUpscaleBy", ["nearest-exact", 1.5], mode=BYPASSED)
    pos, neg = g.add("CLIPTextEncode", ["a portrait"]), g.add("CLIPTextEncode", ["blurry"])
    average = g.add("ConditioningAverage", [0.5], mode=BYPASSED)
    sampler = g.add("KSampler", [5, "fixed", 20, 8, "euler", "normal", 1])
    decode = g.add("VAEDecode", mode=BYPASSED)  # has no IMAGE input to hand on
    preview = g.add("PreviewImage")
    g.connect(latent, 0, upscale, "samples", "LATENT")
    g.connect(upscale, 0, sampler, "latent_image", "LATENT")
    g.connect(neg, 0, average, "conditioning_to", "CONDITIONING")
    g.connect(pos, 0, average, "conditioning_from", "CONDITIONING")
    g.connect(average, 0, sampler, "positive", "CONDITIONING")
    g.connect(sampler, 0, decode, "samples", "LATENT")
    g.connect(decode, 0, preview, "images", "IMAGE")
    prompt = convert(g.build())
    assert {str(upscale), str(average), str(decode)}.isdisjoint(prompt)
    assert inputs_of(prompt, sampler)["latent_image"] == [str(latent), 0]
    assert inputs_of(prompt, sampler)["positive"] == [str(neg), 0]  # the input at the output's index
    assert inputs_of(prompt, preview) == {}


# -- frontend-only nodes ---------------------------------------------------------------------------------


def reroute(g: Graph) -> int:
    return g.add("Reroute", inputs=[{"name": "", "type": "*", "link": None}], outputs=[])


def test_reroute_chains_are_followed_and_a_dangling_reroute_drops_the_input():
    g = Graph()
    ckpt = g.add("CheckpointLoaderSimple", ["sd15.safetensors"])
    r1, r2, dangling = reroute(g), reroute(g), reroute(g)
    encode = g.add("CLIPTextEncode", ["hi"])
    decode = g.add("VAEDecode")
    for r in (r1, r2, dangling):
        g.nodes[r - 1]["inputs"] = []
    g.connect(ckpt, 1, r1, "", "CLIP")
    g.connect(r1, 0, r2, "", "CLIP")
    g.connect(r2, 0, encode, "clip", "CLIP")
    g.connect(dangling, 0, decode, "vae", "VAE")
    prompt = convert(g.build())
    assert set(prompt) == {str(ckpt), str(encode), str(decode)}
    assert inputs_of(prompt, encode)["clip"] == [str(ckpt), 1]
    assert inputs_of(prompt, decode) == {}


def test_a_link_to_nowhere_makes_the_graph_invalid_as_in_the_editor():
    g, ids = txt2img()
    g.nodes[ids["ksampler"] - 1]["inputs"][0]["link"] = 99  # no such link
    with pytest.raises(AInfError) as err:
        convert(g.build())
    assert err.value.code == ErrorCode.GRAPH_INVALID
    assert "link 99" in err.value.message


def test_circular_reroutes_make_the_graph_invalid():
    """The editor silently cuts such a loop while loading; we refuse the broken graph instead."""
    g = Graph()
    r1, r2 = reroute(g), reroute(g)
    decode = g.add("VAEDecode")
    for r in (r1, r2):
        g.nodes[r - 1]["inputs"] = []
    g.connect(r1, 0, r2, "")
    g.connect(r2, 0, r1, "")
    g.connect(r2, 0, decode, "vae", "VAE")
    with pytest.raises(AInfError) as err:
        convert(g.build())
    assert err.value.code == ErrorCode.GRAPH_INVALID


def primitive(g: Graph, value: Any, *, replace: bool = False) -> int:
    return g.add("PrimitiveNode", [value, "fixed"], properties={"Run widget replace on values": replace})


def test_a_primitive_node_feeds_its_value_into_the_widgets_it_is_linked_to():
    g, ids = txt2img()
    seed = primitive(g, 987654321)
    g.connect(seed, 0, ids["ksampler"], "seed", "INT", widget=True)
    width = primitive(g, 1001)  # the INT widgets round it to their step (8)
    g.connect(width, 0, ids["latent"], "width", "INT", widget=True)
    cfg = primitive(g, 7.25)  # cfg rounds to 0.01, then to its step's precision (0.1)
    g.connect(cfg, 0, ids["ksampler"], "cfg", "FLOAT", widget=True)
    steps = primitive(g, 0)  # clamped into the target's range (min 1)
    g.connect(steps, 0, ids["ksampler"], "steps", "INT", widget=True)
    prompt = convert(g.build())
    assert str(seed) not in prompt
    assert inputs_of(prompt, ids["ksampler"])["seed"] == 987654321
    assert inputs_of(prompt, ids["latent"])["width"] == 1000
    assert inputs_of(prompt, ids["ksampler"])["cfg"] == 7.3
    assert inputs_of(prompt, ids["ksampler"])["steps"] == 1


def test_a_primitive_can_run_text_replacement_on_its_value():
    g, _ = txt2img()
    save = g.add("SaveImage", ["unused"])
    prefix = primitive(g, "run-%KSampler.steps%", replace=True)
    g.connect(prefix, 0, save, "filename_prefix", "STRING", widget=True)
    assert inputs_of(convert(g.build()), save)["filename_prefix"] == "run-20"


def test_notes_markdown_notes_and_groups_never_reach_the_prompt():
    g = Graph()
    g.add("Note", ["remember the seed"])
    g.add("MarkdownNote", ["# title"])
    latent = g.add("EmptyLatentImage", [512, 512, 1])
    graph = g.build(groups=[{"id": 1, "title": "Latent", "bounding": [0, 0, 400, 300]}])
    assert list(convert(graph)) == [str(latent)]


# -- text the editor rewrites while queueing --------------------------------------------------------------


def test_dynamic_prompts_lose_comments_resolve_choices_and_keep_escaped_braces():
    g = Graph()
    g.add("CLIPTextEncode", ["a /* hidden */{red|blue} dress // note\n\\{literal\\} {only}"])
    rng = random.Random()
    rng.random = lambda: 0.99  # always the last option
    assert inputs_of(convert(g.build(), rng=rng), 1)["text"] == "a blue dress \n{literal} only"


def test_save_nodes_fill_node_widget_and_date_placeholders_in_filename_prefix():
    g, ids = txt2img()
    g.nodes[ids["pos"] - 1]["title"] = "Prompt"
    save = g.add("SaveImage", ["AInf/%KSampler.seed%_%Prompt.text%_%date:yyyy-MM-dd hh%_%nope.x%_%oops%"])
    now = datetime(2025, 5, 6, 7, 8, 9)
    prefix = inputs_of(convert(g.build(), now=now), save)["filename_prefix"]
    assert prefix == "AInf/5_a portrait_2025-05-06 07_%nope.x%_%oops%"


# -- refusals --------------------------------------------------------------------------------------------


def test_subgraphs_are_refused_with_a_way_out():
    g = Graph()
    g.add("EmptyLatentImage", [512, 512, 1])
    graph = g.build(definitions={"subgraphs": [{"id": "4a1c", "name": "Upscaler", "nodes": []}]})
    with pytest.raises(AInfError) as err:
        ui_to_api(graph, DEFS)
    assert err.value.code == ErrorCode.GRAPH_INVALID
    assert "Subgraphs are not supported" in err.value.message
    assert any("Unpack Subgraph" in step for step in err.value.remediation)


def test_group_nodes_are_refused():
    g = Graph()
    g.add("workflow>upscale")
    with pytest.raises(AInfError) as err:
        ui_to_api(g.build(extra={"groupNodes": {"upscale": {"nodes": []}}}), DEFS)
    assert err.value.code == ErrorCode.GRAPH_INVALID


def test_every_missing_node_type_is_reported_at_once():
    g = Graph()
    g.add("VHS_VideoCombine")
    g.add("EmptyLatentImage")
    g.add("IPAdapterAdvanced", mode=MUTED)
    with pytest.raises(AInfError) as err:
        ui_to_api(g.build(), DEFS)
    assert err.value.code == ErrorCode.DEPENDENCY_MISSING
    assert err.value.detail == {"missing_nodes": ["IPAdapterAdvanced", "VHS_VideoCombine"]}
    assert "'IPAdapterAdvanced' is not installed" in err.value.message


def test_widgets_that_only_exist_in_a_live_editor_are_refused():
    g = Graph()
    g.add("WebcamCapture", [None, 640, 480, False, "image"])
    with pytest.raises(AInfError) as err:
        ui_to_api(g.build(), DEFS)
    assert err.value.code == ErrorCode.GRAPH_INVALID
    assert "WEBCAM" in err.value.message


# -- shape -------------------------------------------------------------------------------------------------


def test_integer_ids_come_out_in_ascending_order_like_a_javascript_object():
    g, _ = txt2img()
    assert list(convert(g.build())) == ["1", "2", "3", "4", "5"]


def test_the_input_graph_is_not_modified():
    g, _ = txt2img()
    g.add("ConditioningAverage ", [0.5])
    graph = g.build()
    before = copy.deepcopy(graph)
    ui_to_api(graph, DEFS)
    assert graph == before
