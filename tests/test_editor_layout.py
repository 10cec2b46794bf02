"""Every shipped graph opens in the real editor laid out for reading.

Rules, each measured by the editor itself (LiteGraph in headless chromium):
1. no two nodes' bounding boxes (`node.boundingRect`: pos and size plus the title bar above) overlap;
2. every node whose type is registered is saved at least as large as `computeSize()` of a fresh node of
   its type (the least size that shows all its inputs, outputs and widgets; a loaded node's media
   preview is left out, its size follows the node's width), in width and in height;
3. every node a group holds (LiteGraph's rule: its centre lies inside) lies wholly inside the group,
   below the group's title bar, and no other node cuts through the group's box;
4. the graph has exactly one core `Note` node that says what the preset does, what to change and
   what it costs (lines starting "What it does:", "What to change:", "What it costs:").
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from editor_session import GraphGeometry, encloses, measure_graphs, overlaps

pytestmark = [pytest.mark.browser, pytest.mark.integration]
WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
GRAPHS = sorted(WORKFLOWS.glob("*.json")) + sorted((WORKFLOWS / "variants").glob("*.json"))
NOTE_LINES = ("What it does:", "What to change:", "What it costs:")


def _graph(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def geometry(comfy_url) -> dict[str, GraphGeometry]:
    """Every shipped graph as the editor lays it out, measured in one browser session."""
    measured = measure_graphs(comfy_url, [_graph(path) for path in GRAPHS], timeout_s=120)
    return {path.name: found for path, found in zip(GRAPHS, measured, strict=True)}


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_no_node_overlaps_another(geometry, path):
    nodes = geometry[path.name].nodes
    clashes = [(a.id, b.id) for a, b in itertools.combinations(nodes, 2) if overlaps(a.bounding, b.bounding)]
    assert clashes == [], f"{path.name}: these nodes overlap (ids): {clashes}"


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_every_node_is_saved_tall_and_wide_enough_for_its_widgets(geometry, path):
    saved = {str(n["id"]): n["size"] for n in _graph(path)["nodes"]}
    small = [
        (box.id, box.type, saved[box.id], [round(v) for v in box.computed])
        for box in geometry[path.name].nodes
        if box.registered and (saved[box.id][0] < box.computed[0] or saved[box.id][1] < box.computed[1])
    ]
    assert small == [], f"{path.name}: saved smaller than computeSize() (id, type, saved, needed): {small}"


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_groups_enclose_the_nodes_they_hold_and_no_node_cuts_through_one(geometry, path):
    found = geometry[path.name]
    for group in found.groups:
        held = set(group.nodes)
        outside = [
            b.id
            for b in found.nodes
            if b.id in held and not encloses(group.bounding, b.bounding, group.title_height)
        ]
        cutting = [b.id for b in found.nodes if b.id not in held and overlaps(group.bounding, b.bounding)]
        assert (outside, cutting) == ([], []), f"{path.name}, group {group.title!r}: {outside=} {cutting=}"


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_the_graph_has_one_note_saying_what_it_does_what_to_change_and_what_it_costs(path):
    notes = [n for n in _graph(path)["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1, f"{path.name}: {len(notes)} Note nodes"
    text = notes[0]["widgets_values"][0]
    starts = [line.split(":")[0] + ":" for line in text.splitlines() if line.strip()]
    assert starts == list(NOTE_LINES), f"{path.name}: the note's paragraphs start {starts}"
