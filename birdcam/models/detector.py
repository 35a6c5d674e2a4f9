"""The detector stage: a TFLite object detector on LiteRT, from OpenCV frames to bird boxes in frame pixels.

Qt-free and TensorFlow-free like the engine, whose model loading and frame helpers it shares. Two
kinds of model are understood: YOLOX exports (one raw [1, N, 5 + classes] output, decoded here) and
SSD-style post-processed detectors (boxes, classes, scores and count outputs, as EfficientDet-Lite,
SSD MobileNet, MediaPipe's and Coral's detectors give).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import LabelError, ModelError, first_line
from birdcam.models.boxes import Box, non_maximum_suppression
from birdcam.models.image import as_three_channels, clip_roi, resize_image
from birdcam.models.labels import find_class_names
from birdcam.models.litert import Timings, default_threads, dequantized, load_interpreter

YOLOX_STRIDES = (8, 16, 32)
"""The strides of YOLOX's three output levels, in the order its anchors are listed."""
YOLOX_PAD_VALUE = 114
"""The grey YOLOX's training pads its letterbox with."""
# What the output names of SSD-style detectors say about each tensor (tensor names and signature names).
_SSD_NAME_HINTS = {"classes": ("class", "categor", "label"), "scores": ("score", "prob", "conf")}
# TFLite_Detection_PostProcess's outputs, in order: boxes, classes, scores, count.
_POSTPROCESS_SUFFIXES = {":1": "classes", ":2": "scores"}
_MAX_NMS_CANDIDATES = 2000


@dataclass(frozen=True)
class DetectorOptions:
    """How to load and run a detector."""

    model_path: Path
    """The .tflite file."""
    labels_path: Path | None = None
    """Class names; None: <model>.labels.txt, coco_classes.txt or labels.txt beside it, the embedded zip, else
    COCO's."""
    num_threads: int = default_threads()
    """CPU threads LiteRT may use."""
    score_threshold: float = 0.25
    """Lowest score a detection needs (YOLOX: objectness x class score); real bird-free scenes stay below 0.2."""
    iou_threshold: float = 0.45
    """Non-maximum suppression: a box overlapping a better one of its group by more than this is dropped."""
    bird_labels: tuple[str, ...] = ("bird",)
    """Class names that count as a bird (case-insensitive); all of them are one group for NMS."""
    max_detections: int = 100
    """At most this many birds, and this many other detections, per call."""


@dataclass(frozen=True)
class Detection:
    """One object the detector found."""

    box: Box
    """(x, y, w, h) in source-frame pixels, clipped to the frame (to the roi when one was given)."""
    score: float
    """Confidence in [0, 1]."""
    class_index: int
    """The model's class index."""
    label: str
    """The class name ("bird", "cat"), or "class N" when the labels do not name it."""


@dataclass(frozen=True)
class Detections:
    """What the detector found in one frame."""

    birds: tuple[Detection, ...]
    """Bird detections, best first, after NMS."""
    others: tuple[Detection, ...]
    """Every other class above the threshold (a cat, a person), best first, after NMS."""
    timings: Timings
    """Where the time went."""


