"""A batch: several runs of one preset merged into one ComfyUI prompt, each in its own node-id range."""

from __future__ import annotations

import copy
from typing import Any

from ..billing.step_ids import parse_step_id, step_id_for
from .plan import BatchPlan, RunPlan, StepPrice

MAX_BATCH = 16
BATCH_ID_STRIDE = 10_000


def batch_node_id(node_id: Any, item: int) -> str:
    """The id node `node_id` of a preset's prompt gets in run `item` (from 0) of a batch."""
    return str(int(node_id) + (item + 1) * BATCH_ID_STRIDE)


def offset_prompt(prompt: dict[str, Any], item: int) -> dict[str, Any]:
    """A copy of an API prompt with every node id (and every link to one) moved to batch item `item`."""
    renamed: dict[str, Any] = {}
    for node_id, node in prompt.items():
        node = copy.deepcopy(node)
        for name, value in (node.get("inputs") or {}).items():
            is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
            if is_link and isinstance(value[0], str) and value[0] in prompt:
                node["inputs"][name] = [batch_node_id(value[0], item), value[1]]
        renamed[batch_node_id(node_id, item)] = node
    return renamed


def offset_step(step: StepPrice, item: int) -> StepPrice:
    """A remote step of a preset's prompt as it is named in run `item` of a batch."""
    parsed = parse_step_id(step.step_id)
    if parsed is None:  # a job-wide step keeps its name
        return step
    return step._replace(step_id=step_id_for(batch_node_id(parsed.node_id, item), parsed.index))


def merge_runs(runs: list[RunPlan]) -> BatchPlan:
    """One batch of runs: their prompts and remote steps moved into each run's id range, costs summed."""
    prompt: dict[str, Any] = {}
    steps: list[StepPrice] = []
    for item, run in enumerate(runs):
        prompt.update(offset_prompt(run.prompt, item))
        steps += [offset_step(step, item) for step in run.steps]
    return BatchPlan(tuple(runs), prompt, tuple(steps), round(sum(run.cost for run in runs), 3))
