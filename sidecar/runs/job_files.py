"""Where a preset run's saving nodes write: every `filename_prefix` of its graph inside the job's folder.

The manifest's outputs are named after the preset (`ainfluencer/<job_id>/<preset_id>`); any other node with a
`filename_prefix` widget (a social export, a preview saved on the way) keeps its own file name under the same
folder, so nothing a job writes lands beside other jobs' folders in `output/ainfluencer/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from ..graph.bind import widget_targets
from ..jobs.presets import WorkflowPreset

PREFIX_INPUT = "filename_prefix"


def _prefix_nodes(graph: dict[str, Any], node_defs: Mapping[str, Any]) -> dict[str, str]:
    """(node id → its current prefix) of every node in the graph with a `filename_prefix` widget."""
    return {
        node_id: str(value) if value else ""
        for node_id, _name, value in widget_targets(graph, node_defs, {PREFIX_INPUT})
    }


def job_prefixes(
    graph: dict[str, Any], node_defs: Mapping[str, Any], manifest: WorkflowPreset, preset_id: str, job_id: str
) -> dict[tuple[str, str], str]:
    """(node id, widget) → prefix of every saving node of a run, each inside `ainfluencer/<job_id>/`."""
    folder = f"ainfluencer/{job_id}"
    prefixes = {
        (str(output.node_id), output.prefix_input): f"{folder}/{preset_id}"
        for output in manifest.outputs
        if output.prefix_input
    }
    for node_id, current in _prefix_nodes(graph, node_defs).items():
        name = PurePosixPath(current).name or f"{preset_id}_node{node_id}"
        prefixes.setdefault((node_id, PREFIX_INPUT), f"{folder}/{name}")
    return prefixes


def feeds_another_node(prompt: Mapping[str, Any] | None, node_id: str) -> bool:
    """Whether an API prompt links any node's input to an output of `node_id`.

    An output node whose result another node goes on with (a social export the signed save node writes) makes
    an intermediate file: it belongs in the temp folder as a preview, not in the job's outputs a second time.
    """
    for node in (prompt or {}).values():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        for value in (inputs or {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) == str(node_id):
                return True
    return False
