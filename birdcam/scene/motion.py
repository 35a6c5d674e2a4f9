"""Where the picture moves: the cue that sends the detector to a bird that just came or stirred.

A feeder cam stands still, and a bird that arrives, hops or flutters changes the picture where it is.
Each frame is shrunk to a small grey image (160 px wide: well under a millisecond) and compared with a
background that follows the picture slowly (a running mean), so a change of light fades into it while
a bird's movement stands out; a camera that pans or shakes moves the whole picture, which phase
correlation measures and the background follows. The places that differ, grouped into blobs, are
where the search looks next, before the tiles' turn comes.
"""

from __future__ import annotations

import cv2
import numpy as np

from birdcam.models.boxes import Box

MOTION_WIDTH = 160
"""Width in pixels of the grey image the motion is measured on."""
MIN_SHIFT = 0.05
"""A shift of the whole picture (grey-image pixels) below this is no camera movement."""


class MotionCue:
    """The moving blobs of each frame, largest first. One per scene pass; not thread-safe."""

    def __init__(self, level: float = 20.0, rate: float = 0.05, min_cells: int = 12):
        self.level = level
        """How much (0-255) a pixel of the grey image must differ from the background to count as moving."""
        self.rate = rate
        """How far the background moves towards each frame (0-1): its memory is about 1 / rate frames."""
        self.min_cells = min_cells
        """Blobs of fewer grey-image pixels than this are noise."""
        self.reset()

    def reset(self) -> None:
        """Forgets the background (a new shot): the next frame becomes it."""
        self._background: np.ndarray | None = None

    def update(self, frame: np.ndarray) -> list[Box]:
        """Takes one BGR frame; returns the boxes (frame pixels) of what moved against the background, largest
        first."""
        height = max(1, round(frame.shape[0] * MOTION_WIDTH / frame.shape[1]))
        small = cv2.resize(frame, (MOTION_WIDTH, height), interpolation=cv2.INTER_AREA)
        grey = small if small.ndim == 2 else cv2.cvtColor(small[:, :, :3], cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(grey.astype(np.float32), (3, 3), 0)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey
            return []
        (dx, dy), _ = cv2.phaseCorrelate(self._background, grey)
        edge = 0
        if abs(dx) > MIN_SHIFT or abs(dy) > MIN_SHIFT:  # the camera moved: so does the background
            shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
            self._background = cv2.warpAffine(
                self._background, shift, grey.shape[::-1], borderMode=cv2.BORDER_REPLICATE
            )
            edge = int(np.ceil(max(abs(dx), abs(dy)))) + 1  # what came in at the edges is no motion
        moving: np.ndarray = (np.abs(grey - self._background) > self.level).astype(np.uint8)
        if edge:
            moving[:edge], moving[-edge:], moving[:, :edge], moving[:, -edge:] = 0, 0, 0, 0
        cv2.accumulateWeighted(grey, self._background, self.rate)
        moving = cv2.dilate(moving, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
        scale = frame.shape[1] / MOTION_WIDTH
        blobs = sorted(
            (row for row in stats[1:count] if row[cv2.CC_STAT_AREA] >= self.min_cells),
            key=lambda row: -int(row[cv2.CC_STAT_AREA]),
        )
        return [(float(x * scale), float(y * scale), float(w * scale), float(h * scale)) for x, y, w, h, _ in blobs]
