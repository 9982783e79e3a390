"""Contact sheet: a PNG grid of real / fake / difference face crops, to judge fakes at a glance."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from skyhawk.faces import crop_face

TITLE_PX = 22
GAP_PX = 6


@dataclass(frozen=True)
class SheetPair:
    """A real frame, its fake and the face box to crop (full-frame coordinates)."""

    title: str
    real: np.ndarray
    fake: np.ndarray
    box: tuple[float, float, float, float]


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _cell(pair: SheetPair, tile: int, margin: float) -> np.ndarray:
    real = crop_face(pair.real, pair.box, margin, tile)
    fake = crop_face(pair.fake, pair.box, margin, tile)
    diff = cv2.absdiff(real, fake).max(axis=2)
    diff = cv2.applyColorMap(np.clip(diff.astype(np.int32) * 4, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    tiles = []
    for img, name in ((real, "real"), (fake, "fake"), (diff, "|diff| x4")):
        img = img.copy()
        _label(img, name, (4, tile - 6))
        tiles.append(img)
    cell = np.full((TITLE_PX + tile, 3 * tile, 3), 32, np.uint8)
    cell[TITLE_PX:] = np.hstack(tiles)
    title = pair.title if len(pair.title) <= 3 * tile // 8 else "..." + pair.title[-(3 * tile // 8 - 3):]
    _label(cell, title, (4, TITLE_PX - 7), 0.42)
    return cell


def make_contact_sheet(pairs: Sequence[SheetPair], path: str, tile: int = 160, cols: int = 2,
                       margin: float = 1.3) -> str:
    """Writes the PNG grid (each cell: real | fake | amplified difference) and returns its path."""
    if not pairs:
        raise ValueError("no real/fake pairs for the contact sheet")
    cells = [_cell(p, tile, margin) for p in pairs]
    ch, cw = cells[0].shape[:2]
    cols = max(1, min(cols, len(cells)))
    rows = (len(cells) + cols - 1) // cols
    sheet = np.full((rows * (ch + GAP_PX) + GAP_PX, cols * (cw + GAP_PX) + GAP_PX, 3), 255, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, cols)
        y, x = GAP_PX + r * (ch + GAP_PX), GAP_PX + c * (cw + GAP_PX)
        sheet[y:y + ch, x:x + cw] = cell
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, sheet):
        raise ValueError(f"cannot write contact sheet {path} (use a .png name)")
    return path
