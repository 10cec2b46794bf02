"""Which earlier output each file of a saved batch descends from (the parent its manifest embeds)."""

from __future__ import annotations

from dataclasses import replace

from ..sidecar.provenance.outputs import JobContext

__all__ = ["per_item"]


def _batch_node(stem: str) -> str:
    """The node part of a kept remote result's stem, ``node<id>_<index>`` (RemoteCall.keep)."""
    return stem.rsplit("_", 1)[0]


def per_item(job: JobContext, count: int) -> list[JobContext]:
    """The context of each of `count` saved files: file i descends from the upstream batch node's result i.

    A batch node (the storyboard's shots, one remote node run for several items) keeps one result per item,
    and the save node writes item i as file i. Embedding every result in every file would cost N² embedded
    manifests for N shots and name ingredients a shot never used, so each file gets its own result only.
    Any other upstream (one result, several nodes, a count that does not match) keeps the whole context.
    """
    earlier = job.earlier_outputs
    one_node = len({_batch_node(p.stem) for p in earlier}) == 1
    if count > 1 and len(earlier) == count and one_node:
        return [replace(job, earlier_outputs=(parent,)) for parent in earlier]
    return [job] * count