class Detector:
    """A TFLite object detector on LiteRT that reports birds (and what else it sees). Not thread-safe."""

    def __init__(self, options: DetectorOptions):
        _check_options(options)
        self.options = options
        self.model_path = Path(options.model_path)
        self._interpreter = load_interpreter(self.model_path, options.num_threads)
        self._input, self._channels_first = _image_input(self._interpreter, self.model_path)
        if self._channels_first:
            self.input_size: tuple[int, int] = (int(self._input["shape"][2]), int(self._input["shape"][3]))
        else:
            self.input_size = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        self.input_dtype = np.dtype(self._input["dtype"])
        outputs = self._interpreter.get_output_details()
        yolox = _yolox_output(outputs, self.input_size)
        if yolox is not None:
            self.kind = "yolox"
            self._yolox_output, self._yolox_transposed = yolox
            num_classes = int(self._yolox_output["shape"][1 if self._yolox_transposed else 2]) - 5
            self._anchors = yolox_anchors(self.input_size)
            # YOLOX takes BGR 0-255 pixels as they are.
            self._bgr_input, mean, std = True, 0.0, 1.0
        else:
            self._ssd_outputs, self._ssd_roles_named = _ssd_outputs(self._interpreter, outputs, self.model_path)
            self.kind = "ssd"
            num_classes = None
            # TF's convention: RGB; float inputs in [-1, 1], uint8 ones raw.
            self._bgr_input, mean, std = False, 127.5, 127.5
        self._pixel_table = _pixel_table(self._input, mean, std)
        self.labels, self.labels_source = find_class_names(self.model_path, options.labels_path, num_classes)
        wanted = {name.strip().lower() for name in options.bird_labels}
        self.bird_classes: tuple[int, ...] = tuple(i for i, name in enumerate(self.labels) if name.lower() in wanted)
        if not self.bird_classes:
            raise LabelError(
                f"none of the {len(self.labels)} classes of detector {self.model_path.name} ({self.labels_source}) "
                f"is called {' or '.join(repr(n) for n in options.bird_labels)}; give its label file "
                f"as {self.model_path.with_suffix('.labels.txt').name} beside it."
            )
        self._bird_lookup = np.zeros(max(len(self.labels), 1), bool)
        self._bird_lookup[list(self.bird_classes)] = True
        self._invoke_once()

    @classmethod
    def from_path(cls, model_path: str | os.PathLike, **options) -> Detector:
        """`Detector.from_path("yolox.tflite", score_threshold=0.4)`: options are DetectorOptions fields."""
        return cls(DetectorOptions(model_path=Path(model_path), **options))

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Frees the interpreter; the detector cannot detect afterwards."""
        self._interpreter = None

    def describe_input(self) -> str:
        """E.g. "float32 [1, 3, 416, 416]"."""
        return f"{self.input_dtype.name} {[int(n) for n in self._input['shape']]}"

    # -- running -------------------------------------------------------------------------

    def detect(
        self, frame: np.ndarray, *, color: str = "bgr", roi: tuple[int, int, int, int] | None = None
    ) -> Detections:
        """Finds the birds in a frame. `color` is "bgr" (OpenCV) or "rgb"; `roi` (x, y, w, h) limits the search to
        that region (a tile, a track's neighbourhood) and boxes are still in frame pixels."""
        start = time.perf_counter()
        image = as_three_channels(frame, color)
        region = clip_roi(image.shape, roi) if roi is not None else (0, 0, image.shape[1], image.shape[0])
        x, y, w, h = region
        tensor, scale = self._preprocess(image[y : y + h, x : x + w], color)
        prepared = time.perf_counter()
        outputs = self._invoke(tensor)
        invoked = time.perf_counter()
        if self.kind == "yolox":
            boxes, scores, classes = self._decode_yolox(outputs, scale)
        else:
            boxes, scores, classes = self._decode_ssd(outputs, (w, h))
        birds, others = self._select(boxes, scores, classes, region)
        done = time.perf_counter()
        timings = Timings((prepared - start) * 1e3, (invoked - prepared) * 1e3, (done - invoked) * 1e3)
        return Detections(birds, others, timings)

    def _preprocess(self, image: np.ndarray, color: str) -> tuple[np.ndarray, tuple[float, float]]:
        """The input tensor, and the (x, y) scale from region pixels to model-input pixels."""
        height, width = self.input_size
        if self.kind == "yolox":
            # YOLOX's letterbox: the frame scaled to fit, in the top-left corner, on grey.
            fit = min(width / image.shape[1], height / image.shape[0])
            inner_w = min(width, max(1, round(image.shape[1] * fit)))
            inner_h = min(height, max(1, round(image.shape[0] * fit)))
            fitted = np.full((height, width, 3), YOLOX_PAD_VALUE, np.uint8)
            fitted[:inner_h, :inner_w] = resize_image(image, (inner_w, inner_h))
            scale = (inner_w / image.shape[1], inner_h / image.shape[0])
        else:
            fitted = resize_image(image, (width, height))
            scale = (width / image.shape[1], height / image.shape[0])
        if (color == "bgr") != self._bgr_input:
            fitted = cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB)
        values = fitted if self._pixel_table is None else cv2.LUT(fitted, self._pixel_table)
        if self._channels_first:
            values = values.transpose(2, 0, 1)
        return np.ascontiguousarray(values[np.newaxis], dtype=self.input_dtype), scale

    def _invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Runs the model; returns every output tensor, dequantized to float32."""
        if self._interpreter is None:
            raise ModelError("the detector is closed.")
        try:
            self._interpreter.set_tensor(self._input["index"], tensor)
            self._interpreter.invoke()
            return [
                dequantized(self._interpreter.get_tensor(o["index"]), o) for o in self._interpreter.get_output_details()
            ]
        except (RuntimeError, ValueError) as error:
            raise ModelError(
                f"detector {self.model_path.name} failed to run: {first_line(error)}. Choose another detector."
            ) from None

    def _decode_yolox(self, outputs: list[np.ndarray], scale: tuple[float, float]):
        raw = outputs[self._yolox_output["position"]][0]
        if self._yolox_transposed:
            raw = raw.T
        boxes, scores, classes = decode_yolox(raw, self._anchors, self.options.score_threshold)
        boxes /= np.array([scale[0], scale[1], scale[0], scale[1]], np.float32)
        return boxes, scores, classes

    def _decode_ssd(self, outputs: list[np.ndarray], size: tuple[int, int]):
        role = {name: outputs[details["position"]] for name, details in self._ssd_outputs.items()}
        scores, classes = role["scores"].reshape(-1), role["classes"].reshape(-1)
        if not self._ssd_roles_named and _swapped(classes, scores):
            # The names did not say which is which and the order guessed wrong: the values tell, for good.
            self._ssd_outputs["classes"], self._ssd_outputs["scores"] = (
                self._ssd_outputs["scores"],
                self._ssd_outputs["classes"],
            )
            self._ssd_roles_named = True
            scores, classes = classes, scores
        count = len(scores)
        if "count" in role:
            count = min(count, max(0, int(round(float(role["count"].reshape(-1)[0])))))
        corners = role["boxes"].reshape(-1, 4)[:count]
        scores, classes = scores[:count], np.rint(classes[:count]).astype(np.int64)
        keep = scores >= self.options.score_threshold
        # Normalized ymin, xmin, ymax, xmax of the stretched input, which covers the region exactly.
        width, height = size
        boxes = corners[keep][:, [1, 0, 3, 2]] * np.array([width, height, width, height], np.float32)
        return boxes.astype(np.float32), scores[keep].astype(np.float32), classes[keep]

    def _select(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, region: tuple[int, int, int, int]):
        """Region-relative (x0, y0, x1, y1) boxes -> frame-pixel Detections, clipped, NMS'd, split into birds and
        others."""
        x, y, w, h = region
        boxes = np.clip(boxes, 0, np.array([w, h, w, h], np.float32))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & (classes >= 0)
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        if len(scores) > _MAX_NMS_CANDIDATES:
            best = np.argsort(scores)[::-1][:_MAX_NMS_CANDIDATES]
            boxes, scores, classes = boxes[best], scores[best], classes[best]
        is_bird = np.zeros(len(classes), bool)
        known = classes < len(self._bird_lookup)
        is_bird[known] = self._bird_lookup[classes[known]]
        # Per-class NMS, with every bird class one group: two bird classes never box one bird twice,
        # and a cat overlapping a bird keeps its own box.
        groups = np.where(is_bird, -1, classes).astype(np.int32)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        kept = non_maximum_suppression(xywh, scores, self.options.iou_threshold, groups)
        birds, others = [], []
        for i in kept:
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            index = int(classes[i])
            label = self.labels[index] if index < len(self.labels) else f"class {index}"
            detection = Detection((x0 + x, y0 + y, x1 - x0, y1 - y0), float(scores[i]), index, label)
            (birds if is_bird[i] else others).append(detection)
        limit = self.options.max_detections
        return tuple(birds[:limit]), tuple(others[:limit])

    def _invoke_once(self) -> None:
        """Runs one blank frame at load, so a model that cannot run fails here, not mid-stream."""
        height, width = self.input_size
        self.detect(np.zeros((height, width, 3), np.uint8))

    def __repr__(self) -> str:
        return f"Detector({self.model_path.name}, {self.kind}, {self.describe_input()}, {len(self.labels)} classes)"


# -- YOLOX decoding ----------------------------------------------------------------------------


def yolox_anchors(input_size: tuple[int, int], strides: tuple[int, ...] = YOLOX_STRIDES) -> np.ndarray:
    """[N, 3] float32 rows (grid x, grid y, stride) of every YOLOX anchor point, in the model's output order.

    Level by level (strides 8, 16, 32), each level row by row over its (height/stride, width/stride) grid.
    """
    height, width = input_size
    levels = []
    for stride in strides:
        rows, cols = height // stride, width // stride
        grid_y, grid_x = np.mgrid[0:rows, 0:cols]
        levels.append(np.stack([grid_x.ravel(), grid_y.ravel(), np.full(rows * cols, stride)], axis=1))
    return np.concatenate(levels).astype(np.float32)


def decode_yolox(
    raw: np.ndarray, anchors: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes from a raw YOLOX output [N, 5 + classes]: rows (cx, cy, log w, log h, objectness, class scores...).

    Returns (x0, y0, x1, y1) in model-input pixels, scores (objectness x best class score) and class
    indices of the anchors whose score reaches the threshold. Each anchor gives its best class only.
    """
    objectness = raw[:, 4]
    # A score is objectness x a class score <= 1, so anchors below the threshold on objectness are out.
    candidates = np.flatnonzero(objectness >= score_threshold)
    class_scores = raw[candidates, 5:]
    classes = class_scores.argmax(axis=1)
    scores = objectness[candidates] * class_scores[np.arange(len(candidates)), classes]
    keep = scores >= score_threshold
    rows, anchor = raw[candidates[keep]], anchors[candidates[keep]]
    stride = anchor[:, 2:3]
    centre = (rows[:, 0:2] + anchor[:, 0:2]) * stride
    # Clipped before exp: garbage outputs must not overflow (e^10 strides is already far past any frame).
    size = np.exp(np.minimum(rows[:, 2:4], 10.0)) * stride
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
    return boxes, scores[keep].astype(np.float32), classes[keep].astype(np.int64)


