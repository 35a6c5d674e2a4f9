"""The motion cue: a bird that arrives is where the picture moves (also while the camera pans), and the search goes
there before the tiles' turn comes."""

from __future__ import annotations

import dataclasses

import bird_scenes
import numpy as np
import pytest

from birdcam.models.boxes import iou
from birdcam.models.classifier import Classifier
from birdcam.scene.factory import open_detector
from birdcam.scene.motion import MotionCue
from birdcam.scene.options import SceneOptions
from birdcam.scene.scene_pass import ScenePass

ARRIVAL = 20
"""The frame the bird comes in at."""


@pytest.fixture(scope="module")
def arrivals(shared_dir, tmp_path_factory):
    """A bluebird 100 px tall that comes in at frame ARRIVAL at the bottom right of a living room, without and with
    the camera panning: (pan, frames and their truths)."""
    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, set())}
    room = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    outlines = bird_scenes.Outlines(shared_dir, tmp_path_factory.mktemp("outlines"))
    footage = {}
    for pan in (0.0, 12.0):
        shot = bird_scenes.make_shot(
            np.random.default_rng(1),
            room,
            [photos["EASTERN BLUEBIRD/1.jpg"]],
            outlines=outlines,
            heights=(100, 100),
            positions=[(0.8, 0.75)],
            pan=pan,
            speed=1.0,
        )
        empty = dataclasses.replace(shot, birds=())
        footage[pan] = [(shot if n >= ARRIVAL else empty).frame(n) for n in range(shot.frames)]
    return footage


@pytest.mark.parametrize("pan", [0.0, 12.0])
def test_a_bird_that_arrives_is_where_the_picture_moves(arrivals, pan):
    cue = MotionCue()
    for n, (frame, truth) in enumerate(arrivals[pan]):
        moving = cue.update(frame)
        if n < ARRIVAL:
            assert moving == [], f"frame {n}: nothing moved but the camera"
        elif n < ARRIVAL + 10:
            assert moving and iou(moving[0], truth[0].box) >= 0.5, (n, moving, truth)


def test_a_new_shot_is_the_background_at_once(arrivals):
    cue = MotionCue()
    cue.update(arrivals[0.0][ARRIVAL][0])
    cue.reset()
    assert cue.update(arrivals[0.0][0][0]) == []  # the first frame after a reset is the background


def test_the_search_goes_where_a_bird_arrived(shared_dir, starter_model, arrivals):
    classifier = Classifier.from_path(starter_model, num_threads=2)
    detector = open_detector(shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite", num_threads=2)
    first_shown = {}
    for motion in (True, False):
        scene = ScenePass(classifier, detector, SceneOptions(motion_search=motion))
        for n, (frame, truth) in enumerate(arrivals[12.0]):
            birds = [b for b in scene.process(frame, n / bird_scenes.FPS).birds if not b.whole_frame]
            if truth and any(iou(b.box, truth[0].box) >= 0.5 for b in birds):
                first_shown[motion] = n
                break
    classifier.close()
    detector.close()
    # Shown (boxed three times) within a third of a second of its arrival, where the tiles' turn came later.
    assert first_shown[True] <= ARRIVAL + 10, first_shown
    assert first_shown[True] < first_shown.get(False, 60), first_shown
