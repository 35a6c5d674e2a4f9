"""The detector stage: YOLOX decoding checked by hand, the starter YOLOX-nano on real photos (pasted at
known places onto real scenes), and one clear line for every file that is not a detector."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from birdcam.errors import BirdcamError, LabelError, ModelError, OptionsError
from birdcam.models.decoders import DECODERS, Fit, InputConvention, ModelOutputs
from birdcam.models.decoders.yolox import decode_yolox, yolox_anchors
from birdcam.models.detector import Detector, DetectorOptions
from birdcam.models.labels import COCO_CLASSES, read_class_names

YOLOX_NAME = "yolox_nano_float16_quantize.tflite"


@pytest.fixture(scope="session")
def yolox_model(shared_dir) -> Path:
    """The starter detector: YOLOX-nano float16, 416x416, COCO (coco_classes.txt beside it)."""
    return shared_dir / "models" / "yolox_nano" / YOLOX_NAME


@pytest.fixture(scope="module")
def detector(yolox_model):
    with Detector.from_path(yolox_model, num_threads=2) as loaded:
        yield loaded


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    overlap_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = overlap_w * overlap_h
    return inter / (aw * ah + bw * bh - inter)


def _image(shared_dir: Path, relative: str) -> np.ndarray:
    image = cv2.imread(str(shared_dir / relative))
    assert image is not None, relative
    return image


# -- YOLOX decoding on a synthetic output, answers worked out by hand ------------------------------

# Anchor rows of a 416x416 YOLOX: 52x52 cells at stride 8 (rows 0-2703), 26x26 at 16 (2704-3379),
# 13x13 at 32 (3380-3548), each level row by row.
STRIDE16_CELL_5_3 = 2704 + 3 * 26 + 5  # 2787
STRIDE16_CELL_6_3 = STRIDE16_CELL_5_3 + 1  # 2788
STRIDE16_CELL_5_4 = 2704 + 4 * 26 + 5  # 2813
STRIDE32_CELL_12_2 = 3380 + 2 * 13 + 12  # 3418
STRIDE8_CELL_51_10 = 10 * 52 + 51  # 571
STRIDE8_CELL_0_0 = 0


def _synthetic_yolox_output() -> np.ndarray:
    """[3549, 85] raw rows: (cx, cy, log w, log h) in grid units, objectness, 80 class scores."""
    raw = np.zeros((3549, 85), np.float32)

    def anchor(row, cx, cy, log_w, log_h, objectness, classes):
        raw[row, :5] = (cx, cy, log_w, log_h, objectness)
        for index, score in classes.items():
            raw[row, 5 + index] = score

    # A bird: centre ((5 + 0.5) * 16, (3 + 0.25) * 16) = (88, 52), size (2 * 16, 1 * 16) = (32, 16),
    # score 0.8 * 0.5 = 0.4 (its runner-up class, cat at 0.25, is not reported).
    anchor(STRIDE16_CELL_5_3, 0.5, 0.25, math.log(2), 0.0, 0.8, {14: 0.5, 15: 0.25})
    # The same box from the next cell ((6 - 0.5) * 16 = 88), bird at 0.7 * 0.5 = 0.35: NMS drops it.
    anchor(STRIDE16_CELL_6_3, -0.5, 0.25, math.log(2), 0.0, 0.7, {14: 0.5})
    # The same box again ((4 - 0.75) * 16 = 52) as a cat at 0.9 * 0.5 = 0.45: another class, kept.
    anchor(STRIDE16_CELL_5_4, 0.5, -0.75, math.log(2), 0.0, 0.9, {15: 0.5})
    # A person: centre (12 * 32, 2 * 32) = (384, 64), size (32, 4 * 32 = 128), score 0.9 * 1.0.
    anchor(STRIDE32_CELL_12_2, 0.0, 0.0, 0.0, math.log(4), 0.9, {0: 1.0})
    # A dog at the right edge: centre (51.5 * 8, 10.5 * 8) = (412, 84), size (8 * 8, 8) = (64, 8), 0.6.
    anchor(STRIDE8_CELL_51_10, 0.5, 0.5, math.log(8), 0.0, 1.0, {16: 0.6})
    # Below the 0.3 threshold: 0.5 * 0.5 = 0.25, and objectness 0.2 with a perfect class score.
    anchor(STRIDE8_CELL_0_0, 0.5, 0.5, 0.0, 0.0, 0.5, {2: 0.5})
    anchor(STRIDE8_CELL_0_0 + 1, 0.5, 0.5, 0.0, 0.0, 0.2, {3: 1.0})
    return raw


def test_yolox_decode_by_hand():
    anchors = yolox_anchors((416, 416))
    assert anchors.shape == (3549, 3)
    boxes, scores, classes = decode_yolox(_synthetic_yolox_output(), anchors, 0.3)
    rounded = zip(classes.tolist(), scores.astype(float).round(4).tolist(), boxes.astype(float).round(3).tolist())
    found = sorted(rounded, key=lambda d: -d[1])
    assert found == [
        (0, 0.9, [368.0, 0.0, 400.0, 128.0]),
        (16, 0.6, [380.0, 80.0, 444.0, 88.0]),
        (15, 0.45, [72.0, 44.0, 104.0, 60.0]),
        (14, 0.4, [72.0, 44.0, 104.0, 60.0]),
        (14, 0.35, [72.0, 44.0, 104.0, 60.0]),
    ]


def test_yolox_boxes_in_frame_pixels_after_letterbox_nms_and_roi(yolox_model, monkeypatch):
    detector = Detector.from_path(yolox_model, num_threads=1, score_threshold=0.3)
    raw = _synthetic_yolox_output()[np.newaxis]
    monkeypatch.setattr(detector, "_invoke", lambda tensor, outputs: [raw])

    # 1248x624: letterboxed at 1/3 into the top 416x208 of the input, so every input pixel is 3 frame pixels.
    found = detector.detect(np.zeros((624, 1248, 3), np.uint8))
    assert [(d.class_name, d.index, round(d.score, 4), tuple(round(v, 3) for v in d.box)) for d in found.birds] == [
        ("bird", 14, 0.4, (216.0, 132.0, 96.0, 48.0)),
    ]
    assert [(d.class_name, round(d.score, 4), tuple(round(v, 3) for v in d.box)) for d in found.others] == [
        ("person", 0.9, (1104.0, 0.0, 96.0, 384.0)),
        # x 1140..1332 is clipped to the frame's 1248.
        ("dog", 0.6, (1140.0, 240.0, 108.0, 24.0)),
        ("cat", 0.45, (216.0, 132.0, 96.0, 48.0)),
    ]

    # An 832x416 region at (100, 50): scale 1/2, then shifted by the region's corner and clipped to it.
    found = detector.detect(np.zeros((720, 1280, 3), np.uint8), roi=(100, 50, 832, 416))
    assert [tuple(round(v, 3) for v in d.box) for d in found.birds] == [(244.0, 138.0, 64.0, 32.0)]
    person, dog, cat = found.others
    assert tuple(round(v, 3) for v in person.box) == (836.0, 50.0, 64.0, 256.0)
    assert tuple(round(v, 3) for v in dog.box) == (860.0, 210.0, 72.0, 16.0)  # 860 + 72 = the region's right edge
    assert found.timings.total_ms >= found.timings.invoke_ms >= 0


def _write_detector(path: Path, detect, labels: str) -> Path:
    """Converts a tf.function into a TFLite detector at `path`, its class names beside it."""
    import tensorflow as tf

    module = tf.Module()
    module.detect = detect
    converter = tf.lite.TFLiteConverter.from_concrete_functions([detect.get_concrete_function()], module)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(converter.convert())
    path.with_suffix(".labels.txt").write_text(labels)
    return path


def _build_nhwc_yolox(path: Path, *, transposed: bool) -> Path:
    """A YOLOX-layout model with a channels-last 64x64 input and one class ("bird").

    Its 84 anchors (8x8 + 4x4 + 2x2) all say nothing but the first: stride 8, cell (0, 0), centre
    (0.5 + 0) * 8 = 4, size e^0 * 8 = 8, objectness = the mean of input channel 0 / 255, which is
    blue when the input is fed BGR as YOLOX wants. Output [1, 84, 6], or [1, 6, 84] when `transposed`.
    """
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32)])
    def detect(image):
        first = tf.reduce_mean(image[..., 0]) / 255.0
        row = tf.stack(
            [tf.constant(0.5), tf.constant(0.5), tf.constant(0.0), tf.constant(0.0), first, tf.constant(1.0)]
        )
        raw = tf.concat([row[tf.newaxis], tf.zeros([83, 6])], axis=0)[tf.newaxis]
        return {"output": tf.transpose(raw, [0, 2, 1]) if transposed else raw}

    return _write_detector(path, detect, "bird\n")


@pytest.mark.parametrize("transposed", [False, True])
def test_yolox_with_channels_last_input_and_either_output_layout(tmp_path, transposed):
    path = _build_nhwc_yolox(tmp_path / "nhwc.tflite", transposed=transposed)
    with Detector.from_path(path, num_threads=1) as detector:
        assert detector.kind == "yolox" and detector.input_size == (64, 64) and detector.class_names == ("bird",)
        blue = np.zeros((128, 128, 3), np.uint8)
        blue[..., 0] = 255  # BGR
        found = detector.detect(blue)
        # Input box (0, 0)-(8, 8), scaled from 64 to 128 px.
        assert [(d.class_name, round(d.score, 3), d.box) for d in found.birds] == [
            ("bird", 1.0, (0.0, 0.0, 16.0, 16.0))
        ]
        assert detector.detect(blue[..., ::-1].copy()).birds == ()  # red: channel 0 is dark
        assert len(detector.detect(blue[..., ::-1].copy(), color="rgb").birds) == 1


# -- another family: one more decoder ---------------------------------------------------------


class CornersDecoder:
    """A made-up family: one [1, K, 6] output of rows (x0, y0, x1, y1 as fractions of the input, score, class),
    taking RGB stretched to the input with float pixels in [0, 1]."""

    kind = "corners"
    reads = "corner lists ([1, K, 6])"
    convention = InputConvention(letterbox=False, bgr=False, mean=(0.0,) * 3, std=(255.0,) * 3)
    num_classes = 2

    @classmethod
    def match(cls, model: ModelOutputs) -> CornersDecoder | None:
        shapes = [[int(n) for n in o["shape"]] for o in model.outputs]
        return cls() if len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][2] == 6 else None

    def decode(self, outputs, fit: Fit, score_threshold: float):
        rows = outputs[0][0]
        rows = rows[rows[:, 4] >= score_threshold]
        width, height = fit.region_size
        boxes = rows[:, :4] * np.array([width, height, width, height], np.float32)
        return boxes.astype(np.float32), rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int64)


def _build_corners(path: Path) -> Path:
    """A model of that family: a bird (class 1) over the left half of the picture scored by how red it is (input
    channel 0 of RGB in [0, 1]), the same box a little smaller at 0.3 less, and a cat (class 0) at 0.7."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32)])
    def detect(image):
        red = tf.reduce_mean(image[..., 0])
        rows = tf.stack(
            [
                tf.stack([0.0, 0.0, 0.5, 1.0, red, 1.0]),
                tf.stack([0.02, 0.02, 0.48, 0.98, red - 0.3, 1.0]),
                tf.constant([0.5, 0.5, 1.0, 1.0, 0.7, 0.0]),
            ]
        )
        return {"rows": rows[tf.newaxis]}

    return _write_detector(path, detect, "cat\nbird\n")


