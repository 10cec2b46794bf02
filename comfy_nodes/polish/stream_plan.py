"""A lazily streamed clip: a source file plus an ordered tuple of pass specs, rendered in one pass.

Chaining a step appends a spec (no decode, no encode). Rendering decodes ahead in a thread
(``frame_source.decode_ahead``), runs every pass on 8-bit chunks in the calling thread (runs of colour
passes fused into one LUT gather), and encodes once in a second thread with libx264 on all cores; the
source's audio is copied untouched. Memory is bounded by a few chunks whatever the clip's length. The
plan is a pure value, so rendering it twice gives the same file and nothing is consumed. On a CPU, plans
of colour passes and grain (``yuv``) and plans of luma deflicker and a final weight-free upscale
(``plane_lane``) run on the decoded yuv420p planes instead of RGB frames.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from .colour import pack_rgb24, unpack_rgb24
from .frame_source import SourceFormat, decode_ahead, source_format
from .grain_field import GrainWorkspace, strip_rows
from .grain_packed import PackedGrain
from .lut import MAX_LUT_SIZE, ColourFn, bake, lut_table_u8
from .passes import NO_TICK, ColourPass, GrainPass, PassSpec, Tick
from .plane_lane import plane_lane
from .video_probe import video_start
from .video_stream import ChunkProcessor
from .video_writer import VideoWriter
from .yuv import YuvRun, response_of, yuv_passes, yuv_tables

__all__ = ["ClipShape", "LutProcessor", "OnFrames", "StreamPlan", "chain_processor"]

OnFrames = Callable[[int, int], None]  # (source frames done, source frames in all)
FUSED_LUT_SIZE = min(65, MAX_LUT_SIZE)  # lattice of a fused colour run: finer than a .cube's usual 33
DECODE_CHUNK = 8
ENCODE_QUEUE = 3


@dataclass(frozen=True)
class ClipShape:
    """What a plan will produce, known without decoding more than one frame."""

    width: int
    height: int
    fps: Fraction
    frame_count: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frame_count / float(self.fps)


class LutProcessor:
    """Per-pixel colour functions baked into one 3D LUT, applied as one gather per pixel."""

    def __init__(self, table: torch.Tensor | None) -> None:
        self.table = table

    @classmethod
    def baked(cls, ops: list[ColourFn], device: torch.device) -> LutProcessor:
        """Bake ``ops`` (applied in order) into an exact 8-bit table on ``device`` (none when empty)."""
        if not ops:
            return cls(None)
        return cls(lut_table_u8(bake(ops, FUSED_LUT_SIZE, device=device), device=device))

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Look every pixel up, in place."""
        if self.table is None:
            return frames
        packed = pack_rgb24(frames)
        return unpack_rgb24(self.table.index_select(0, packed.view(-1)).view(packed.shape), frames)

    def flush(self) -> torch.Tensor | None:
        """Nothing is held back."""
        return None


@functools.lru_cache(maxsize=2)
def _fused_table(run: tuple[ColourPass, ...], device: torch.device) -> torch.Tensor | None:
    """The 8-bit table of a run of colour passes (64 MiB; the last two are kept for a re-render)."""
    return LutProcessor.baked([op for spec in run for op in spec.colour_ops()], device).table