# -- loading -----------------------------------------------------------------------------------


def _check_options(options: DetectorOptions) -> None:
    if not 0.0 <= options.score_threshold <= 1.0:
        raise ModelError(f"the detector's score threshold must be between 0 and 1, not {options.score_threshold}.")
    if not 0.0 < options.iou_threshold <= 1.0:
        raise ModelError(f"the detector's IoU threshold must be above 0 and at most 1, not {options.iou_threshold}.")
    if options.max_detections < 1:
        raise ModelError(f"max detections must be at least 1, not {options.max_detections}.")
    if not any(name.strip() for name in options.bird_labels):
        raise ModelError("bird_labels is empty; name at least one detector class that counts as a bird.")


def _image_input(interpreter, model_path: Path) -> tuple[dict, bool]:
    """The image input, and whether it is channels-first; resizes a dynamic batch to 1."""
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise ModelError(f"{model_path.name} has {len(inputs)} inputs; an object detector has one image input.")
    details = inputs[0]
    shape = [int(n) for n in details["shape"]]
    if len(shape) != 4 or 3 not in (shape[1], shape[3]) or min(shape[1:]) < 1:
        raise ModelError(
            f"{model_path.name} takes {np.dtype(details['dtype']).name} {shape}, not an image; "
            "a detector needs an input of 3 colour channels ([1, H, W, 3] or [1, 3, H, W])."
        )
    if np.dtype(details["dtype"]) not in (np.float32, np.uint8):
        raise ModelError(
            f"{model_path.name} takes {np.dtype(details['dtype']).name} input; "
            "birdcam runs detectors with float32 or uint8 input."
        )
    if shape[0] != 1:
        interpreter.resize_tensor_input(details["index"], [1, *shape[1:]])
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()[0]
    return details, shape[3] != 3


