"""Output files written under a temporary name and renamed when complete, so a crash never leaves a torn file
under the final name; and the removal of what a crashed run left in its output folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import AInfError
from .media import kind_for_suffix, probe

PARTIAL_MARK = ".partial"


def partial_path(path: Path) -> Path:
    """The temporary name of `path` while it is written: hidden, same folder, same suffix (muxers need it)."""
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{path.suffix}")


def is_partial(path: Path) -> bool:
    """True for a file still being written (or left by a writer that died): a name `partial_path` makes."""
    return path.name.startswith(".") and PARTIAL_MARK in path.name


def publish(tmp: Path, path: Path) -> Path:
    """Make a finished temporary file durable and move it to its final name in one atomic step."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield the temporary name to write `path` under; it is renamed on success and removed on failure."""
    tmp = partial_path(path)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _torn(path: Path) -> bool:
    """True for a media file that does not decode (a writer killed before it finished)."""
    if kind_for_suffix(path.name) is None:
        return False
    try:
        return probe(path) is None
    except AInfError:  # beyond the input limits is still a whole file
        return False


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete what a crashed run left under `folder`: partial files and media that does not decode.

    Outputs that ComfyUI's own save nodes write go straight to their final name, so a kill -9 mid-encode
    leaves a torn file there (an MP4 of its header only); finished files of the run are kept.
    """
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and (is_partial(path) or _torn(path)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