class _PackedRun:
    """Colour tables and monochrome grain on packed pixels, strip by strip, in place.

    Each frame is packed once (``r | g << 8 | b << 16`` in an int32), goes through every table gather and
    grain addition of the run on cache-sized strips, and is unpacked once, as the cinematic finish does.
    """

    def __init__(
        self, steps: list[torch.Tensor | PackedGrain], width: int, device: torch.device, tick: Tick
    ) -> None:
        self.steps = steps
        self.tick = tick
        self.rows = strip_rows(width) if device.type == "cpu" else 1 << 16  # accelerators: whole frames
        self.work = GrainWorkspace()
        self.frames = 0

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Run the steps over each frame of the chunk (in place)."""
        height = frames.shape[1]
        for index in range(frames.shape[0]):
            self.tick()
            for step in self.steps:
                if isinstance(step, PackedGrain):
                    step.start_frame(self.frames + index)
            for row in range(0, height, self.rows):
                source = frames[index, row : row + self.rows]
                shape = source.shape[:2]
                current = pack_rgb24(source, out=self.work.get("a", shape, torch.int32, frames.device))
                spare = self.work.get("b", shape, torch.int32, frames.device)
                for step in self.steps:
                    if isinstance(step, PackedGrain):
                        step.add(current, row)
                    else:
                        torch.index_select(step, 0, current.view(-1), out=spare.view(-1))
                        current, spare = spare, current
                unpack_rgb24(current, source)
        self.frames += frames.shape[0]
        return frames

    def flush(self) -> torch.Tensor | None:
        """Nothing is held back."""
        return None


class _Chain:
    """Processors one after another: each push goes through all; flushes cascade in order."""

    def __init__(self, stages: list[ChunkProcessor]) -> None:
        self.stages = stages

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            if frames.shape[0] == 0:
                break
            frames = stage.push(frames)
        return frames

    def flush(self) -> torch.Tensor | None:
        carry: torch.Tensor | None = None
        for stage in self.stages:
            if carry is not None and carry.shape[0]:
                carry = stage.push(carry)
            tail = stage.flush()
            if tail is not None and tail.shape[0]:
                carry = tail if carry is None or carry.shape[0] == 0 else torch.cat([carry, tail])
        return carry


def chain_processor(
    passes: tuple[PassSpec, ...], width: int, height: int, device: torch.device, tick: Tick = NO_TICK
) -> ChunkProcessor:
    """One processor for ``passes`` on uint8 frames.

    Consecutive colour passes are fused into one 8-bit table, and tables with monochrome grain run
    together on packed pixels; every other pass is a stage of its own.
    """
    stages: list[ChunkProcessor] = []
    packed: list[torch.Tensor | PackedGrain] = []
    colour: list[ColourPass] = []

    def close_colour() -> None:
        table = _fused_table(tuple(colour), device) if colour else None
        if table is not None:
            packed.append(table)
        colour.clear()

    def close_packed() -> None:
        close_colour()
        if packed:
            stages.append(_PackedRun(list(packed), width, device, tick))
        packed.clear()

    for spec in passes:
        if isinstance(spec, ColourPass):
            colour.append(spec)
        elif isinstance(spec, GrainPass) and spec.monochrome:
            close_colour()
            grain = spec.packed(width, height, device)
            if grain is not None:
                packed.append(grain)
        else:
            close_packed()
            stages.append(spec.build(width, height, device, tick))
            width, height = spec.output_size(width, height)
    close_packed()
    return _Chain(stages)


class _EncodeBehind(threading.Thread):
    """Feeds a VideoWriter from a bounded queue so encoding overlaps the passes."""

    def __init__(self, writer: VideoWriter, write: Callable[[torch.Tensor], None]) -> None:
        super().__init__(name=f"encode {writer.path.name}", daemon=True)
        self.writer = writer
        self.write = write
        self.chunks: queue.Queue[torch.Tensor | None] = queue.Queue(maxsize=ENCODE_QUEUE)
        self.error: BaseException | None = None
        self.dropped = threading.Event()  # the render failed or was interrupted: encode nothing more

    def run(self) -> None:
        """Encode until the end marker (None); keep the first error and drain the rest."""
        while (chunk := self.chunks.get()) is not None:
            for index in range(chunk.shape[0]):  # frame by frame, so an abandon stops within a frame
                if self.error is not None or self.dropped.is_set():
                    break
                try:
                    self.write(chunk[index : index + 1])
                except BaseException as exc:  # raised again by the producing thread
                    self.error = exc

    def put(self, chunk: torch.Tensor) -> None:
        """Queue a chunk (blocks while the encoder is behind); raise the encoder's error if it failed."""
        if self.error is not None:
            raise self.error
        self.chunks.put(chunk.cpu())

    def abandon(self) -> None:
        """Stop encoding: whatever is still queued is dropped, and the thread ends."""
        self.dropped.set()
        self.chunks.put(None)
        self.join()

    def finish(self) -> None:
        """Wait for the queued chunks to be encoded."""
        self.chunks.put(None)
        self.join()
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class StreamPlan:
    """A source clip and the passes to stream it through (a pure value: render it as often as needed)."""

    source: Path
    passes: tuple[PassSpec, ...] = ()

    def then(self, spec: PassSpec) -> StreamPlan:
        """This plan with one more pass at the end."""
        return StreamPlan(self.source, (*self.passes, spec))

    def source_format(self) -> SourceFormat:
        """The source as the passes see it (upright, even-sized)."""
        return source_format(self.source)

    def shape(self) -> ClipShape:
        """Output size, rate and frame count, from the source's probe and the passes' factors."""
        return self._shape(self.source_format())

    def _shape(self, fmt: SourceFormat) -> ClipShape:
        width, height, factor = fmt.width, fmt.height, 1
        for spec in self.passes:
            width, height = spec.output_size(width, height)
            factor *= spec.fps_factor
        return ClipShape(width, height, fmt.fps * factor, fmt.frame_count * factor)

    def frames(
        self,
        *,
        device: torch.device | str = "cpu",
        tick: Tick = NO_TICK,
        on_frames: OnFrames | None = None,
        chunk_size: int = DECODE_CHUNK,
    ) -> Iterator[torch.Tensor]:
        """Yield the processed clip as uint8 ``[B,H,W,3]`` chunks on ``device`` (``tick`` per chunk)."""
        return self._frames(self.source_format(), torch.device(device), tick, on_frames, chunk_size)

    def _frames(
        self, fmt: SourceFormat, device: torch.device, tick: Tick, on_frames: OnFrames | None, chunk_size: int
    ) -> Iterator[torch.Tensor]:
        engine = chain_processor(self.passes, fmt.width, fmt.height, device, tick)
        return _stream(fmt, engine, decode_ahead(fmt, chunk_size), device, tick, on_frames)

    def _planes(
        self,
        fmt: SourceFormat,
        split: tuple[tuple[ColourPass, ...], GrainPass | None],
        tick: Tick,
        on_frames: OnFrames | None,
        chunk_size: int,
    ) -> Iterator[torch.Tensor]:
        """The processed clip as yuv420p ``[B, H * 3 / 2, W]`` uint8 chunks (``split`` from _yuv_split)."""
        assert fmt.planar is not None
        colour_run, grain = split
        tables = yuv_tables(colour_run, response_of(grain), fmt.planar)
        engine = YuvRun(tables, grain, fmt.width, fmt.height, tick)
        chunks = decode_ahead(fmt, chunk_size, planes=True)
        with _one_thread():
            yield from _stream(fmt, engine, chunks, torch.device("cpu"), tick, on_frames)

    def in_yuv(self, device: torch.device | str = "cpu") -> bool:
        """True when the plan runs on the decoded yuv420p planes (colour passes and grain on a CPU)."""
        return self._yuv_split(self.source_format(), torch.device(device)) is not None

    def _yuv_split(
        self, fmt: SourceFormat, device: torch.device
    ) -> tuple[tuple[ColourPass, ...], GrainPass | None] | None:
        """The plan's colour run and grain when it runs on ``fmt``'s planes on ``device``, else None."""
        if device.type != "cpu" or fmt.planar is None:
            return None
        return yuv_passes(self.passes)

    def render(
        self,
        dst: str | Path,
        *,
        device: torch.device | str = "cpu",
        tick: Tick = NO_TICK,
        on_frames: OnFrames | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        metadata: dict[str, str] | None = None,
    ) -> Path:
        """Stream the plan into ``dst`` (H.264 MP4, audio copied); nothing is left there if it fails."""
        fmt = self.source_format()
        shape = self._shape(fmt)
        device = torch.device(device)
        lane = plane_lane(self.passes, fmt, device)
        split = None if lane is not None else self._yuv_split(fmt, device)
        yuv = lane is not None or split is not None
        writer = VideoWriter(
            dst,
            shape.width,
            shape.height,
            shape.fps,
            audio_from=fmt.path if fmt.has_audio else None,
            audio_offset=video_start(fmt.path) if fmt.has_audio else 0.0,
            crf=crf,
            preset=preset,
            metadata=metadata,
            planes=fmt.planar if yuv else None,
            resize_from=lane.resize_from if lane is not None else None,
        )
        encoder = _EncodeBehind(writer, writer.write_planes if yuv else writer.write)
        encoder.start()
        try:
            try:
                if lane is not None:
                    engine, decoded = _Chain(list(lane.stages)), decode_ahead(fmt, planes=True)
                    chunks = _stream(fmt, engine, decoded, torch.device("cpu"), tick, on_frames)
                elif split is not None:
                    chunks = self._planes(fmt, split, tick, on_frames, DECODE_CHUNK)
                else:
                    chunks = self._frames(fmt, device, tick, on_frames, DECODE_CHUNK)
                for chunk in chunks:
                    encoder.put(chunk)
                encoder.finish()
            except BaseException:
                if encoder.is_alive():
                    encoder.abandon()
                writer.abort()
                raise
            return writer.close()
        finally:
            return_freed_memory()


