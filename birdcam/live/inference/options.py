"""What the app tells the inference process (what to load, the live settings) and what it learns back (the models)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birdcam.models.labels import Label
from birdcam.util.checks import above, at_least, between


@dataclass(frozen=True)
class LiveSettings:
    """What a user changes while the model runs; sent to the process, applied from the next frame."""

    threshold: float | None = None
    """Score a species needs; None: the model's own."""
    smoothing: bool = True
    """Smooth labels over time (off: each frame's own label)."""
    allow: tuple[str, ...] | None = None
    """Name only these species (a species list: scientific or common names); None: every species."""
    deny: tuple[str, ...] = ()
    """Never name these species."""
    still_camera: bool = False
    """The camera does not move (a feeder cam): the detector also searches where the picture moves, so a bird that
    flies in is found and named sooner (SceneOptions.motion_search)."""

    def __post_init__(self) -> None:
        if self.threshold is not None:
            between(self, "threshold", 0, 1)


@dataclass(frozen=True)
class InferenceOptions:
    """What the inference process loads and how long it may take."""

    model: str | None = None
    """A .tflite file; None: the default model (`birdcam models` says which)."""
    labels: str | None = None
    """A label file that overrides the model's own; None: the model's."""
    detector: str | None = None
    """A bird detector .tflite; "none": whole-frame mode; None: $BIRDCAM_DETECTOR, else the default detector
    (`birdcam models`), or whole-frame mode with a note when that cannot be had (offline)."""
    num_threads: int = 2
    """CPU threads LiteRT may use."""
    settings: LiveSettings | None = None
    """Threshold, smoothing and species lists to start with; None: the model's defaults."""
    load_timeout_s: float = 120.0
    """A load (download excluded) that takes longer is taken for hung: the process is killed."""
    frame_timeout_s: float = 15.0
    """A frame that takes longer is taken for hung: the process is killed (and restarted by the driver)."""

    def __post_init__(self) -> None:
        at_least(self, "num_threads", 1)
        above(self, "load_timeout_s", 0)
        above(self, "frame_timeout_s", 0)


@dataclass(frozen=True)
class ModelInfo:
    """What the parent knows about the models a process runs (sent once, when they are loaded)."""

    model_path: str
    """The classifier's .tflite file."""
    name: str
    """The classifier's name (its model card's, else the file name)."""
    labels: tuple[Label, ...]
    """One per classifier output."""
    background_index: int | None
    """The non-bird class, if the model has one."""
    threshold: float
    """The model's own threshold (its card's, else the default)."""
    top_k: int
    """Classes the classifier ranks for each look."""
    detector_path: str | None = None
    """The detector's .tflite file; None: whole-frame mode."""
    detector_note: str = ""
    """Why there is no detector when one was wanted (e.g. offline), "" otherwise."""

    @property
    def stem(self) -> str:
        return Path(self.model_path).stem


SceneFactory = Callable[[InferenceOptions, Callable[[str], None]], tuple[Any, ModelInfo]]
"""Builds (scene pass, its ModelInfo) inside the child; the callable reports download progress. The scene pass is
anything with ScenePass's process / reset / set_options / set_species / close and `options` (tests pass fakes)."""