def test_a_family_no_decoder_reads_is_refused_naming_the_families_read(tmp_path):
    path = _build_corners(tmp_path / "corners.tflite")
    with pytest.raises(ModelError) as refused:
        Detector.from_path(path, num_threads=1)
    message = str(refused.value)
    assert "its outputs are [1, 3, 6]" in message
    assert (
        "birdcam reads YOLOX exports (one [1, N, 5 + classes] output), NanoDet-Plus exports (one [1, N, classes + 32]"
        " output) and SSD-style detectors" in message
    )


def test_another_family_is_one_more_decoder(tmp_path, monkeypatch):
    path = _build_corners(tmp_path / "corners.tflite")
    monkeypatch.setattr("birdcam.models.detector.DECODERS", (*DECODERS, CornersDecoder))
    red = np.zeros((100, 200, 3), np.uint8)
    red[..., 2] = 255  # BGR: the detector gives the model RGB, as the family says
    with Detector.from_path(path, num_threads=1, score_threshold=0.5) as detector:
        assert detector.kind == "corners" and detector.class_names == ("cat", "bird") and detector.bird_classes == (1,)
        found = detector.detect(red, roi=(100, 0, 100, 100))
        # The left half of the 100x100 region, in frame pixels; the smaller copy is suppressed, the cat kept.
        assert [(d.class_name, round(d.score, 3), d.box) for d in found.birds] == [
            ("bird", 1.0, (100.0, 0.0, 50.0, 100.0))
        ]
        assert [(d.class_name, round(d.score, 3)) for d in found.others] == [("cat", 0.7)]
        assert detector.detect(red[..., ::-1].copy()).birds == ()  # blue: nothing red


