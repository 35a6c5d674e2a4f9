"""Scene-pass factories for the inference process that misbehave on purpose (imported by name in the child).

`fake_scene` reads its behaviour from InferenceOptions.model, e.g. "fake:seconds=0.02,crash_at=3":
  seconds   time per frame
  crash_at  the Nth frame (1-based) crashes the process with a real segfault
  hang_at   the Nth frame never returns
  fail_at   the Nth frame raises (the process carries on)
  load_s    loading takes this long
  once      a file path: crash_at / hang_at only strike while this file does not exist (they create it)
The fake names a "Mandarin Duck" whose score is the frame's first pixel value / 255 (no bird below the
configured threshold), with track id 1 + the number of scene resets; its detector takes 1 ms a frame while the
motion search is on (the still camera's setting reached it), else none.
"""

from __future__ import annotations

import ctypes
import time
from pathlib import Path

import numpy as np

from birdcam.live.inference import ModelInfo
from birdcam.models.classifier import Category
from birdcam.models.labels import Label
from birdcam.scene.scene_pass import Bird, SceneOptions, SceneResult, SceneTimings
from birdcam.scene.smoothing import Shown

LABELS = (Label("Aix galericulata (Mandarin Duck)", "Mandarin Duck", "Aix galericulata"), Label("background", "", ""))


def segfault() -> None:
    """A real crash in native code, as a broken model could cause."""
    ctypes.string_at(0)


def hang_on_load(options, progress):
    time.sleep(3600)


def crash_on_load(options, progress):
    segfault()


def fake_scene(options, progress):
    spec = dict(item.split("=") for item in options.model.removeprefix("fake:").split(",") if item)
    time.sleep(float(spec.get("load_s", 0)))
    info = ModelInfo(options.model, "fake", LABELS, 1, 0.3, 2)
    return FakeScene(spec), info


class FakeScene:
    def __init__(self, spec: dict[str, str]):
        self.spec = {key: value if key == "once" else float(value) for key, value in spec.items()}
        self.frames = 0
        self.resets = 0
        self.options = SceneOptions()

    def process(self, image: np.ndarray, t: float) -> SceneResult:
        self.frames += 1
        if self.frames == self.spec.get("crash_at") and self._strikes():
            segfault()
        if self.frames == self.spec.get("hang_at") and self._strikes():
            time.sleep(3600)
        if self.frames == self.spec.get("fail_at"):
            raise RuntimeError(f"fake failure on call {self.frames}")
        time.sleep(self.spec.get("seconds", 0.0))
        score = float(image.flat[0]) / 255
        probabilities = np.array([score, 1 - score], np.float32)
        height, width = image.shape[:2]
        shown = Shown(0, LABELS[0], score, True, (Category(0, LABELS[0], score), Category(1, LABELS[1], 1 - score)))
        top = (Category(0, LABELS[0], score),)
        bird = Bird(self.resets + 1, (0, 0, width, height), LABELS[0], 0, score, top, whole_frame=True)
        threshold = self.options.threshold or 0.0
        birds = (bird,) if score >= threshold else ()
        return SceneResult(birds, shown, probabilities, SceneTimings(float(self.options.motion_search), 1.0, 1.0))

    def _strikes(self) -> bool:
        once = self.spec.get("once")
        if once is None:
            return True
        if Path(once).exists():
            return False
        Path(once).touch()
        return True

    def reset(self) -> None:
        self.resets += 1

    def set_options(self, options: SceneOptions) -> None:
        self.options = options

    def set_species(self, allow, deny) -> None:
        self.species = (allow, deny)

    def close(self) -> None:
        pass
