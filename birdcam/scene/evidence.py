"""What species one tracked bird is: the classifier's looks at it, accumulated, and a name that holds.

Each look (the classifier on a crop of the bird) adds its probabilities to a weighted running mean
that remembers about `memory` looks. A first look with a high score names a new bird at once; weaker
looks add up, as the mean a species needs falls with every look that agrees, down to `threshold`.
The name changes only when another species leads by a margin, and falls back to "a bird of a species
this model does not know" when the named one fades; a bird whose looks never agree on one species
well enough stays unknown instead of taking a wrong name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from birdcam.models.scores import bird_class_mask, top_k
from birdcam.util.checks import at_least, between


@dataclass(frozen=True)
class EvidenceOptions:
    """How looks at one bird become its name."""

    threshold: float = 0.7
    """Mean score a species needs to be named once the looks have added up. Far above the whole frame's 0.3: a crop
    of a small bird is a poorer look than a close-up, and a bird of a species the model does not know takes a
    look-alike's name at 0.4-0.7 (the curve of named against wrong in docs/performance.md)."""
    first_threshold: float = 0.8
    """Mean score a species needs on a bird's first look; each look after lowers it by `threshold_step`, down to
    `threshold`."""
    threshold_step: float = 0.05
    keep_fraction: float = 0.8
    """A named species keeps its name while its mean score stays above this fraction of the threshold."""
    switch_margin: float = 0.15
    """Another species takes over only when its mean score beats the named one's by this much."""
    memory: float = 8.0
    """About how many recent looks the mean remembers."""
    background_limit: float = 0.5
    """A mean background score at or above this names no species (the classifier doubts it is a bird)."""
    certain_looks: int = 3
    """Looks after which a name whose score reaches `certain_score` is certain (the classifier may look less often)."""
    certain_score: float = 0.75

    def __post_init__(self) -> None:
        for field in ("threshold", "keep_fraction", "background_limit", "certain_score"):
            between(self, field, 0, 1)
        at_least(self, "switch_margin", 0)
        at_least(self, "memory", 1)
        at_least(self, "certain_looks", 1)


class SpeciesEvidence:
    """The accumulated looks at one bird. Not thread-safe."""

    def __init__(self, num_classes: int, background_index: int | None, options: EvidenceOptions = EvidenceOptions()):
        self.options = options
        self.background_index = background_index
        self._bird_classes = bird_class_mask(num_classes, background_index)
        self._mean = np.zeros(num_classes, np.float32)
        self._weight = 0.0
        self.looks = 0
        self.index: int | None = None
        """The named species, None while unknown."""

    def add(self, probabilities: np.ndarray, weight: float = 1.0) -> int | None:
        """Takes one look (probabilities over every class) worth `weight`; returns the name after it."""
        if weight <= 0:
            return self.index
        self._weight = self._weight * (1.0 - 1.0 / self.options.memory) + weight
        self._mean += (weight / self._weight) * (np.asarray(probabilities, np.float32) - self._mean)
        self.looks += 1
        self.index = self._name()
        return self.index

    def set_options(self, options: EvidenceOptions) -> int | None:
        """New options (a new threshold) for the looks taken so far; returns the name under them. The name is
        chosen afresh: a threshold the user just raised is not softened by the hysteresis that keeps a name."""
        self.options = options
        self.index = None
        if self.looks:
            self.index = self._name()
        return self.index

    @property
    def score(self) -> float:
        """The mean score of the named species, or of the best bird species while unknown."""
        if self.index is not None:
            return float(self._mean[self.index])
        return float(self._mean[self._bird_classes].max()) if self.looks else 0.0

    @property
    def background(self) -> float:
        """The mean background score (0 for a model without a background class)."""
        return float(self._mean[self.background_index]) if self.background_index is not None and self.looks else 0.0

    @property
    def certain(self) -> bool:
        """The name is settled: looking again is unlikely to change it."""
        return (
            self.index is not None
            and self.looks >= self.options.certain_looks
            and self._mean[self.index] >= self.options.certain_score
        )

    def top(self, k: int = 3) -> tuple[tuple[int, float], ...]:
        """(class index, mean score) of the k best classes, best first."""
        return tuple((int(i), float(self._mean[i])) for i in top_k(self._mean, k))

    def _name(self) -> int | None:
        options = self.options
        if self.background >= options.background_limit:
            return None
        scores = np.where(self._bird_classes, self._mean, -1.0)
        leader = int(np.argmax(scores))
        named = self.index
        needed = max(options.threshold, options.first_threshold - options.threshold_step * (self.looks - 1))
        if named is None:
            return leader if scores[leader] >= needed else None
        if leader != named and scores[leader] >= needed and scores[leader] >= scores[named] + options.switch_margin:
            return leader
        return named if scores[named] >= options.keep_fraction * options.threshold else None
