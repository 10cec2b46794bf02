"""Lay the shipped preset graphs out for reading, from sizes measured in the real editor.

    python tools/layout_workflows.py [--url http://127.0.0.1:8188] [FILE ...]

Without `--url` an embedded ComfyUI is started for the measurement. Nodes go in columns by how far they
are from the graph's inputs (the `Note` first), each at least as large as the editor's `computeSize()`
for its widgets; each group is redrawn around the nodes it held. `tests/test_editor_layout.py` checks
the result in the editor.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from editor_session import GraphGeometry, measure_graphs, overlaps  # noqa: E402

TITLE = 30  # LiteGraph.NODE_TITLE_HEIGHT: the title bar drawn above a node's pos
COLUMN_GAP = 60
ROW_GAP = 30
LEFT, TOP = 40, 110
GROUP_PAD = 20


def _depths(graph: dict) -> dict[str, int]:
    """Each node's column: 0 for a node without linked inputs, else one past its deepest source."""
    sources: dict[str, set[str]] = {str(n["id"]): set() for n in graph["nodes"]}
    for link in graph.get("links", []):
        sources[str(link[3])].add(str(link[1]))
    depth: dict[str, int] = {}

    def visit(node_id: str) -> int:
        if node_id not in depth:
            depth[node_id] = 0  # a cycle cannot occur in a runnable graph; this guards the recursion
            depth[node_id] = max((visit(s) + 1 for s in sources[node_id]), default=0)
        return depth[node_id]

    for node_id in sources:
        visit(node_id)
    return depth


def _columns(graph: dict) -> list[list[dict]]:
    depth = _depths(graph)
    columns: list[list[dict]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    order = sorted(graph["nodes"], key=lambda n: (n["type"] != "Note", n.get("order", 0), n["id"]))
    for node in order:
        columns[depth[str(node["id"])]].append(node)
    return columns


def lay_out(graph: dict, geometry: GraphGeometry) -> dict:
    """The graph with node sizes at least the editor's, columns by depth and groups around their nodes."""
    measured = {box.id: box for box in geometry.nodes}
    x = LEFT
    for column in _columns(graph):
        y = TOP
        width = 0.0
        for node in column:
            box = measured[str(node["id"])]
            saved = node.get("size") or [0, 0]
            size = [max(saved[0], box.size[0], box.computed[0]), max(saved[1], box.size[1], box.computed[1])]
            node["size"] = [round(size[0]), round(size[1])]
            node["pos"] = [x, y]
            y += node["size"][1] + TITLE + ROW_GAP
            width = max(width, node["size"][0])
        x += round(width) + COLUMN_GAP
    boxes = {
        str(n["id"]): (n["pos"][0], n["pos"][1] - TITLE, n["size"][0], n["size"][1] + TITLE)
        for n in graph["nodes"]
    }
    for group, box in zip(graph.get("groups", []), geometry.groups, strict=True):
        group["bounding"] = _around(boxes, set(box.nodes), round(group.get("font_size", 24) * 1.4))
    return graph


def _box(node: dict) -> tuple[float, float, float, float]:
    """A node's box as LiteGraph bounds it: the title bar above `pos` included."""
    return (node["pos"][0], node["pos"][1] - TITLE, node["size"][0], node["size"][1] + TITLE)


def _around(boxes: dict[str, tuple[float, ...]], held: set[str], title: float) -> list[float]:
    """A group box around the nodes it held, grown over any node it would otherwise cut through."""
    held = held & set(boxes) or set(boxes)
    while True:
        left = min(boxes[i][0] for i in held) - GROUP_PAD
        top = min(boxes[i][1] for i in held) - GROUP_PAD - title
        right = max(boxes[i][0] + boxes[i][2] for i in held) + GROUP_PAD
        bottom = max(boxes[i][1] + boxes[i][3] for i in held) + GROUP_PAD
        bounding = [left, top, right - left, bottom - top]
        cut = {i for i, b in boxes.items() if i not in held and overlaps(bounding, b)}
        if not cut:
            return bounding
        held |= cut


def _measure(url: str | None, graphs: list[dict]) -> list[GraphGeometry]:
    if url is not None:
        return measure_graphs(url, graphs)
    from ainfluencer.sidecar.host import runtime

    runtime.install()
    with tempfile.TemporaryDirectory() as base:
        server = runtime.start_server(runtime.free_port(), base_dir=Path(base) / "base")
        try:
            return measure_graphs(server.url, graphs)
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    """Lay out the named graph files (default: every shipped graph) in place."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--url", help="a running ComfyUI with the pack (default: start one)")
    args = parser.parse_args(argv)
    folder = REPO / "workflows"
    files = args.files or sorted(folder.glob("*.json")) + sorted((folder / "variants").glob("*.json"))
    graphs = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    for path, graph, geometry in zip(files, graphs, _measure(args.url, graphs), strict=True):
        print(path.name)
        text = json.dumps(lay_out(graph, geometry), indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