def return_freed_memory() -> None:
    """Hand the heap memory a pass freed back to the system (glibc's ``malloc_trim``; no-op elsewhere).

    The decoder, encoder and lane threads each allocate from their own glibc arena, and chunks below the
    (self-raising) mmap threshold come from those arenas; without a trim the freed chunks stay in the
    process, and a long-lived ComfyUI grows by hundreds of MB run after run.
    See https://man7.org/linux/man-pages/man3/malloc_trim.3.html and mallopt(3) on M_MMAP_THRESHOLD.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library when it has ``malloc_trim`` (glibc), looked up on first use, not at import."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run this thread's torch ops on one core while the decoder and x264 have the others.

    The per-frame ops are small (a strip of a frame); with more intra-op threads than idle cores, each op
    waits at its barrier for threads the encoder has preempted, which makes them many times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _stream(
    fmt: SourceFormat,
    engine: ChunkProcessor,
    chunks: Iterator[torch.Tensor],
    device: torch.device,
    tick: Tick,
    on_frames: OnFrames | None,
) -> Iterator[torch.Tensor]:
    """Decoded chunks through ``engine`` (``tick`` per chunk, ``on_frames`` as they are done)."""
    total, done = fmt.frame_count, 0
    try:
        for chunk in chunks:
            tick()
            with torch.inference_mode():
                out = engine.push(chunk.to(device))
            done += chunk.shape[0]
            if on_frames is not None:
                on_frames(min(done, total), max(total, done))
            if out.shape[0]:
                yield out
        with torch.inference_mode():
            tail = engine.flush()
        if tail is not None and tail.shape[0]:
            yield tail
    finally:
        chunks.close()
    if on_frames is not None:
        on_frames(max(total, done), max(total, done))
