"""Reading the ledger / request step ids that `remote.steps.step_id_for` writes (`node:<id>[#<index>]`)."""

from __future__ import annotations

from typing import NamedTuple

from ..remote.steps import STEP_PREFIX


class NodeStep(NamedTuple):
    """A remote step id taken apart: the API prompt's node id and the node's call index (0 = first)."""

    node_id: str
    index: int


def parse_step_id(step_id: str) -> NodeStep | None:
    """The node id and call index of `node:<id>` or `node:<id>#<index>`; None for a job step such as `run`."""
    if not step_id.startswith(STEP_PREFIX):
        return None
    node_id, _sep, index = step_id.removeprefix(STEP_PREFIX).partition("#")
    if not node_id or (index and not index.isdigit()):
        return None
    return NodeStep(node_id, int(index or 0))