# -- the starter YOLOX-nano on real photos -----------------------------------------------------


def test_starter_detector_loads_as_yolox(detector):
    assert detector.kind == "yolox"
    assert detector.input_size == (416, 416)
    assert detector.describe_input() == "float32 [1, 3, 416, 416]"
    assert len(detector.class_names) == 80 and detector.class_names[14] == "bird"
    assert detector.bird_classes == (14,)
    assert detector.class_names_source.endswith("coco_classes.txt")


# Boxes drawn by hand on the photos (the whole bird, tail to beak, crown to feet).
HAND_BOXES = {
    "images/birds/mandarin_duck.jpg": (170, 305, 428, 360),  # the drake; a duck is cut by the right edge
    "images/birds/scarlet_macaw.jpg": (100, 100, 365, 800),  # fills the frame
}


@pytest.mark.parametrize("photo", sorted(HAND_BOXES))
def test_birds_in_the_photos_are_found_where_they_are(detector, shared_dir, photo):
    found = detector.detect(_image(shared_dir, photo))
    assert found.birds, "no bird found"
    best = found.birds[0]
    assert best.class_name == "bird" and best.score > 0.5
    assert _iou(best.box, HAND_BOXES[photo]) >= 0.5
    assert [d.score for d in found.birds] == sorted((d.score for d in found.birds), reverse=True)


