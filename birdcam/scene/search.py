"""Where the detector looks in each frame: the search plan, second looks, motion, and each bird's neighbourhood.

One detector pass a frame at most, over one region: the neighbourhood of a new bird (to confirm
it), else a second look at a box a search found cut by its region's edge or doubtful, else the
neighbourhood of a bird not looked at for a while, else, every other search, the neighbourhood of
something that moved where no bird is followed (motion.py), else the next region of the search plan
(the whole frame, then tiles at full resolution in turn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from birdcam.models.boxes import Box, PixelBox, overlap_area
from birdcam.scene.motion import MotionCue
from birdcam.scene.options import SceneOptions
from birdcam.scene.tracker import Track

if TYPE_CHECKING:
    from birdcam.models.detector import Detection

MAX_PROBES = 4
"""Second looks queued at most (boxes a search found cut or doubtful)."""
PROBE_WITHIN_S = 0.5
"""A second look not taken within this time is dropped (the bird has moved on)."""
MOTION_REVISIT_S = 0.5
"""A moving place searched is not searched again for its motion within this time."""
_SAME_TIME_S = 1e-3
"""Capture times this close count as equal (frame times are rounded by sources)."""


class Search:
    """Chooses the region of each detector pass. One per scene pass; not thread-safe."""

    def __init__(self, options: SceneOptions, input_size: tuple[int, int]):
        self.options = options
        self.input_size = input_size
        """The detector's input (height, width): a neighbourhood is never smaller."""
        self._motion = MotionCue()
        self.reset()

    def reset(self) -> None:
        """Forgets the plan's place, the queued second looks and when the detector last looked."""
        self._plan: SearchPlan | None = None
        self._last_pass: float | None = None
        self._frames_since_pass = 0
        """Frames watched since the last detector pass."""
        self._refreshed = False
        """The last pass renewed a bird's box: the next one searches (every other frame at most)."""
        self._probes: list[tuple[PixelBox, float]] = []
        """Second looks queued: (region, drop it after this time)."""
        self._motion.reset()
        self._moving: list[Box] = []
        """What moved in the last frame watched, largest first."""
        self._searched_motion: list[tuple[PixelBox, float]] = []
        """Regions searched for their motion lately, and when."""
        self._motion_turn = False
        """The next search is motion's turn (motion and the plan take turns)."""

    def watch(self, frame: np.ndarray) -> None:
        """Takes every frame the scene pass processes: counts it toward the next detector pass, and keeps its motion
        (with `options.motion_search`) for the searches to come."""
        self._frames_since_pass += 1
        if self.options.motion_search:
            self._moving = self._motion.update(frame)

    def due(self, t: float) -> bool:
        """A detector pass is due at time t: none yet, or the last one `detector_interval_s` ago and
        `detector_every` frames watched since."""
        if self._last_pass is None:
            return True
        return (
            t - self._last_pass >= self.options.detector_interval_s - _SAME_TIME_S
            and self._frames_since_pass >= self.options.detector_every
        )

    def searched_everywhere(self, t: float) -> None:
        """The detector searched every region of the plan at time t (a new shot's first frame)."""
        self._passed(t)

    def next_region(self, shape: tuple[int, ...], tracks: Sequence[Track], t: float) -> tuple[PixelBox, bool]:
        """Where the detector looks at time t, and whether that is a search for new birds: the
        neighbourhood of a new bird (to confirm it), else a second look at a box a tile cut or doubted,
        else the neighbourhood of a bird not looked at for `refresh_s`, else the next region of the search plan."""
        self._passed(t)
        if self._plan is None or self._plan.shape != (int(shape[0]), int(shape[1])):
            self._plan = SearchPlan((int(shape[0]), int(shape[1])), self.options.tile_sizes)
        due = [track for track in tracks if self._refresh_due(track, t)]
        new = [track for track in due if not track.confirmed]
        self._probes = [(region, until) for region, until in self._probes if until >= t]
        if new or (due and not self._probes):
            track = min(due, key=lambda tr: (tr.confirmed, tr.last_looked))
            self._refreshed = True
            return neighbourhood(track.predicted(t), self.options.neighbourhood, self.input_size, shape), False
        self._refreshed = False
        if self._probes:
            return self._probes.pop(0)[0], True
        self._motion_turn = not self._motion_turn
        moving = self._motion_region(shape, tracks, t) if self._motion_turn else None
        return (moving or self._plan.next_region()), True

    def _passed(self, t: float) -> None:
        self._last_pass, self._frames_since_pass = t, 0

    def _motion_region(self, shape: tuple[int, ...], tracks: Sequence[Track], t: float) -> PixelBox | None:
        """The neighbourhood of the largest moving blob where no bird is followed and that was not searched for
        its motion lately; None when there is none."""
        self._searched_motion = [(region, at) for region, at in self._searched_motion if t - at < MOTION_REVISIT_S]
        for blob in self._moving:
            area = blob[2] * blob[3]
            if any(overlap_area(blob, track.predicted(t)) >= 0.3 * area for track in tracks):
                continue
            if any(overlap_area(blob, region) >= 0.8 * area for region, _ in self._searched_motion):
                continue
            region = neighbourhood(blob, self.options.neighbourhood, self.input_size, shape)
            self._searched_motion.append((region, t))
            return region
        return None

    def probe_later(
        self, detections: Sequence[Detection], tracks: Sequence[Track], shape: tuple[int, ...], t: float
    ) -> None:
        """Queues a look at the neighbourhood of boxes a search found cut by its region's edge or doubtful, where
        no bird is followed: seen whole, or at another scale, the detector may be sure of them."""
        for detection in detections:
            if len(self._probes) >= MAX_PROBES:
                return
            if any(overlap_area(detection.box, track.predicted(t)) > 0 for track in tracks):
                continue
            if any(
                overlap_area(detection.box, region) >= 0.5 * detection.box[2] * detection.box[3]
                for region, _ in self._probes
            ):
                continue
            region = neighbourhood(detection.box, self.options.neighbourhood, self.input_size, shape)
            self._probes.append((region, t + PROBE_WITHIN_S))

    def _refresh_due(self, track: Track, t: float) -> bool:
        """New birds are looked for every frame until confirmed; the others every `refresh_s`, at most every
        other frame (so the search goes on), and half as often once their look is lost."""
        if not track.confirmed:
            return True
        if self._refreshed:
            return False
        interval = self.options.refresh_s * (2 if track.misses >= self.options.hide_after_misses else 1)
        return t - track.last_looked >= interval


