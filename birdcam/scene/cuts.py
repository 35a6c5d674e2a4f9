"""Telling a new shot: the picture changed at once (a cut, the camera turned), or time went back (a seek, a loop)."""

from __future__ import annotations

import numpy as np


class CutDetector:
    """Tells a cut from a tiny grey thumbnail (most of it changed at once) or from capture times that run back."""

    def __init__(self, changed_fraction: float = 0.5, level: float = 40.0):
        self.changed_fraction = changed_fraction
        """The share of the thumbnail that must change for a cut."""
        self.level = level
        """How much (0-255) a thumbnail pixel must change to count as changed."""
        self.reset()

    def reset(self) -> None:
        """Forgets the last frame: the next one is no cut."""
        self._previous: np.ndarray | None = None
        self._last_t: float | None = None

    def changed(self, frame: np.ndarray, t: float) -> bool:
        """Whether this frame, captured at t, starts a new shot. Time running back is a cut at once, and that
        frame's thumbnail is not taken."""
        went_back = self._last_t is not None and t < self._last_t
        self._last_t = t
        if went_back:
            return True
        step = max(1, min(frame.shape[0], frame.shape[1]) // 48)
        thumb = frame[::step, ::step].astype(np.float32)
        thumb = thumb.mean(axis=2) if thumb.ndim == 3 else thumb
        previous, self._previous = self._previous, thumb
        if previous is None:
            return False
        if previous.shape != thumb.shape:
            return True  # another source
        return float(np.mean(np.abs(thumb - previous) > self.level)) >= self.changed_fraction
