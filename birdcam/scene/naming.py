"""Naming followed birds: which crops the classifier looks at in each frame, and what each bird's looks say.

The classifier looks at up to `crops_per_frame` bird crops a frame (a square `crop_margin` times the
box): birds never looked at first, then those with the fewest looks; a bird is looked at again after
`look_interval_s` while its name is uncertain and after `recheck_s` once it is certain. Each look
goes into the bird's SpeciesEvidence, which names it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from birdcam.models.boxes import Box, PixelBox
from birdcam.models.classifier import Classifier
from birdcam.scene.evidence import EvidenceOptions, SpeciesEvidence
from birdcam.scene.options import SceneOptions
from birdcam.scene.search import square_inside
from birdcam.scene.tracker import Track


class Naming:
    """The looks at each followed bird and the evidence they add up to. One per scene pass; not thread-safe."""

    def __init__(self, classifier: Classifier, options: SceneOptions, evidence_options: EvidenceOptions):
        self.classifier = classifier
        self.options = options
        self.evidence_options = evidence_options
        """What a bird's evidence needs to name it (the naming options at the scene's threshold)."""
        self.reset()

    def reset(self) -> None:
        """Forgets every bird's looks."""
        self._evidence: dict[int, SpeciesEvidence] = {}
        self._looked_at: dict[int, float] = {}

    def set_options(self, options: SceneOptions, evidence_options: EvidenceOptions) -> None:
        """New options; each bird's looks so far are weighed again under the new evidence options."""
        self.options = options
        self.evidence_options = evidence_options
        for evidence in self._evidence.values():
            evidence.set_options(evidence_options)

    def evidence(self, track_id: int) -> SpeciesEvidence | None:
        """What the looks at this bird say; None before its first look."""
        return self._evidence.get(track_id)

    def keep(self, live: Collection[int]) -> None:
        """Forgets the evidence of tracks that are gone."""
        self._evidence = {key: value for key, value in self._evidence.items() if key in live}

    def to_look_at(self, tracks: Sequence[Track], t: float) -> list[Track]:
        """The tracks the classifier looks at in this frame, up to `crops_per_frame`: birds never looked at first,
        then those with the fewest looks; a bird is looked at again after `look_interval_s` while its name is
        uncertain and after `recheck_s` once it is certain."""
        candidates = []
        for track in tracks:
            evidence = self._evidence.get(track.id)
            looks = evidence.looks if evidence is not None else 0
            certain = evidence is not None and evidence.certain
            interval = self.options.recheck_s if certain else self.options.look_interval_s if looks else 0.0
            last = self._looked_at.get(track.id, -math.inf)
            if t - last < interval or track.misses:
                continue
            candidates.append(((certain, looks, last), track))
        candidates.sort(key=lambda pair: pair[0])
        return [track for _, track in candidates[: self.options.crops_per_frame]]

    def look_at(self, frame: np.ndarray, tracks: Sequence[Track], t: float) -> float:
        """The classifier on each track's crop, added to its evidence; returns the milliseconds it took."""
        ms = 0.0
        for track in tracks:
            crop = square_crop(track.predicted(t), self.options.crop_margin, frame.shape)
            result = self.classifier.classify(frame, roi=crop)
            ms += result.timings.total_ms
            self._evidence_for(track.id).add(result.probabilities, 1.0 if track.matched_now else 0.5)
            self._looked_at[track.id] = t
        return ms

    def _evidence_for(self, track_id: int) -> SpeciesEvidence:
        evidence = self._evidence.get(track_id)
        if evidence is None:
            labels = self.classifier.labels
            evidence = SpeciesEvidence(len(labels), self.classifier.background_index, self.evidence_options)
            self._evidence[track_id] = evidence
        return evidence


def square_crop(box: Box, margin: float, shape: tuple[int, ...]) -> PixelBox:
    """The square the classifier sees around a bird: `margin` times the box's longer side, moved inside the frame."""
    return square_inside(box, margin * max(box[2], box[3]), shape)
