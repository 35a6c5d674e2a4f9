"""A bird's look follows it between detections and tells when it has gone (a real photo on a real scene)."""

from __future__ import annotations

import bird_scenes
import numpy as np

from birdcam.scene.appearance import Appearance
from birdcam.scene.scene_pass import SceneOptions


def test_a_bird_is_found_where_it_moved_and_missed_where_it_left(shared_dir, starter_model):
    photos = bird_scenes.sample_photos(shared_dir, set())
    robin = next(p for p in photos if p.species == "AMERICAN ROBIN" and p.path.name == "1.jpg")
    scene = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000000139")
    shot = bird_scenes.make_shot(
        np.random.default_rng(0), scene, [robin], heights=(200, 200), positions=[(0.4, 0.6)], speed=2.0
    )
    first, (bird,) = shot.frame(0)
    look = Appearance(first, bird.box)
    later, (moved,) = shot.frame(8)
    box, likeness = look.find(later, bird.box)
    assert likeness > 0.8
    assert abs(box[0] - moved.box[0]) <= 4 and abs(box[1] - moved.box[1]) <= 4
    assert moved.box[:2] != bird.box[:2]  # it did move
    empty = bird_scenes.make_shot(np.random.default_rng(0), scene, ()).frame(8)[0]
    _, likeness = look.find(empty, bird.box)
    assert likeness < SceneOptions().follow_likeness


def test_a_window_too_small_to_tell_is_no_match(shared_dir):
    look = Appearance(np.full((100, 100, 3), 128, np.uint8), (10, 10, 40, 40))
    box, likeness = look.find(np.zeros((100, 100, 3), np.uint8), (99, 99, 1, 1))
    assert likeness == 0.0 and box == (99, 99, 1, 1)
