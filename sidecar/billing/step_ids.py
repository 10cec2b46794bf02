"""Ledger step ids: `run` for a whole job, `node:<id>[#<index>]` for each call of a remote node."""

from __future__ import annotations

from typing import NamedTuple

STEP_PREFIX = "node:"


def step_id_for(node_id: str, index: int = 0) -> str:
    """The ledger / request step id of a node's `index`-th remote call."""
    return f"{STEP_PREFIX}{node_id}" if index == 0 else f"{STEP_PREFIX}{node_id}#{index}"


def is_node_step(step_id: str) -> bool:
    """True for the step of a remote node's call, False for a whole-job step such as `run`."""
    return step_id.startswith(STEP_PREFIX)


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
