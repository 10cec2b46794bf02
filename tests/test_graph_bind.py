"""Binding values into a UI graph by input name, using the live node definitions."""

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.graph.bind import seed_targets, set_widget
from ainfluencer.sidecar.graph.widgets import widget_names
from fakes import captured_node_defs

DEFS = captured_node_defs()


def test_layout_follows_input_order_and_marks_frontend_only_entries():
    assert widget_names("LoadVideo", DEFS["LoadVideo"]) == ["file", None]  # the upload button's entry
    assert widget_names("AInfluencerFilmGrain", DEFS["AInfluencerFilmGrain"]) == [
        "strength",
        "size",
        "chroma",
        "seed",
        None,
        "look",
    ]
    assert widget_names("SaveVideo", DEFS["SaveVideo"]) == ["filename_prefix", "format", "codec"]
    assert widget_names("CreateVideo", DEFS["CreateVideo"]) == ["fps"]


def test_set_widget_writes_by_name_and_seed_targets_find_every_seed():
    graph = {
        "nodes": [{"id": 4, "type": "AInfluencerFilmGrain", "widgets_values": [0.3, 1.0, 0.0, 0, "fixed"]}]
    }
    set_widget(graph, DEFS, "4", "chroma", 0.2)
    assert graph["nodes"][0]["widgets_values"] == [0.3, 1.0, 0.2, 0, "fixed"]
    assert seed_targets(graph, DEFS) == [("4", "seed")]


def test_binding_an_unknown_widget_or_node_is_a_contract_mismatch():
    graph = {"nodes": [{"id": 1, "type": "LoadVideo", "widgets_values": ["a.mp4", "image"]}]}
    for node_id, name in (("1", "nope"), ("9", "file")):
        with pytest.raises(AInfError) as info:
            set_widget(graph, DEFS, node_id, name, "x")
        assert info.value.code == ErrorCode.CONTRACT_MISMATCH