def test_a_frame_filling_bird_is_found(detector, shared_dir):
    photo = _image(shared_dir, "birds525-sample/valid/CAPE GLOSSY STARLING/4.jpg")  # 224x224, the bird fills it
    found = detector.detect(cv2.resize(photo, (720, 720)))
    assert found.birds and found.birds[0].score > 0.5
    x, y, w, h = found.birds[0].box
    assert w * h > 0.25 * 720 * 720


@pytest.mark.parametrize(
    ("photo", "expected"),
    [("cat.jpg", "cat"), ("face.jpg", "person"), ("hot_dog.jpg", "hot dog")],
)
def test_what_is_not_a_bird_gives_no_bird(detector, shared_dir, photo, expected):
    found = detector.detect(_image(shared_dir, f"images/not-birds/{photo}"))
    assert found.birds == ()
    assert found.others and found.others[0].class_name == expected and found.others[0].score > 0.5


def test_bird_free_scenes_give_no_bird(detector, shared_dir):
    for scene in sorted((shared_dir / "images" / "scenes").glob("*.jpg")):
        image = cv2.imread(str(scene))
        assert detector.detect(image).birds == (), scene.name
        assert detector.detect(cv2.resize(image, (1280, 720))).birds == (), scene.name


def _pasted(
    shared_dir: Path, scene: str, frame_size: tuple[int, int], photo: str, rect: tuple[int, int, int]
) -> np.ndarray:
    """A real scene resized to frame_size (w, h) with a bird photo pasted as a square at (x, y, side)."""
    frame = cv2.resize(_image(shared_dir, f"images/scenes/{scene}"), frame_size, interpolation=cv2.INTER_AREA)
    x, y, side = rect
    frame[y : y + side, x : x + side] = cv2.resize(_image(shared_dir, f"birds525-sample/valid/{photo}"), (side, side))
    return frame


# Photos in which the bird fills the 224x224 square, so the pasted square is the bird's box.
PASTED = [
    ("000000000139.jpg", (1280, 720), "BROWN NOODY/2.jpg", (700, 250, 400)),
    ("000000005037.jpg", (720, 1280), "CAPE GLOSSY STARLING/4.jpg", (60, 700, 400)),
    ("000000002149.jpg", (960, 960), "DARK EYED JUNCO/4.jpg", (300, 120, 360)),
    ("000000008844.jpg", (1280, 720), "EASTERN BLUEBIRD/2.jpg", (0, 320, 400)),
]


