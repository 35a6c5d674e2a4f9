"""Following birds by their look between detector passes, and telling a new bird in an old bird's place.

The detector looks at one region a frame, so most frames do not look at a given bird. Each bird's
look (an Appearance, renewed at each detector hit) finds it in those frames; a bird whose place no
longer looks like it is missed there, and the tracker hides and then deletes it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from birdcam.scene.appearance import Appearance
from birdcam.scene.options import SceneOptions
from birdcam.scene.tracker import Track, Tracker


class Follower:
    """Each followed bird's look. One per scene pass; not thread-safe."""

    def __init__(self, options: SceneOptions):
        self.options = options
        self.reset()

    def reset(self) -> None:
        """Forgets every bird's look."""
        self._looks: dict[int, Appearance] = {}
        self._unlike: set[int] = set()
        """Tracks whose last detector box did not look like their bird."""

    def update(self, frame: np.ndarray, tracker: Tracker, tracks: Sequence[Track], t: float) -> None:
        """Renews the look of each bird the detector just boxed; finds the others by their look.

        A box of about the bird's size on a track that does not look like the bird followed so far is a
        bad box or another bird in its place: the look is kept, and when the next such box does not look
        like it either, it is another bird and its track starts over (under a new id, unnamed).
        """
        for track in tracks:
            look = self._looks.pop(track.id, None)
            if track.detected is None:
                if look is None:
                    continue
                box, likeness = look.find(frame, track.predicted(t))
                if likeness >= self.options.follow_likeness:
                    tracker.follow(track.id, box, t)
                else:
                    tracker.missed(track.id, t)
            elif look is None:
                look = Appearance(frame, track.detected)
            elif not look.comparable(track.detected):
                pass  # another box of the bird (its legs, a wing, a tile's cut): the look it had stays
            elif look.find(frame, track.detected, reach=0.25)[1] >= self.options.other_bird_likeness:
                look.renew(frame, track.detected)
                self._unlike.discard(track.id)
            elif track.id in self._unlike:
                self._unlike.discard(track.id)
                tracker.restart(track.id)
                look = Appearance(frame, track.detected)
            else:
                self._unlike.add(track.id)
            self._looks[track.id] = look

    def keep(self, live: Collection[int]) -> None:
        """Forgets the looks of tracks that are gone."""
        self._looks = {key: value for key, value in self._looks.items() if key in live}
