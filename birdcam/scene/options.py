"""How the scene pass finds, follows and names birds: SceneOptions, read by the scene pass and each of its parts."""

from __future__ import annotations

from dataclasses import dataclass

from birdcam.errors import OptionsError
from birdcam.scene.evidence import EvidenceOptions
from birdcam.scene.smoothing import SmoothingOptions
from birdcam.scene.tracker import TrackerOptions
from birdcam.util.checks import above, at_least, between


@dataclass(frozen=True)
class SceneOptions:
    """How the scene pass finds, names and follows birds."""

    smoothing: SmoothingOptions = SmoothingOptions()
    """How the whole-frame label follows the per-frame probabilities (its threshold is replaced by `threshold`)."""
    threshold: float | None = None
    """Score a species needs to be named; None: the classifier's (its model card's, else the default)."""
    tracking: TrackerOptions = TrackerOptions()
    """How detections become tracks (with a detector)."""
    naming: EvidenceOptions = EvidenceOptions()
    """How the looks at one bird become its name; its threshold is raised to `threshold` when that is higher."""
    tile_sizes: tuple[int, ...] = (448, 544)
    """Sides of the square tiles searched in turn for small birds, in frame pixels (one grid per size); (): whole
    frame only."""
    min_bird_px: int = 24
    """Boxes narrower or lower than this are not followed: too few pixels to name a bird (and mostly a detail
    of something else)."""
    neighbourhood: float = 1.6
    """A bird is followed by searching a square this many times its size around it."""
    crops_per_frame: int = 2
    """Most bird crops the classifier looks at in one frame."""
    crop_margin: float = 1.5
    """The square crop the classifier sees around a bird is this many times the box's longer side. A detector's box
    hugs the bird, and the classifier was trained on photos with room around it: a roomier crop gives fewer wrong
    names for about as many right ones (benchmarks/scene_quality.py)."""
    look_interval_s: float = 0.1
    """A bird whose name is not certain yet is looked at again after this long (while the budget allows)."""
    recheck_s: float = 1.0
    """A bird whose name is certain is looked at again after this long."""
    refresh_s: float = 0.3
    """A bird is searched for in its neighbourhood (to renew its box) after this long."""
    follow_likeness: float = 0.75
    """Between detections a bird is where its look matches this well (normalized cross-correlation)."""
    other_bird_likeness: float = 0.5
    """Two detections in a row on a bird's track that look less like it than this are another bird: a new track."""
    hide_after_misses: int = 3
    """A bird looked for and not found this many times in a row is no longer shown (its track may come back)."""
    hide_after_s: float = 1.0
    """A bird not seen for this long is no longer shown."""
    unknown_box_score: float = 0.5
    """A bird of a species the model does not know ("a bird") needs stronger evidence than a named one before it is
    shown or recorded: the detector this sure of it as a bird at least once, ..."""
    unknown_looks: int = 2
    """... this many looks by the classifier, ..."""
    unknown_background: float = 0.2
    """... and a mean background score of at most this (the classifier takes it for a bird)."""
    closeup_fraction: float = 0.15
    """A bird whose box covers this fraction of the whole-frame region is the whole-frame pass's bird (a close-up)."""
    other_object_score: float = 0.5
    """A detection of another class (apples, a cat) this sure counts against the whole-frame pass's bird."""
    other_object_cover: float = 0.25
    """Such detections covering this fraction of the whole-frame region, with no bird box there, mean the view is
    not a close-up of a bird: the whole-frame pass's bird is not shown on its own."""
    not_other_objects: tuple[str, ...] = (
        "person",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
        "teddy bear",
    )
    """Detector classes that never count against the whole-frame pass's bird: people and animals, which a detector
    sees in close-ups of birds (YOLOX-nano boxes a firecrest as a cat and an ani as a bear)."""
    view_memory_s: float = 2.0
    """What the detector last saw in the whole-frame region holds for this long."""
    detector_interval_s: float = 1 / 15
    """Least time between two detector passes (0: every frame). The detector costs several times the rest of a
    frame; on the frames between, each bird is followed by its look."""
    detector_every: int = 2
    """The detector runs on at most one in this many of the frames the scene pass processes (1: whenever
    `detector_interval_s` allows). Processing 30 frames a second that changes nothing; in real time, behind the
    source, the time limit alone gives the detector every frame, and its cost keeps the pass behind."""
    whole_frame_between_passes: bool = True
    """While the whole-frame pass shows no bird, the classifier looks at the whole frame only on frames without a
    detector pass (the last look holds on the others; a shot's first frame is always looked at), so that no frame
    pays for both. A close-up it names is looked at every frame."""
    sweep_new_shot: bool = False
    """The first frame of a shot (the source's first, after a cut) is searched everywhere: every region of the
    search plan in that one frame, so the birds already there are boxed at once rather than in the plan's turn. Off by
    default: on the test footage it boxed birds sooner but named few more, showing the classifier's wrong names for
    longer, and in real time its 15 detector passes cost more frames than it finds birds (docs/decisions.md)."""
    motion_search: bool = False
    """Every other search goes where the picture moved and no bird is followed (a bird that came or stirred),
    before the tiles' turn comes. The app's "Still camera" setting (LiveSettings.still_camera). Off by default: on the
    panning, cutting test footage it found birds sooner but named them later, with more wrong names; on a still
    camera's it names birds that fly in sooner (docs/decisions.md)."""

    def __post_init__(self) -> None:
        if self.threshold is not None:
            between(self, "threshold", 0, 1)
        if not all(size >= 1 for size in self.tile_sizes):
            raise OptionsError(f"SceneOptions.tile_sizes must be whole pixels, 1 or more, not {self.tile_sizes!r}")
        at_least(self, "min_bird_px", 0)
        above(self, "neighbourhood", 0)
        at_least(self, "crops_per_frame", 0)
        above(self, "crop_margin", 0)
        for field in ("look_interval_s", "recheck_s", "refresh_s", "hide_after_s", "view_memory_s"):
            at_least(self, field, 0)
        at_least(self, "detector_interval_s", 0)
        at_least(self, "detector_every", 1)
        for field in ("follow_likeness", "other_bird_likeness"):
            between(self, field, -1, 1)
        at_least(self, "hide_after_misses", 1)
        for field in ("closeup_fraction", "other_object_score", "other_object_cover"):
            between(self, field, 0, 1)
        between(self, "unknown_box_score", 0, 1)
        at_least(self, "unknown_looks", 1)
        between(self, "unknown_background", 0, 1)