@pytest.mark.parametrize(("scene", "frame_size", "photo", "rect"), PASTED)
def test_a_pasted_bird_is_boxed_in_frame_pixels(detector, shared_dir, scene, frame_size, photo, rect):
    frame = _pasted(shared_dir, scene, frame_size, photo, rect)
    x, y, side = rect
    found = detector.detect(frame)
    assert found.birds, "no bird found"
    assert _iou(found.birds[0].box, (x, y, side, side)) >= 0.5
    # The same frame in RGB order gives the same box.
    rgb = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), color="rgb")
    assert rgb.birds and _iou(rgb.birds[0].box, found.birds[0].box) > 0.95


def test_a_region_of_interest_finds_the_bird_inside_it_only(detector, shared_dir):
    # A 240 px bird in 1280x720; a 640x640 region around it sees it at twice the whole frame's scale.
    frame = _pasted(shared_dir, "000000002149.jpg", (1280, 720), "DARK EYED JUNCO/4.jpg", (820, 300, 240))
    found = detector.detect(frame, roi=(600, 60, 640, 640))
    assert found.birds, "no bird found in the region"
    assert _iou(found.birds[0].box, (820, 300, 240, 240)) >= 0.5
    bx, by, bw, bh = found.birds[0].box
    assert 600 <= bx and bx + bw <= 1240 and 60 <= by and by + bh <= 700
    # A region sticking out of the frame is clipped to it; boxes stay inside the clipped region.
    clipped = detector.detect(frame, roi=(700, 200, 1000, 1000))
    assert clipped.birds and _iou(clipped.birds[0].box, (820, 300, 240, 240)) >= 0.5
    assert all(d.box[0] >= 700 and d.box[0] + d.box[2] <= 1280 + 1e-3 for d in clipped.birds + clipped.others)
    assert detector.detect(frame, roi=(0, 0, 640, 640)).birds == ()


def test_bad_roi_and_frame_are_one_clear_error(detector):
    frame = np.zeros((720, 1280, 3), np.uint8)
    with pytest.raises(BirdcamError, match="outside"):
        detector.detect(frame, roi=(2000, 0, 100, 100))
    with pytest.raises(BirdcamError, match="uint8"):
        detector.detect(frame.astype(np.float32))


# -- options and labels ------------------------------------------------------------------------


def test_options_change_what_is_reported(yolox_model, shared_dir):
    macaw = _image(shared_dir, "images/birds/scarlet_macaw.jpg")
    strict = Detector.from_path(yolox_model, num_threads=1, score_threshold=0.95)
    assert strict.detect(macaw).birds == ()
    persons_as_birds = Detector.from_path(yolox_model, num_threads=1, bird_class_names=("Bird", "PERSON"))
    assert persons_as_birds.bird_classes == (0, 14)
    found = persons_as_birds.detect(_image(shared_dir, "images/not-birds/face.jpg"))
    assert found.birds and {d.class_name for d in found.birds} == {"person"}
    few = Detector.from_path(yolox_model, num_threads=1, max_detections=1)
    assert len(few.detect(_image(shared_dir, "images/not-birds/face.jpg")).others) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"score_threshold": 1.5}, "DetectorOptions.score_threshold must be between 0 and 1, not 1.5"),
        ({"iou_threshold": 0.0}, "DetectorOptions.iou_threshold must be more than 0, not 0.0"),
        ({"iou_threshold": 1.5}, "DetectorOptions.iou_threshold must be between 0 and 1, not 1.5"),
        ({"max_detections": 0}, "DetectorOptions.max_detections must be at least 1, not 0"),
        ({"num_threads": 0}, "DetectorOptions.num_threads must be at least 1, not 0"),
        ({"bird_class_names": (" ",)}, "DetectorOptions.bird_class_names must name at least one class, not be empty"),
    ],
)
def test_bad_options_are_one_line_before_any_file_is_read(tmp_path, fields, message):
    with pytest.raises(OptionsError) as raised:
        DetectorOptions(model_path=tmp_path / "not-there.tflite", **fields)
    assert str(raised.value) == message and isinstance(raised.value, ValueError)