class SearchPlan:
    """The regions the detector searches in turn for new birds: the whole frame, then grids of tiles.

    A 416-px pass over a 1280x720 frame shrinks a 200-px bird to 65 px, which the detector mostly
    misses; tiles of 448 px keep birds at about their own size, and visiting one per frame keeps the
    cost of a pass. The tiles of a grid overlap by at least a sixth, so that a bird cut by one edge is
    whole in the next tile; a second grid of another size shows each bird at another scale and place,
    as the detector misses some birds at one and finds them at the other.
    """

    def __init__(self, shape: tuple[int, int], tile_sizes: tuple[int, ...]):
        self.shape = (int(shape[0]), int(shape[1]))
        height, width = self.shape
        self.regions: list[PixelBox] = [(0, 0, width, height)]
        for size in tile_sizes:
            if size > 0 and max(width, height) > 1.25 * size:
                self.regions += [
                    (x, y, min(size, width), min(size, height))
                    for y in _tile_starts(height, size)
                    for x in _tile_starts(width, size)
                ]
        self._next = 0

    def next_region(self) -> PixelBox:
        region = self.regions[self._next]
        self._next = (self._next + 1) % len(self.regions)
        return region


def usable(box: Box, region: PixelBox, shape: tuple[int, ...], min_px: int) -> bool:
    """A box big enough to name a bird in (`min_px` on each side), and not cut by an edge of the searched region
    inside the frame (that is part of a bird the region cut: a tile of the search plan shows it whole or the frame
    does)."""
    if min(box[2], box[3]) < min_px:
        return False
    x, y, w, h = box
    rx, ry, rw, rh = region
    height, width = int(shape[0]), int(shape[1])
    cut = (
        (rx > 0 and x <= rx + 2)
        or (ry > 0 and y <= ry + 2)
        or (rx + rw < width and x + w >= rx + rw - 2)
        or (ry + rh < height and y + h >= ry + rh - 2)
    )
    return not cut


def neighbourhood(box: Box, factor: float, input_size: tuple[int, int], shape: tuple[int, ...]) -> PixelBox:
    """A square around a box, `factor` times its longer side (at least the detector's input, so small birds are
    not enlarged past their pixels' worth), moved inside the frame."""
    side = max(factor * max(box[2], box[3]), float(min(input_size)))
    return square_inside(box, side, shape)


def square_inside(box: Box, side: float, shape: tuple[int, ...]) -> PixelBox:
    """A square of about `side` pixels centred on the box, as large as the frame at most, moved inside it."""
    height, width = int(shape[0]), int(shape[1])
    pixels = int(round(min(max(side, 8.0), width, height)))
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x = int(round(min(max(cx - pixels / 2, 0), width - pixels)))
    y = int(round(min(max(cy - pixels / 2, 0), height - pixels)))
    return x, y, pixels, pixels


def _tile_starts(length: int, tile: int) -> list[int]:
    """Evenly spread starts of tiles of this size over a length, overlapping by at least a sixth of a tile."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile * 5 / 6)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]
