"""The detector stage: a TFLite object detector on LiteRT, from OpenCV frames to bird boxes in frame pixels.

Qt-free and TensorFlow-free like the classifier, with which it shares the LiteRT base and the image
helpers. Each family of detectors (YOLOX, SSD-style; see birdcam/models/decoders) says how its
models take a picture and what their outputs mean; the Detector fits the region, runs the model,
and turns what the family decodes into clipped, de-duplicated detections of birds and of the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import LabelError, ModelError, OptionsError
from birdcam.models.boxes import Box, PixelBox, non_maximum_suppression
from birdcam.models.decoders import DECODERS, DetectorDecoder, Fit, InputConvention, ModelOutputs
from birdcam.models.image import as_three_channels, clip_roi, fit_top_left, resize_image
from birdcam.models.labels import find_class_names
from birdcam.models.litert import LiteRTModel, Timings, default_threads, dequantized
from birdcam.util import checks

_MAX_NMS_CANDIDATES = 2000


@dataclass(frozen=True)
class DetectorOptions:
    """How to load and run a detector."""

    model_path: Path
    """The .tflite file."""
    labels_path: Path | None = None
    """The file of class names; None: <model>.labels.txt, coco_classes.txt or labels.txt beside it, the embedded
    zip, else COCO's."""
    num_threads: int = default_threads()
    """CPU threads LiteRT may use."""
    score_threshold: float = 0.25
    """Lowest score a detection needs (YOLOX: objectness x class score); real bird-free scenes stay below 0.2."""
    iou_threshold: float = 0.45
    """Non-maximum suppression: a box overlapping a better one of its group by more than this is dropped."""
    bird_class_names: tuple[str, ...] = ("bird",)
    """Class names that count as a bird (case-insensitive); all of them are one group for NMS."""
    max_detections: int = 100
    """At most this many birds, and this many other detections, per call."""

    def __post_init__(self) -> None:
        checks.at_least(self, "num_threads", 1)
        checks.between(self, "score_threshold", 0, 1)
        checks.above(self, "iou_threshold", 0)
        checks.between(self, "iou_threshold", 0, 1)
        checks.at_least(self, "max_detections", 1)
        if not any(name.strip() for name in self.bird_class_names):
            raise OptionsError("DetectorOptions.bird_class_names must name at least one class, not be empty")


@dataclass(frozen=True)
class Detection:
    """One object the detector found."""

    box: Box
    """(x, y, w, h) in source-frame pixels, clipped to the frame (to the roi when one was given)."""
    score: float
    """Confidence in [0, 1]."""
    index: int
    """The model's class index."""
    class_name: str
    """The class name ("bird", "cat"), or "class N" when the label file does not name it."""


@dataclass(frozen=True)
class Detections:
    """What the detector found in one frame."""

    birds: tuple[Detection, ...]
    """Bird detections, best first, after NMS."""
    others: tuple[Detection, ...]
    """Every other class above the threshold (a cat, a person), best first, after NMS."""
    timings: Timings
    """Where the time went."""