def test_labels_are_found_beside_the_model_or_default_to_coco(yolox_model, tmp_path):
    bare = tmp_path / "bare" / "detector.tflite"
    bare.parent.mkdir()
    bare.write_bytes(yolox_model.read_bytes())
    with Detector.from_path(bare, num_threads=1) as detector:
        assert detector.class_names == COCO_CLASSES and "COCO" in detector.class_names_source
    # A classifier's labels.txt in the same folder (a different count) is passed over.
    (bare.parent / "labels.txt").write_text("Aix galericulata (Mandarin Duck)\nbackground\n")
    assert Detector.from_path(bare, num_threads=1).class_names == COCO_CLASSES
    # <model>.labels.txt wins; here it renames the classes, so "bird" must be asked for by its new name.
    sidecar = bare.with_suffix(".labels.txt")
    sidecar.write_text("\n".join(f"thing {i}" if i != 14 else "Vogel" for i in range(80)) + "\n")
    with pytest.raises(LabelError, match="none of the 80 classes"):
        Detector.from_path(bare, num_threads=1)
    assert Detector.from_path(bare, num_threads=1, bird_class_names=("vogel",)).bird_classes == (14,)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("bird\ncat\n")
    with pytest.raises(LabelError, match="2 classes but"):
        Detector.from_path(bare, labels_path=wrong)


def test_class_names_numbered_or_with_a_background_placeholder(tmp_path):
    coral = tmp_path / "coco_labels.txt"
    coral.write_text("0  person\n1  bicycle\n3  motorcycle\n15  bird\n")
    names = read_class_names(coral)
    assert names[15] == "bird" and names[2] == "class 2" and len(names) == 16
    tf_label_map = tmp_path / "labelmap.txt"
    tf_label_map.write_text("???\nperson\nbicycle\n")
    assert read_class_names(tf_label_map) == ("person", "bicycle")
    with pytest.raises(LabelError, match="not found"):
        read_class_names(tmp_path / "gone.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(LabelError, match="empty"):
        read_class_names(tmp_path / "empty.txt")


# -- SSD-style post-processed detectors, on tiny ones built with TensorFlow --------------------------

SSD_SIZE = (96, 128)  # (height, width): frames are stretched to it, as SSD-style detectors expect
SSD_ROLES = ("boxes", "classes", "scores", "count")


def _build_ssd(path: Path, names: dict[str, str], *, float_input: bool = False) -> Path:
    """A real TFLite detector with the boxes / classes / scores / count signature of post-processed models.

    It finds a red and a blue patch: detection 0 is the red patch's box (class 14, score 0.9), 1 the
    blue one (class 15, 0.8), 2 the red box again (class 20, 0.6), 3 a box listed after the count of
    3 (score 0.95) that must be ignored. `names` maps each role to its output name in the signature.
    """
    import tensorflow as tf

    height, width = SSD_SIZE

    def patch(mask):
        rows, cols = tf.reduce_max(mask, axis=1), tf.reduce_max(mask, axis=0)
        first_row, first_col = tf.cast(tf.argmax(rows), tf.float32), tf.cast(tf.argmax(cols), tf.float32)
        after_row = height - tf.cast(tf.argmax(tf.reverse(rows, [0])), tf.float32)
        after_col = width - tf.cast(tf.argmax(tf.reverse(cols, [0])), tf.float32)
        return tf.stack([first_row / height, first_col / width, after_row / height, after_col / width]), tf.reduce_max(
            mask
        )

    dtype = tf.float32 if float_input else tf.uint8

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], dtype)])
    def detect(image):
        pixels = tf.cast(image[0], tf.float32)
        if float_input:
            pixels = pixels * 127.5 + 127.5  # the input is in [-1, 1]
        red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        red_box, red_seen = patch(tf.cast((red > 150) & (green < 100) & (blue < 100), tf.float32))
        blue_box, blue_seen = patch(tf.cast((blue > 150) & (red < 100) & (green < 100), tf.float32))
        values = {
            "boxes": tf.stack([red_box, blue_box, red_box, tf.constant([0.1, 0.1, 0.5, 0.5])])[tf.newaxis],
            "classes": tf.constant([[14.0, 15.0, 20.0, 14.0]]),
            "scores": tf.stack([0.9 * red_seen, 0.8 * blue_seen, 0.6 * red_seen, tf.constant(0.95)])[tf.newaxis],
            "count": tf.constant([3.0]),
        }
        return {names[role]: values[role] for role in SSD_ROLES}

    # Coral-style numbered labels: class 20 is a duck, a bird only when bird_class_names says so.
    return _write_detector(path, detect, "14  bird\n15  cat\n20  duck\n")


