"""Checks that a shipped graph is laid out for reading: boxes apart, groups around their nodes, one Note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TITLE_BAR = 30  # the editor draws a node's title above `pos`


def _box(node: dict[str, Any]) -> tuple[float, float, float, float]:
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - TITLE_BAR, x + w, y + h


def layout_problems(path: Path) -> list[str]:
    """What is wrong with a graph's layout (empty when it reads well)."""
    graph = json.loads(path.read_text(encoding="utf-8"))
    nodes = graph["nodes"]
    problems = []
    boxes = [(n["id"], _box(n)) for n in nodes]
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for b, (bx0, by0, bx1, by1) in boxes[i + 1 :]:
            if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
                problems.append(f"nodes {a} and {b} overlap")
    for group in graph.get("groups", []):
        gx, gy, gw, gh = group["bounding"]
        touched = [
            n["id"] for n in nodes
            if _box(n)[0] < gx + gw and gx < _box(n)[2] and _box(n)[1] < gy + gh and gy < _box(n)[3]
        ]  # fmt: skip
        for node_id in touched:
            x0, y0, x1, y1 = _box(next(n for n in nodes if n["id"] == node_id))
            if not (gx <= x0 and gy <= y0 and x1 <= gx + gw and y1 <= gy + gh):
                problems.append(f"group {group['title']!r} cuts through node {node_id}")
    notes = [n for n in nodes if n["type"] == "Note"]
    if len(notes) != 1 or not str(notes[0]["widgets_values"][0]).strip():
        problems.append(f"expected one Note saying what the preset does, found {len(notes)}")
    return problems
