"""Every shipped preset is a graph whose manifest validates and binds to real nodes and widgets."""

import json

import pytest
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.graph.widgets import widget_names
from ainfluencer.sidecar.jobs.presets import PresetCatalog, load_preset_file, preset_files
from fakes import captured_node_defs, third_party_node_defs

SHIPPED = preset_files(WORKFLOWS_DIR)
# nodes of the optional LivePortraitKJ and PuLID packs (the LivePortrait and local identity variants use them)
THIRD_PARTY_DEFS = third_party_node_defs()


def test_the_first_preset_ships_with_all_three_quality_levels():
    catalog = PresetCatalog(WORKFLOWS_DIR)
    assert "color_grade_film_grain_v1" in catalog.ids()
    manifest = catalog.primary("color_grade_film_grain_v1")
    assert set(manifest.quality_levels) == {"low", "standard", "pro"}
    assert manifest.inputs[0].name == "video" and manifest.inputs[0].required


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_binding_names_a_widget_of_its_node(path):
    variant = load_preset_file(path)
    defs = {**captured_node_defs(), **THIRD_PARTY_DEFS}
    nodes = {str(n["id"]): n for n in variant.graph["nodes"]}
    manifest = variant.manifest
    bindings = [(i.bind.node_id, i.bind.input) for i in manifest.inputs]
    bindings += [(o.node_id, o.input) for q in manifest.quality_levels.values() for o in q.overrides]
    bindings += [(o.node_id, o.prefix_input) for o in manifest.outputs if o.prefix_input]
    for node_id, name in bindings:
        node_type = nodes[node_id]["type"]
        assert name in widget_names(node_type, defs[node_type]), (node_id, name)


def _manifest_variant(tmp_path, mutate):
    graph = json.loads((WORKFLOWS_DIR / "color_grade_film_grain_v1.json").read_text())
    mutate(graph["extra"]["ainfluencer"], graph)
    path = tmp_path / "color_grade_film_grain_v1.json"
    path.write_text(json.dumps(graph))
    return path


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m, g: m.update(turbo=True), "turbo"),
        (lambda m, g: m["inputs"][0]["bind"].update(node_id="99"), "not in the graph"),
        (lambda m, g: m.update(default_quality="ultra"), "default_quality"),
        (lambda m, g: m["inputs"].append(dict(m["inputs"][0])), "unique"),
        (lambda m, g: g["extra"].pop("ainfluencer"), "no extra.ainfluencer"),
    ],
)
def test_a_broken_manifest_is_refused_with_its_reason(tmp_path, mutate, reason):
    with pytest.raises(ValueError, match=reason):
        load_preset_file(_manifest_variant(tmp_path, mutate))