@pytest.fixture(scope="module")
def ssd_models(tmp_path_factory) -> dict[str, Path]:
    """{variant: path}. The converter lists outputs in an order set by their names: "unnamed_postprocess_order"
    lists boxes, classes, scores, count (as TFLite_Detection_PostProcess does); "unnamed_scores_first"
    lists scores before classes, and nothing in the names says which is which."""
    folder = tmp_path_factory.mktemp("ssd")
    named = {
        "boxes": "detection_boxes",
        "classes": "detection_classes",
        "scores": "detection_scores",
        "count": "num_detections",
    }

    def numbered(*roles):
        return {role: f"output_{i}" for i, role in enumerate(roles)}

    return {
        "named": _build_ssd(folder / "named" / "ssd.tflite", named),
        "float": _build_ssd(folder / "float" / "ssd.tflite", named, float_input=True),
        "unnamed_postprocess_order": _build_ssd(
            folder / "a" / "ssd.tflite", numbered("scores", "boxes", "count", "classes")
        ),
        "unnamed_scores_first": _build_ssd(
            folder / "b" / "ssd.tflite", numbered("boxes", "scores", "count", "classes")
        ),
    }


def _patches_frame() -> np.ndarray:
    """640x360 BGR: a red patch at (100, 60) 100x80 and a blue one at (400, 200) 120x120, on grey."""
    frame = np.full((360, 640, 3), 60, np.uint8)
    frame[60:140, 100:200] = (20, 20, 230)
    frame[200:320, 400:520] = (230, 20, 20)
    return frame


def _close(box, expected, tolerance) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(box, expected))


# One model pixel is 5 frame pixels across and 3.75 down: the patch edges may fall either side.
SSD_TOLERANCE = 6


@pytest.mark.parametrize("variant", ["named", "float", "unnamed_postprocess_order", "unnamed_scores_first"])
def test_ssd_detector_boxes_in_frame_pixels(ssd_models, variant):
    with Detector.from_path(ssd_models[variant], num_threads=1) as detector:
        assert detector.kind == "ssd" and detector.input_size == SSD_SIZE
        assert detector.class_names[14] == "bird" and detector.bird_classes == (14,)
        found = detector.detect(_patches_frame())
    assert [(d.class_name, round(d.score, 3)) for d in found.birds] == [("bird", 0.9)]
    assert _close(found.birds[0].box, (100, 60, 100, 80), SSD_TOLERANCE)
    assert [(d.class_name, round(d.score, 3)) for d in found.others] == [("cat", 0.8), ("duck", 0.6)]
    assert _close(found.others[0].box, (400, 200, 120, 120), SSD_TOLERANCE)


def test_ssd_detector_groups_bird_classes_and_follows_the_roi(ssd_models):
    with Detector.from_path(ssd_models["named"], num_threads=1, bird_class_names=("bird", "duck")) as detector:
        assert detector.bird_classes == (14, 20)
        whole = detector.detect(_patches_frame())
        # The duck box is the bird box again: bird classes share one NMS group, so it goes.
        assert [(d.class_name, round(d.score, 3)) for d in whole.birds] == [("bird", 0.9)]
        assert [d.class_name for d in whole.others] == ["cat"]
        # A 300x200 region holding only the red patch: stretched to 128x96 on its own, boxes in frame pixels.
        found = detector.detect(_patches_frame(), roi=(50, 30, 300, 200))
        assert found.others == () and len(found.birds) == 1
        assert _close(found.birds[0].box, (100, 60, 100, 80), 300 / 128 + 1)
        # RGB frames come in as they are.
        rgb = detector.detect(cv2.cvtColor(_patches_frame(), cv2.COLOR_BGR2RGB), color="rgb")
        assert [d.class_name for d in rgb.birds] == ["bird"] and _close(rgb.birds[0].box, whole.birds[0].box, 1e-3)