def _with_positions(outputs: list[dict]) -> list[dict]:
    """Output details with "position": where each is in get_output_details(), the order _invoke returns them in."""
    return [{**details, "position": i} for i, details in enumerate(outputs)]


def _yolox_output(outputs: list[dict], input_size: tuple[int, int]) -> tuple[dict, bool] | None:
    """(the output, transposed?) when the model's one output is a raw YOLOX [1, anchors, 5 + C] (or [1, 5 + C,
    anchors])."""
    if len(outputs) != 1:
        return None
    (details,) = _with_positions(outputs)
    shape = [int(n) for n in details["shape"]]
    anchors = sum((input_size[0] // s) * (input_size[1] // s) for s in YOLOX_STRIDES)
    if len(shape) != 3 or shape[0] != 1:
        return None
    if shape[1] == anchors and shape[2] > 5:
        return details, False
    if shape[2] == anchors and shape[1] > 5:
        return details, True
    return None


def _ssd_outputs(interpreter, outputs: list[dict], model_path: Path) -> tuple[dict[str, dict], bool]:
    """{role: output details} for boxes, classes, scores (and count); and whether names told classes from scores.

    Boxes ([1, N, 4]) and count (one value) are told by shape. Classes and scores (both [1, N]) by
    their tensor or signature names when these say it, else by TFLite_Detection_PostProcess's order
    (classes first), which detect() corrects from the values if a model lists them otherwise.
    """
    outputs = _with_positions(outputs)
    shapes = [[int(n) for n in o["shape"]] for o in outputs]
    boxes = [o for o, s in zip(outputs, shapes) if len(s) == 3 and s[0] == 1 and s[2] == 4]
    counts = [o for o, s in zip(outputs, shapes) if int(np.prod(s)) == 1]
    rows = [o for o, s in zip(outputs, shapes) if len(s) == 2 and s[0] == 1 and s[1] > 1]
    if len(outputs) not in (3, 4) or len(boxes) != 1 or len(rows) != 2 or len(counts) != len(outputs) - 3:
        described = ", ".join(str(s) for s in shapes)
        hint = (
            " (it looks like an image classifier: give it with --model)"
            if len(shapes) == 1 and len(shapes[0]) <= 2
            else ""
        )
        raise ModelError(
            f"{model_path.name} is not a detector birdcam can read: its outputs are {described}{hint}; "
            "birdcam reads YOLOX exports (one [1, N, 5 + classes] output) and SSD-style detectors "
            "(boxes, classes, scores and count outputs)."
        )
    boxes_count = int(boxes[0]["shape"][1])
    if any(int(row["shape"][1]) != boxes_count for row in rows):
        raise ModelError(
            f"{model_path.name} gives {boxes_count} boxes but {[int(r['shape'][1]) for r in rows]} classes and "
            "scores; birdcam reads SSD-style detectors whose outputs agree."
        )
    names = _output_names(interpreter)
    roles = {o["position"]: _role_from_names(names.get(o["index"], ()) + (o["name"],)) for o in rows}
    named = sorted(roles.values(), key=str) == ["classes", "scores"]
    classes, scores = (rows if roles[rows[0]["position"]] == "classes" else rows[::-1]) if named else rows
    found = {"boxes": boxes[0], "classes": classes, "scores": scores}
    if counts:
        found["count"] = counts[0]
    return found, named


def _output_names(interpreter) -> dict[int, tuple[str, ...]]:
    """{tensor index: signature output names}: converters often keep the meaningful names only there."""
    names: dict[int, tuple[str, ...]] = {}
    try:
        for key in interpreter.get_signature_list():
            for name, details in interpreter.get_signature_runner(key).get_output_details().items():
                names[int(details["index"])] = names.get(int(details["index"]), ()) + (name,)
    except (RuntimeError, ValueError, KeyError):
        return {}
    return names


def _role_from_names(names: tuple[str, ...]) -> str | None:
    for name in names:
        lower = name.lower()
        for role, hints in _SSD_NAME_HINTS.items():
            if any(hint in lower for hint in hints):
                return role
        if "TFLite_Detection_PostProcess" in name:
            for suffix, role in _POSTPROCESS_SUFFIXES.items():
                if name.endswith(suffix):
                    return role
    return None


def _swapped(classes: np.ndarray, scores: np.ndarray) -> bool:
    """True when the values say the two [N] outputs were taken the wrong way round: class ids are whole
    numbers and scores lie in [0, 1]."""
    classes_whole = bool(np.all(classes == np.rint(classes)))
    scores_whole = bool(np.all(scores == np.rint(scores)))
    if classes_whole != scores_whole:
        return scores_whole
    return float(scores.max(initial=0.0)) > 1.0 and float(classes.max(initial=0.0)) <= 1.0


def _pixel_table(details: dict, mean: float, std: float) -> np.ndarray | None:
    """A [1, 256] cv2.LUT table from pixel to the (pixel - mean) / std a float input takes, or None when the
    pixels go in as they are: float inputs that take 0-255, and uint8 inputs (TFLite's convention)."""
    if np.dtype(details["dtype"]) != np.float32 or (mean, std) == (0.0, 1.0):
        return None
    return ((np.arange(256, dtype=np.float32) - mean) / std).reshape(1, 256)


__all__ = [
    "Detection",
    "Detections",
    "Detector",
    "DetectorOptions",
    "decode_yolox",
    "yolox_anchors",
]
