"""The test footage itself (tests/bird_scenes.py): birds cut along their outline are where their truth says, the
outlines are computed once, a COCO detector's box of an outline bird is its truth, and a feeder cam's bird flies
in and stays."""

from __future__ import annotations

import dataclasses

import bird_scenes
import numpy as np
import pytest

from birdcam.models.detector import Detector
from birdcam.models.labels import read_labels


@pytest.fixture(scope="module")
def outlines(shared_dir, tmp_path_factory) -> bird_scenes.Outlines:
    return bird_scenes.Outlines(shared_dir, tmp_path_factory.mktemp("outlines"))


@pytest.fixture(scope="module")
def photos(shared_dir, starter_model) -> dict[str, bird_scenes.BirdPhoto]:
    names = {label.scientific_name.lower() for label in read_labels(starter_model.parent / "labels.txt")}
    return {f"{p.species}/{p.path.name}": p for p in bird_scenes.all_photos(shared_dir, names)}


def test_an_outline_is_computed_once_and_read_back_from_the_cache(shared_dir, outlines, photos):
    path = photos["EASTERN BLUEBIRD/1.jpg"].path
    mask = outlines.mask(path)
    assert mask is not None and mask.shape == (224, 224)
    bird = np.count_nonzero(mask >= 128) / mask.size
    assert 0.1 < bird < 0.9, bird  # a bird, not the whole photo
    again = bird_scenes.Outlines(shared_dir, outlines.cache)
    assert np.array_equal(again.mask(path), mask)
    assert again._interpreter is None  # read from the cache: the segmenter never ran
    assert len(list(outlines.cache.glob("*.png"))) == 1


def test_the_truth_is_the_pasted_birds_own_box(shared_dir, outlines, photos):
    background = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    chosen = [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]]
    shot = bird_scenes.make_shot(np.random.default_rng(4), background, chosen, outlines=outlines, noise=0.0)
    empty = dataclasses.replace(shot, birds=())
    for n in (0, 59):
        frame, truth = shot.frame(n)
        plain, _ = empty.frame(n)
        assert len(truth) == 2
        changed = np.abs(frame.astype(int) - plain.astype(int)).max(axis=2) > 30
        for bird in truth:
            x, y, w, h = bird.box
            assert bird_scenes.BIRD_SIZES[0] <= max(w, h) <= bird_scenes.BIRD_SIZES[1]
            ys, xs = np.nonzero(changed[y : y + h, x : x + w])
            # The bird's pixels reach (within 3 px) every side of its box, and it covers much of it.
            assert xs.min() <= 3 and ys.min() <= 3 and xs.max() >= w - 4 and ys.max() >= h - 4
            assert len(xs) > 0.3 * w * h
        outside = changed.copy()
        for bird in truth:
            x, y, w, h = bird.box
            outside[y : y + h, x : x + w] = False
        assert outside.sum() == 0  # nothing of a bird outside the boxes


def test_a_feeder_cams_bird_flies_in_from_a_side_and_stays_on_its_perch(shared_dir, outlines, photos):
    background = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    chosen = [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]]
    shot = bird_scenes.make_arrival_shot(np.random.default_rng(2), background, chosen, outlines=outlines, noise=0.0)
    assert shot.frames == bird_scenes.ARRIVAL_SHOT_FRAMES
    truths = [shot.frame(n)[1] for n in range(shot.frames)]
    for key, bird in enumerate(shot.birds):
        boxes = {n: b.box for n, truth in enumerate(truths) for b in truth if b.key == key}
        first = min(boxes)
        # Out of the frame until it flies in, in every frame after.
        assert sorted(boxes) == list(range(first, shot.frames)), key
        assert 0 < bird.arrive <= shot.frames // 2 and bird.arrive - first <= bird_scenes.FLIGHT_FRAMES[1]
        x, _, w, _ = boxes[first]
        assert x == 0 or x + w == bird_scenes.FRAME_SIZE[0], boxes[first]  # it comes in at a side edge
        perch = boxes[bird.arrive]
        flown = abs(perch[0] + perch[2] / 2 - (x + w / 2))
        assert flown >= 50, (key, flown)
        # On its perch it stirs: the box moves by at most 0.2 px a frame.
        for n in range(bird.arrive, shot.frames):
            assert max(abs(a - b) for a, b in zip(boxes[n][:2], perch[:2])) <= 0.2 * (n - bird.arrive) + 1, (key, n)
    # The camera is still: the background does not move.
    empty = dataclasses.replace(shot, birds=())
    assert np.array_equal(empty.frame(0)[0], empty.frame(shot.frames - 1)[0])


def test_a_detectors_box_of_an_outline_bird_is_its_truth(shared_dir, outlines, photos):
    background = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    place = {"positions": [(0.3, 0.5)], "heights": (200, 200), "speed": 0.0}
    path = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    tile = (0, 0, 800, 720)
    with Detector.from_path(path, num_threads=2, score_threshold=0.25) as detector:
        for name in ("EASTERN BLUEBIRD/1.jpg", "BROWN THRASHER/1.jpg"):
            outline = bird_scenes.make_shot(
                np.random.default_rng(0), background, [photos[name]], outlines=outlines, **place
            )
            ellipse = bird_scenes.make_shot(np.random.default_rng(0), background, [photos[name]], **place)
            overlap = {}
            for cut, shot in (("outline", outline), ("ellipse", ellipse)):
                frame, (truth,) = shot.frame(0)
                overlap[cut] = max((_iou(d.box, truth.box) for d in detector.detect(frame, roi=tile).birds), default=0)
            # The outline's truth is the bird's own box; the ellipse's holds the photo's background around it.
            assert overlap["outline"] >= 0.7 and overlap["outline"] > overlap["ellipse"] + 0.1, (name, overlap)


def _iou(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
