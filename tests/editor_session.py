"""A session in the real ComfyUI editor (headless Debian chromium), and where each node and group lies.

LiteGraph draws a node's title bar above `pos`, so its `boundingRect` is `[x, y - title, w, h + title]`;
`computeSize()` of a fresh node of the type is the least size that shows its inputs, outputs and
widgets; a group holds the nodes whose centre lies inside it (`recomputeInsideNodes`). These are the
editor's own answers, not a copy. Graphs are measured once their video previews have loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from browser_oracle import CHROMIUM, CHROMIUM_ARGS

T = TypeVar("T")

_MEASURE_JS = """
async (graphJson) => {
  const app = window.app
  await app.loadGraphData(JSON.parse(graphJson), true, true, null, {
    showMissingNodesDialog: false,
    showMissingModelsDialog: false,
  })
  await document.fonts.ready  // computeSize() measures titles and labels in the editor's fonts
  // a video preview widget grows its node once the clip's metadata arrives; measure what a person sees
  const loaded = () => Array.from(document.querySelectorAll('video')).every((v) => v.readyState >= 1)
  for (let waited = 0; waited < 5000 && !loaded(); waited += 100) await new Promise((r) => setTimeout(r, 100))
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
  await new Promise((r) => setTimeout(r, 100))
  const known = window.LiteGraph.registered_node_types
  // the least size of a node's widgets, from a fresh node of its type: a loaded node's computeSize()
  // also counts a media preview, which follows the node's current width and so bounds nothing
  const least = (n) =>
    (known[n.type] && window.LiteGraph.createNode(n.type)?.computeSize()) || n.computeSize()
  const nodes = app.graph._nodes.map((n) => ({
    id: String(n.id),
    type: n.type,
    registered: !!known[n.type],
    size: [n.size[0], n.size[1]],
    computed: Array.from(least(n)),
    bounding: Array.from(n.boundingRect),
  }))
  const groups = app.graph._groups.map((g) => {
    g.recomputeInsideNodes()
    return { title: g.title, bounding: Array.from(g._bounding), titleHeight: g.titleHeight,
             nodes: g._nodes.map((n) => String(n.id)) }
  })
  return JSON.stringify({ nodes, groups })
}
"""


@dataclass(frozen=True)
class NodeBox:
    """A node as the editor lays it out: its size, its least size, and its bounding box with title bar."""

    id: str
    type: str
    registered: bool  # False: its node pack is not installed (the editor shows a placeholder)
    size: tuple[float, float]
    computed: tuple[float, float]
    bounding: tuple[float, float, float, float]  # x, y, width, height


@dataclass(frozen=True)
class GroupBox:
    """A group: its box (title bar included), the title bar's height and the ids of the nodes it holds."""

    title: str
    bounding: tuple[float, float, float, float]
    title_height: float
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class GraphGeometry:
    """Every node and group of one graph as loaded in the editor."""

    nodes: tuple[NodeBox, ...]
    groups: tuple[GroupBox, ...]


def _parse(text: str) -> GraphGeometry:
    data: dict[str, Any] = json.loads(text)
    nodes = tuple(
        NodeBox(
            n["id"], n["type"], n["registered"], tuple(n["size"]), tuple(n["computed"]), tuple(n["bounding"])
        )
        for n in data["nodes"]
    )
    groups = tuple(
        GroupBox(g["title"], tuple(g["bounding"]), g["titleHeight"], tuple(g["nodes"]))
        for g in data["groups"]
    )
    return GraphGeometry(nodes, groups)


def in_editor(comfy_url: str, steps: Callable[[Any], T], timeout_s: float = 60.0) -> T:
    """Open the editor, wait until it is ready, and return what `steps(page)` returns.

    Playwright's sync API refuses to run inside a running asyncio loop, so the session has a thread.
    """

    def session() -> T:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(timeout_s * 1000)
                page.goto(comfy_url.rstrip("/") + "/")
                page.wait_for_function("() => !!(window.app && window.app.graph && window.app.vueAppReady)")
                return steps(page)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(session).result()


def measure_graphs(comfy_url: str, graphs: list[dict], timeout_s: float = 60.0) -> list[GraphGeometry]:
    """Load each UI graph in one editor session and return its nodes' and groups' geometry."""
    texts = [json.dumps(graph) for graph in graphs]
    return in_editor(
        comfy_url, lambda page: [_parse(page.evaluate(_MEASURE_JS, t)) for t in texts], timeout_s
    )


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """True when two [x, y, w, h] boxes share any area (touching edges do not count)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def encloses(outer: tuple[float, ...], inner: tuple[float, ...], top_margin: float = 0.0) -> bool:
    """True when `inner` lies wholly inside `outer`, below its first `top_margin` pixels (a title bar)."""
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1] + top_margin
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )
