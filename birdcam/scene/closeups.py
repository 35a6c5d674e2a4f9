"""The whole-frame pass beside the detector: close-ups, and the bird the whole frame names on its own.

The whole-frame classifier runs every frame while it names a bird, else on the frames between detector
passes. A followed bird filling enough of its view is a close-up, named by it. Its own bird (no box of
its own: the view it saw) is shown only when no followed bird is in that view, no small bird is followed
there, and the detector's last look at the whole view did not find it taken by confident objects of
other classes and no bird (apples the classifier calls a parakeet are no close-up of one; people and
animals never count, as a detector takes some close-ups of birds for them). A track that comes to stand
for the whole-frame bird takes over its id: one bird, one id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from birdcam.models.boxes import Box, PixelBox, covered_fraction, overlap_area
from birdcam.scene.evidence import SpeciesEvidence
from birdcam.scene.options import SceneOptions
from birdcam.scene.tracker import Track

if TYPE_CHECKING:
    from birdcam.models.detector import Detections


class CloseUps:
    """What the whole-frame pass's view holds, and the whole-frame bird's id. One per scene pass; not thread-safe."""

    def __init__(self, options: SceneOptions):
        self.options = options
        self.reset()

    def reset(self) -> None:
        """Forgets everything (a new source): the whole-frame bird gets a new id when it is next shown."""
        self._whole_id: int | None = None
        self._whole_index: int | None = None
        """The class the whole-frame bird was named when it got its id."""
        self.forget_shot()

    def forget_shot(self) -> None:
        """A new shot: what the detector saw of the view, and which tracks took over the whole-frame bird's id, no
        longer hold. The whole-frame bird keeps its id while its own pass, which sees cuts itself, shows it."""
        self._aliases: dict[int, int] = {}
        """Track id -> the id its bird is shown with (that of the whole-frame bird it took over from)."""
        self._view_of_other: float | None = None
        """When the detector last saw the view taken by other objects and no bird (None: not lately)."""

    def note_view(self, found: Detections, region: PixelBox, view: PixelBox, t: float) -> None:
        """Remembers whether the detector, looking at all of the whole-frame pass's view, found it taken by objects
        of other classes and no bird."""
        if overlap_area(view, region) < 0.9 * view[2] * view[3]:
            return
        options = self.options
        others = [
            d.box
            for d in found.others
            if d.score >= options.other_object_score and d.class_name.lower() not in options.not_other_objects
        ]
        taken = (
            not any(overlap_area(d.box, view) > 0 for d in found.birds)
            and _union_fraction(others, view) >= options.other_object_cover
        )
        self._view_of_other = t if taken else None

    def in_view(
        self, shown: Sequence[tuple[Track, SpeciesEvidence]], view: PixelBox
    ) -> tuple[list[tuple[Track, SpeciesEvidence]], Track | None]:
        """The shown tracks the whole-frame pass saw (its bird is one of them, or a bird the detector has not got),
        and the close-up among them (None: none covers `closeup_fraction` of the view). A track there that is the
        shown whole-frame bird takes over its id."""
        seen = [(track, evidence) for track, evidence in shown if _mostly_inside(track.box, view)]
        closeup = max((track for track, _ in seen), key=lambda track: covered_fraction(track.box, view), default=None)
        if closeup is not None and covered_fraction(closeup.box, view) < self.options.closeup_fraction:
            closeup = None
        if seen and self._whole_id is not None:
            self._inherit_whole_frame_id(seen, closeup)
        return seen, closeup

    def shown_id(self, track_id: int) -> int:
        """The id a track's bird is shown with: the whole-frame bird's when it took that over, else its own."""
        return self._aliases.get(track_id, track_id)

    def may_show_whole_frame_bird(self, tracks: Sequence[Track], view: PixelBox, t: float) -> bool:
        """The whole-frame pass's bird may be shown on its own: no small bird is being followed in its view (the
        view holds birds the detector sees, and the whole-frame pass blurs them together with their background),
        and the detector did not lately see the view taken by objects of other classes."""
        options = self.options
        for track in tracks:
            if (
                _mostly_inside(track.box, view)
                and covered_fraction(track.box, view) < options.closeup_fraction
                and track.misses < options.hide_after_misses
            ):
                return False
        return self._view_of_other is None or t - self._view_of_other > options.view_memory_s

    def whole_frame_id(self, shown: bool, index: int | None, new_id: Callable[[], int]) -> int | None:
        """The id of the whole-frame bird while it is shown (a new one from `new_id` each time it appears, named
        `index`); None, and forgotten, while it is not."""
        if not shown:
            self._whole_id = None
            return None
        if self._whole_id is None:
            self._whole_id = new_id()
            self._whole_index = index
        return self._whole_id

    def _inherit_whole_frame_id(self, seen: Sequence[tuple[Track, SpeciesEvidence]], closeup: Track | None) -> None:
        """The whole-frame pass named a bird before the detector's track of it was confirmed: the track
        keeps that bird's id (one bird, one id, one visit), when it is the close-up or has the same name."""
        heir = (
            closeup
            if closeup is not None
            else next(
                (
                    track
                    for track, evidence in seen
                    if evidence.index is not None and evidence.index == self._whole_index
                ),
                None,
            )
        )
        if heir is not None and heir.id not in self._aliases and self._whole_id is not None:
            self._aliases[heir.id] = self._whole_id


def _mostly_inside(box: Box, view: Box) -> bool:
    """At least half of the box lies in the view."""
    return overlap_area(box, view) >= 0.5 * box[2] * box[3]


def _union_fraction(boxes: Sequence[Box], region: PixelBox, cells: int = 32) -> float:
    """How much of the region the boxes cover together (on a cells x cells grid)."""
    if not boxes or region[2] <= 0 or region[3] <= 0:
        return 0.0
    covered = np.zeros((cells, cells), bool)
    for x, y, w, h in boxes:
        x0 = int(np.clip(np.floor((x - region[0]) / region[2] * cells), 0, cells))
        x1 = int(np.clip(np.ceil((x + w - region[0]) / region[2] * cells), 0, cells))
        y0 = int(np.clip(np.floor((y - region[1]) / region[3] * cells), 0, cells))
        y1 = int(np.clip(np.ceil((y + h - region[1]) / region[3] * cells), 0, cells))
        covered[y0:y1, x0:x1] = True
    return float(covered.mean())
