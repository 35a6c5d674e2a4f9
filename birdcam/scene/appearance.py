"""A bird's look: a small grey template, to follow it between detector passes and to notice when it has gone.

The detector searches one region per frame, so most frames do not look at a given bird. Its template,
matched in a small window around where the bird should be (normalized cross-correlation at ~24 px,
well under a millisecond), moves its box in those frames and tells when the bird has left: the place
it was no longer looks like it. Each detector hit renews the template, so a bird that turns or
spreads its wings is followed from one look to the next.
"""

from __future__ import annotations

import cv2
import numpy as np

from birdcam.models.boxes import Box, PixelBox

TEMPLATE_SIDE = 24
"""Pixels along the longer side of the template."""


class Appearance:
    """What one bird looked like at its last detection."""

    def __init__(self, frame: np.ndarray, box: Box):
        self.template = np.zeros((1, 1), np.float32)
        self.scale = 1.0
        self.size = (0.0, 0.0)
        """(w, h) in frame pixels of the box the look was taken from."""
        self.renew(frame, box)

    def renew(self, frame: np.ndarray, box: Box) -> None:
        """Takes the bird's look from this frame (a detector just boxed it)."""
        x, y, w, h = _clipped(box, frame.shape)
        if w < 2 or h < 2:
            return
        self.size = (float(w), float(h))
        self.scale = TEMPLATE_SIDE / max(w, h)
        size = (max(3, round(w * self.scale)), max(3, round(h * self.scale)))
        self.template = _grey(cv2.resize(frame[y : y + h, x : x + w], size, interpolation=cv2.INTER_AREA))

    def find(self, frame: np.ndarray, predicted: Box, reach: float = 0.5) -> tuple[Box, float]:
        """Where the bird looks most like itself within `reach` times its size around `predicted`, and how
        alike (normalized cross-correlation, -1 to 1; 0 when the window is too small to tell)."""
        px, py, pw, ph = predicted
        margin = reach * max(pw, ph)
        window = _clipped((px - margin, py - margin, pw + 2 * margin, ph + 2 * margin), frame.shape)
        wx, wy, ww, wh = window
        size = (round(ww * self.scale), round(wh * self.scale))
        th, tw = self.template.shape
        if size[0] < tw or size[1] < th or min(th, tw) < 3:
            return predicted, 0.0
        area = _grey(cv2.resize(frame[wy : wy + wh, wx : wx + ww], size, interpolation=cv2.INTER_AREA))
        scores = cv2.matchTemplate(area, self.template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if not np.isfinite(best):
            return predicted, 0.0
        return (wx + bx / self.scale, wy + by / self.scale, tw / self.scale, th / self.scale), float(best)

    def comparable(self, box: Box, tolerance: float = 1.3) -> bool:
        """The box has about the size and shape of the one the look was taken from (width and height each
        within `tolerance`), so that how alike they look says whether it is the same bird."""
        w, h = self.size
        return w > 0 and h > 0 and max(box[2] / w, w / box[2]) <= tolerance and max(box[3] / h, h / box[3]) <= tolerance


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY)
    return image.astype(np.float32)


def _clipped(box: Box, shape: tuple[int, ...]) -> PixelBox:
    height, width = int(shape[0]), int(shape[1])
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(width, int(round(box[0] + box[2]))), min(height, int(round(box[1] + box[3])))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)