class Detector(LiteRTModel):
    """A TFLite object detector on LiteRT that reports birds (and what else it sees). Not thread-safe."""

    options_class = DetectorOptions
    role = "detector"

    def __init__(self, options: DetectorOptions):
        self.options = options
        super().__init__(options.model_path, options.num_threads)
        self._input, self._channels_first = self._image_input()
        shape = [int(n) for n in self._input["shape"]]
        self.input_size: tuple[int, int] = (shape[2], shape[3]) if self._channels_first else (shape[1], shape[2])
        self._outputs: list[dict] = list(self._interpreter.get_output_details())
        self.decoder: DetectorDecoder = self._decoder()
        """The family that reads this model's outputs."""
        self._pixel_table = _pixel_table(self._input, self.decoder.convention)
        self.class_names, self.class_names_source = find_class_names(
            self.model_path, options.labels_path, self.decoder.num_classes
        )
        wanted = {name.strip().lower() for name in options.bird_class_names}
        self.bird_classes: tuple[int, ...] = tuple(
            i for i, name in enumerate(self.class_names) if name.lower() in wanted
        )
        if not self.bird_classes:
            raise LabelError(
                f"none of the {len(self.class_names)} classes of detector {self.model_path.name} "
                f"({self.class_names_source}) is called {' or '.join(repr(n) for n in options.bird_class_names)}; "
                f"give its label file as {self.model_path.with_suffix('.labels.txt').name} beside it."
            )
        self._bird_lookup = np.zeros(max(len(self.class_names), 1), bool)
        self._bird_lookup[list(self.bird_classes)] = True
        self._invoke_once()

    @property
    def kind(self) -> str:
        """The family of detectors the model is of: "yolox", "nanodet", "ssd"."""
        return self.decoder.kind

    # -- running -------------------------------------------------------------------------

    def detect(self, frame: np.ndarray, *, color: str = "bgr", roi: PixelBox | None = None) -> Detections:
        """Finds the birds in a frame. `color` is "bgr" (OpenCV) or "rgb"; `roi` (x, y, w, h) limits the search to
        that region (a tile, a track's neighbourhood) and boxes are still in frame pixels."""
        start = time.perf_counter()
        image = as_three_channels(frame, color)
        region = clip_roi(image.shape, roi) if roi is not None else (0, 0, image.shape[1], image.shape[0])
        x, y, w, h = region
        tensor, scale = self._preprocess(image[y : y + h, x : x + w], color)
        prepared = time.perf_counter()
        outputs = [
            dequantized(values, details) for values, details in zip(self._invoke(tensor, self._outputs), self._outputs)
        ]
        invoked = time.perf_counter()
        boxes, scores, classes = self.decoder.decode(outputs, Fit((w, h), scale), self.options.score_threshold)
        birds, others = self._select(boxes, scores, classes, region)
        done = time.perf_counter()
        timings = Timings((prepared - start) * 1e3, (invoked - prepared) * 1e3, (done - invoked) * 1e3)
        return Detections(birds, others, timings)

    def _preprocess(self, image: np.ndarray, color: str) -> tuple[np.ndarray, tuple[float, float]]:
        """The input tensor, and the (x, y) scale from region pixels to model-input pixels."""
        height, width = self.input_size
        convention = self.decoder.convention
        if convention.letterbox:
            fitted, scale = fit_top_left(image, self.input_size, convention.pad_value)
        else:
            fitted = resize_image(image, (width, height))
            scale = (width / image.shape[1], height / image.shape[0])
        if (color == "bgr") != convention.bgr:
            fitted = cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB)
        values = fitted if self._pixel_table is None else cv2.LUT(fitted, self._pixel_table)
        if self._channels_first:
            values = values.transpose(2, 0, 1)
        return np.ascontiguousarray(values[np.newaxis], dtype=self.input_dtype), scale

    def _select(
        self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, region: PixelBox
    ) -> tuple[tuple[Detection, ...], tuple[Detection, ...]]:
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
        birds: list[Detection] = []
        others: list[Detection] = []
        for i in kept:
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            index = int(classes[i])
            class_name = self.class_names[index] if index < len(self.class_names) else f"class {index}"
            detection = Detection((x0 + x, y0 + y, x1 - x0, y1 - y0), float(scores[i]), index, class_name)
            (birds if is_bird[i] else others).append(detection)
        limit = self.options.max_detections
        return tuple(birds[:limit]), tuple(others[:limit])

    # -- loading -------------------------------------------------------------------------

    def _image_input(self) -> tuple[dict, bool]:
        """The image input with its batch at 1, and whether it is channels-first."""
        details = self._one_input("an object detector has one image input")
        shape = [int(n) for n in details["shape"]]
        if len(shape) != 4 or 3 not in (shape[1], shape[3]) or min(shape[1:]) < 1:
            raise ModelError(
                f"{self.model_path.name} takes {np.dtype(details['dtype']).name} {shape}, not an image; "
                "a detector needs an input of 3 colour channels ([1, H, W, 3] or [1, 3, H, W])."
            )
        if np.dtype(details["dtype"]) not in (np.float32, np.uint8):
            raise ModelError(
                f"{self.model_path.name} takes {np.dtype(details['dtype']).name} input; "
                "birdcam runs detectors with float32 or uint8 input."
            )
        return self._batch_of_one(details), shape[3] != 3

    def _decoder(self) -> DetectorDecoder:
        """The first family in DECODERS that reads this model's outputs; ModelError when none does."""
        model = ModelOutputs(self.model_path, self.input_size, tuple(self._outputs), self._interpreter)
        for family in DECODERS:
            decoder = family.match(model)
            if decoder is not None:
                return decoder
        shapes = [[int(n) for n in o["shape"]] for o in self._outputs]
        described = ", ".join(str(s) for s in shapes)
        hint = (
            " (it looks like an image classifier: use it as the model, not as the detector)"
            if len(shapes) == 1 and len(shapes[0]) <= 2
            else ""
        )
        raise ModelError(
            f"{self.model_path.name} is not a detector birdcam can read: its outputs are {described}{hint}; "
            f"birdcam reads {_listed([family.reads for family in DECODERS])}."
        )

    def _invoke_once(self) -> None:
        """Runs one blank frame at load, so a model that cannot run fails here, not mid-stream."""
        height, width = self.input_size
        self.detect(np.zeros((height, width, 3), np.uint8))

    def __repr__(self) -> str:
        return (
            f"Detector({self.model_path.name}, {self.kind}, {self.describe_input()}, {len(self.class_names)} classes)"
        )


def _listed(items: list[str]) -> str:
    """The items joined for a sentence: a; a and b; a, b and c."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 2 else items)


def _pixel_table(details: dict, convention: InputConvention) -> np.ndarray | None:
    """A [1, 256, 3] cv2.LUT table from pixel to the (pixel - mean) / std a float input takes, or None when the
    pixels go in as they are: float inputs that take 0-255, and uint8 inputs (TFLite's convention)."""
    if np.dtype(details["dtype"]) != np.float32 or (convention.mean, convention.std) == ((0.0,) * 3, (1.0,) * 3):
        return None
    pixels = np.arange(256, dtype=np.float32)[:, np.newaxis]
    table = (pixels - np.asarray(convention.mean, np.float32)) / np.asarray(convention.std, np.float32)
    return table.reshape(1, 256, 3)


__all__ = ["Detection", "Detections", "Detector", "DetectorOptions"]
