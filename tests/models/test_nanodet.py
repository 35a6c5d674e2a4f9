"""NanoDet-Plus, the third detector family: recognised from its output, decoded as shared/README.md lays it out
(checked against a plain per-anchor reading of that layout), and finding birds in the shared photos and scenes."""

from __future__ import annotations

from pathlib import Path

import bird_scenes
import cv2
import numpy as np
import pytest

from birdcam.models.decoders.nanodet import decode_nanodet, nanodet_anchors
from birdcam.models.detector import Detector


@pytest.fixture(scope="module")
def nanodet_model(shared_dir) -> Path:
    """NanoDet-Plus-m 416, float16, COCO (coco_classes.txt beside it)."""
    return shared_dir / "models" / "nanodet_plus_m_416" / "nanodetplus_m_416_float16.tflite"


@pytest.fixture(scope="module")
def nanodet(nanodet_model):
    with Detector.from_path(nanodet_model, num_threads=2) as loaded:
        yield loaded


def _iou(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_it_is_recognised_from_its_output(nanodet):
    assert nanodet.kind == "nanodet"
    assert nanodet.input_size == (416, 416)
    assert nanodet.describe_input() == "float32 [1, 416, 416, 3]"
    assert len(nanodet.class_names) == 80 and nanodet.bird_classes == (14,)
    assert nanodet.class_names_source.endswith("coco_classes.txt")


def test_the_anchor_grid_is_the_models(nanodet_model):
    anchors = nanodet_anchors((416, 416))
    assert len(anchors) == 52 * 52 + 26 * 26 + 13 * 13 + 7 * 7 == 3598
    # Row by row, level by level, top-left corners: the 53rd anchor starts stride 8's second row.
    assert anchors[52].tolist() == [0.0, 8.0, 8.0]
    assert anchors[52 * 52 + 27].tolist() == [16.0, 16.0, 16.0]
    assert anchors[-1].tolist() == [6 * 64.0, 6 * 64.0, 64.0]


def _reference_decode(raw: np.ndarray, threshold: float) -> list[tuple[int, float, tuple[float, ...]]]:
    """shared/README.md's layout read anchor by anchor: strides 8-64 row by row; 80 class logits (sigmoid), then
    left, top, right, bottom as softmax expectations over 8 bins times the stride, from (col, row) x stride."""
    found = []
    n = 0
    for stride in (8, 16, 32, 64):
        cells = -(-416 // stride)
        for row in range(cells):
            for col in range(cells):
                logits = raw[n, :80]
                best = int(np.argmax(logits))
                score = 1 / (1 + np.exp(-float(logits[best])))
                if score >= threshold:
                    sides = []
                    for side in range(4):
                        bins = raw[n, 80 + 8 * side : 88 + 8 * side].astype(np.float64)
                        weights = np.exp(bins - bins.max())
                        sides.append(float((weights / weights.sum() * np.arange(8)).sum() * stride))
                    x, y = col * stride, row * stride
                    found.append((best, score, (x - sides[0], y - sides[1], x + sides[2], y + sides[3])))
                n += 1
    return found


def test_decoding_agrees_with_the_layout_read_anchor_by_anchor(nanodet, shared_dir):
    image = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    tensor, _ = nanodet._preprocess(image, "bgr")
    (raw,) = nanodet._invoke(tensor, nanodet._outputs)
    raw = raw[0].astype(np.float32)
    boxes, scores, classes = decode_nanodet(raw, nanodet_anchors((416, 416)), 80, 0.3)
    expected = _reference_decode(raw, 0.3)
    assert len(expected) == len(scores) >= 3
    for (cls, score, box), got_class, got_score, got_box in zip(expected, classes, scores, boxes):
        assert cls == got_class and score == pytest.approx(got_score, abs=1e-5)
        assert box == pytest.approx(tuple(got_box), abs=1e-3)
    assert 14 in classes  # the ducks


def test_the_ducks_are_found_where_they_are(nanodet, shared_dir):
    found = nanodet.detect(cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")))
    assert found.birds and found.birds[0].score > 0.5
    assert _iou(found.birds[0].box, (170, 305, 428, 360)) >= 0.5  # the drake, drawn by hand


@pytest.mark.parametrize(("photo", "expected"), [("cat.jpg", "cat"), ("face.jpg", "person")])
def test_what_is_not_a_bird_gives_no_bird(nanodet, shared_dir, photo, expected):
    found = nanodet.detect(cv2.imread(str(shared_dir / "images" / "not-birds" / photo)))
    assert not [d for d in found.birds if d.score >= 0.3]
    assert found.others and found.others[0].class_name == expected and found.others[0].score > 0.5


def test_small_outline_birds_are_boxed_in_a_tile_in_frame_pixels(nanodet, shared_dir, tmp_path):
    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, set())}
    background = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    shot = bird_scenes.make_shot(
        np.random.default_rng(3),
        background,
        [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]],
        heights=(120, 120),
        positions=[(0.2, 0.4), (0.75, 0.6)],
        outlines=bird_scenes.Outlines(shared_dir, tmp_path / "outlines"),
    )
    frame, truth = shot.frame(0)
    for bird in truth:
        x, y, w, h = bird.box
        tile = (max(0, min(1280 - 448, x + w // 2 - 224)), max(0, min(720 - 448, y + h // 2 - 224)), 448, 448)
        found = nanodet.detect(frame, roi=tile).birds
        assert max((_iou(d.box, bird.box) for d in found), default=0.0) >= 0.6, (bird, found)