def test_ssd_detector_without_class_names_says_where_to_put_them(ssd_models, tmp_path):
    bare = tmp_path / "ssd.tflite"
    bare.write_bytes(ssd_models["named"].read_bytes())
    with pytest.raises(LabelError) as error:
        Detector.from_path(bare)
    assert "no class names" in str(error.value) and "ssd.labels.txt" in str(error.value)


# -- files that are not detectors --------------------------------------------------------------


def _bad_files(tmp_path: Path, shared_dir: Path, starter_model: Path) -> dict[str, tuple[Path, str]]:
    random_bytes = tmp_path / "random.tflite"
    random_bytes.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    folder = tmp_path / "folder.tflite"
    folder.mkdir()
    return {
        "missing": (tmp_path / "gone.tflite", "not found"),
        "folder": (folder, "is a folder"),
        "random bytes": (random_bytes, "not a TFLite model"),
        "classifier": (starter_model, "looks like an image classifier"),
        "fails to run": (shared_dir / "models" / "invalid" / "model_invoking_error.tflite", "cannot run"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "random bytes", "classifier", "fails to run"])
def test_a_file_that_is_not_a_detector_is_one_clear_line(tmp_path, shared_dir, starter_model, case):
    path, expected = _bad_files(tmp_path, shared_dir, starter_model)[case]
    with pytest.raises(ModelError) as error:
        Detector.from_path(path)
    message = str(error.value)
    assert expected in message and "\n" not in message and path.name in message


def test_a_closed_detector_says_so(yolox_model):
    detector = Detector.from_path(yolox_model, num_threads=1)
    detector.close()
    with pytest.raises(ModelError, match="closed"):
        detector.detect(np.zeros((100, 100, 3), np.uint8))


# -- `birdcam models --detector` ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "folder", "random bytes", "classifier", "fails to run"])
def test_models_with_a_bad_detector_exits_2_with_one_line(tmp_path, shared_dir, starter_model, case, capsys):
    from birdcam.cli import main

    path, expected = _bad_files(tmp_path, shared_dir, starter_model)[case]
    assert main(["models", "--model", str(starter_model), "--detector", str(path)]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("birdcam: error: ") and expected in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_models_says_which_detector_runs_and_why(yolox_model, starter_model, monkeypatch, capsys):
    import json

    from birdcam import paths
    from birdcam.cli import main

    assert main(["models", "--model", str(starter_model), "--detector", str(yolox_model), "--json"]) == 0
    detector = json.loads(capsys.readouterr().out)["detector"]
    assert detector["path"] == str(yolox_model) and detector["origin"] == "--detector"
    assert detector["kind"] == "yolox" and detector["input"] == "float32 [1, 3, 416, 416]"
    assert detector["classes"] == 80 and detector["bird_classes"] == ["bird"]
    assert detector["labels"].endswith("coco_classes.txt")

    assert main(["models", "--model", str(starter_model), "--detector", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["detector"] == {
        "path": None,
        "reason": "--detector none: whole-frame mode",
    }

    # Offline with nothing cached: still exit 0, and the line says what to do.
    monkeypatch.delenv("BIRDCAM_DETECTOR")
    assert main(["models", "--model", str(starter_model)]) == 0
    out = capsys.readouterr().out
    assert "detector   none: no detector yet" in out and "--detector PATH" in out and "--detector none" in out

    # Online with nothing cached: where the app will download it from (`models` itself downloads nothing).
    monkeypatch.delenv("BIRDCAM_OFFLINE")
    assert main(["models", "--model", str(starter_model)]) == 0
    out = capsys.readouterr().out
    assert "no starter detector (YOLOX-nano) in the cache yet" in out
    assert "downloads it from https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/" in out

    # The cached starter detector is picked up by itself.
    cached = paths.cache_dir() / "yolox_nano" / YOLOX_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(yolox_model.read_bytes())
    assert main(["models", "--model", str(starter_model)]) == 0
    out = capsys.readouterr().out
    assert f"detector   {cached}" in out and "starter detector (YOLOX-nano) from the cache" in out
    monkeypatch.setenv("BIRDCAM_DETECTOR", "none")
    assert main(["models", "--model", str(starter_model)]) == 0
    assert "detector   none: BIRDCAM_DETECTOR=none: whole-frame mode" in capsys.readouterr().out
