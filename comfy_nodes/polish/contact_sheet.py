"""A storyboard's contact sheet: its shots in a numbered grid, as one IMAGE ([1, H, W, 3] floats 0..1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (18, 18, 18)
LABEL_COLOUR = (235, 235, 235)


@dataclass(frozen=True)
class SheetLayout:
    """Where each shot sits: columns, rows, the cell size, the margin and the label band under each shot."""

    columns: int
    rows: int
    cell_width: int
    cell_height: int
    margin: int
    label_height: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet."""
        width = self.columns * (self.cell_width + self.margin) + self.margin
        height = self.rows * (self.cell_height + self.label_height + self.margin) + self.margin
        return width, height

    def origin(self, index: int) -> tuple[int, int]:
        """Top-left corner of shot `index` (from 0), filled row by row."""
        row, column = divmod(index, self.columns)
        return (
            self.margin + column * (self.cell_width + self.margin),
            self.margin + row * (self.cell_height + self.label_height + self.margin),
        )


def sheet_layout(count: int, shot_width: int, shot_height: int, cell_width: int = 480) -> SheetLayout:
    """Up to five shots a row (two rows for ten), each scaled to `cell_width` (never enlarged)."""
    columns = min(count, 5) if count > 4 else min(count, 2)
    rows = math.ceil(count / columns)
    width = min(cell_width, shot_width)
    height = max(1, round(shot_height * width / shot_width))
    margin = max(8, width // 30)
    return SheetLayout(columns, rows, width, height, margin, label_height=max(20, width // 12))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1 has one bitmap size
        return ImageFont.load_default()


def contact_sheet(shots: torch.Tensor, cell_width: int = 480) -> torch.Tensor:
    """The shots of a batch in a grid, each with "Shot N" under it."""
    count, shot_height, shot_width = shots.shape[0], shots.shape[1], shots.shape[2]
    layout = sheet_layout(count, shot_width, shot_height, cell_width)
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font(int(layout.label_height * 0.7))
    for index in range(count):
        pixels = (shots[index, ..., :3].detach().cpu().float().clamp(0, 1).numpy() * 255 + 0.5).astype(
            np.uint8
        )
        cell = Image.fromarray(pixels).resize((layout.cell_width, layout.cell_height), Image.LANCZOS)
        x, y = layout.origin(index)
        sheet.paste(cell, (x, y))
        draw.text((x, y + layout.cell_height + layout.label_height * 0.1), f"Shot {index + 1}",
                  fill=LABEL_COLOUR, font=font)  # fmt: skip
    return torch.from_numpy(np.asarray(sheet, dtype=np.float32) / 255.0).unsqueeze(0)
