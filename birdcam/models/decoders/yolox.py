"""YOLOX exports: one raw [1, anchors, 5 + classes] output (or its transpose), decoded here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from birdcam.models.decoders.base import Decoded, Fit, InputConvention, ModelOutputs, shape_of

YOLOX_STRIDES = (8, 16, 32)
"""The strides of YOLOX's three output levels, in the order its anchors are listed."""
YOLOX_PAD_VALUE = 114
"""The grey YOLOX's training pads its letterbox with."""


class YoloxDecoder:
    """YOLOX: the frame letterboxed into the top-left corner on grey, BGR 0-255 pixels as they are; per anchor
    (cx, cy, log w, log h, objectness, class scores...) on a grid of strides 8, 16 and 32."""

    kind: ClassVar[str] = "yolox"
    reads: ClassVar[str] = "YOLOX exports (one [1, N, 5 + classes] output)"
    convention = InputConvention(letterbox=True, bgr=True, pad_value=YOLOX_PAD_VALUE)

    def __init__(self, position: int, transposed: bool, num_classes: int, input_size: tuple[int, int]):
        self.position = position
        self.transposed = transposed
        self.num_classes: int | None = num_classes
        self.anchors = yolox_anchors(input_size)

    @classmethod
    def match(cls, model: ModelOutputs) -> YoloxDecoder | None:
        """A decoder when the model's one output is a raw YOLOX [1, anchors, 5 + C] (or [1, 5 + C, anchors])."""
        if len(model.outputs) != 1:
            return None
        shape = shape_of(model.outputs[0])
        anchors = sum((model.input_size[0] // s) * (model.input_size[1] // s) for s in YOLOX_STRIDES)
        if len(shape) != 3 or shape[0] != 1:
            return None
        if shape[1] == anchors and shape[2] > 5:
            return cls(0, False, shape[2] - 5, model.input_size)
        if shape[2] == anchors and shape[1] > 5:
            return cls(0, True, shape[1] - 5, model.input_size)
        return None

    def decode(self, outputs: Sequence[np.ndarray], fit: Fit, score_threshold: float) -> Decoded:
        raw = outputs[self.position][0]
        if self.transposed:
            raw = raw.T
        boxes, scores, classes = decode_yolox(raw, self.anchors, score_threshold)
        boxes /= np.array([fit.scale[0], fit.scale[1], fit.scale[0], fit.scale[1]], np.float32)
        return boxes, scores, classes


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


def decode_yolox(raw: np.ndarray, anchors: np.ndarray, score_threshold: float) -> Decoded:
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


__all__ = ["YOLOX_PAD_VALUE", "YOLOX_STRIDES", "YoloxDecoder", "decode_yolox", "yolox_anchors"]
