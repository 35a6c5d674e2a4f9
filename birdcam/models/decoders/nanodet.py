"""NanoDet-Plus exports: one raw [1, anchors, classes + 4 x bins] output, decoded here (Generalized Focal Loss
boxes: each side's distance from the anchor point is a distribution over `bins` steps of the stride)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from birdcam.models.decoders.base import Decoded, Fit, InputConvention, ModelOutputs, shape_of

NANODET_STRIDES = (8, 16, 32, 64)
"""The strides of NanoDet-Plus's four output levels, in the order its anchors are listed."""
NANODET_BINS = 8
"""Steps of each side's distance distribution (NanoDet-Plus's reg_max of 7, plus one)."""
NANODET_MEAN = (103.53, 116.28, 123.675)
NANODET_STD = (57.375, 57.12, 58.395)
"""ImageNet's mean and std in BGR order, on 0-255 pixels: how NanoDet's training normalizes."""


class NanoDetDecoder:
    """NanoDet-Plus: the frame stretched to the input, BGR, normalized by ImageNet's mean and std; per anchor point
    (col x stride, row x stride) on grids of strides 8, 16, 32 and 64, class logits then, for the left, top, right
    and bottom distances, `NANODET_BINS` logits each."""

    kind: ClassVar[str] = "nanodet"
    reads: ClassVar[str] = f"NanoDet-Plus exports (one [1, N, classes + {4 * NANODET_BINS}] output)"
    convention = InputConvention(letterbox=False, bgr=True, mean=NANODET_MEAN, std=NANODET_STD)

    def __init__(self, num_classes: int, input_size: tuple[int, int]):
        self.num_classes: int | None = num_classes
        self._classes = num_classes
        self.anchors = nanodet_anchors(input_size)

    @classmethod
    def match(cls, model: ModelOutputs) -> NanoDetDecoder | None:
        """A decoder when the model's one output is [1, anchors, classes + 4 x bins] over NanoDet-Plus's grids."""
        if len(model.outputs) != 1:
            return None
        shape = shape_of(model.outputs[0])
        if len(shape) != 3 or shape[0] != 1 or shape[2] <= 4 * NANODET_BINS:
            return None
        if shape[1] != len(nanodet_anchors(model.input_size)):
            return None
        return cls(shape[2] - 4 * NANODET_BINS, model.input_size)

    def decode(self, outputs: Sequence[np.ndarray], fit: Fit, score_threshold: float) -> Decoded:
        boxes, scores, classes = decode_nanodet(outputs[0][0], self.anchors, self._classes, score_threshold)
        boxes /= np.array([fit.scale[0], fit.scale[1], fit.scale[0], fit.scale[1]], np.float32)
        return boxes, scores, classes


def nanodet_anchors(input_size: tuple[int, int], strides: tuple[int, ...] = NANODET_STRIDES) -> np.ndarray:
    """[N, 3] float32 rows (x, y, stride) of every anchor point in input pixels, in the model's output order.

    Level by level, each level row by row over a grid of ceil(height / stride) x ceil(width / stride)
    cells; a cell's point is its top-left corner (no half-cell offset).
    """
    height, width = input_size
    levels = []
    for stride in strides:
        rows, cols = -(-height // stride), -(-width // stride)
        grid_y, grid_x = np.mgrid[0:rows, 0:cols]
        levels.append(np.stack([grid_x.ravel() * stride, grid_y.ravel() * stride, np.full(rows * cols, stride)], 1))
    return np.concatenate(levels).astype(np.float32)


def decode_nanodet(raw: np.ndarray, anchors: np.ndarray, num_classes: int, score_threshold: float) -> Decoded:
    """Boxes from a raw NanoDet-Plus output [N, classes + 4 x bins].

    Returns (x0, y0, x1, y1) in model-input pixels, scores (the sigmoid of the best class's logit) and
    class indices of the anchors whose score reaches the threshold. Each side's distance is the
    expectation of its softmax over the bins, in strides.
    """
    logits = raw[:, :num_classes]
    # The sigmoid rises with the logit: compare logits with the threshold's own logit (no sigmoid for every anchor).
    threshold = min(max(score_threshold, 1e-6), 1.0 - 1e-6)
    limit = np.log(threshold / (1.0 - threshold))
    best = logits.max(axis=1)
    candidates = np.flatnonzero(best >= limit)
    classes = logits[candidates].argmax(axis=1)
    scores = 1.0 / (1.0 + np.exp(-best[candidates]))
    bins = raw[candidates, num_classes : num_classes + 4 * NANODET_BINS].reshape(-1, 4, NANODET_BINS)
    bins = np.exp(bins - bins.max(axis=2, keepdims=True))
    bins /= bins.sum(axis=2, keepdims=True)
    anchor = anchors[candidates]
    distance = (bins * np.arange(NANODET_BINS, dtype=np.float32)).sum(axis=2) * anchor[:, 2:3]
    boxes = np.concatenate([anchor[:, :2] - distance[:, :2], anchor[:, :2] + distance[:, 2:]], axis=1)
    return boxes.astype(np.float32), scores.astype(np.float32), classes.astype(np.int64)


__all__ = ["NANODET_BINS", "NANODET_STRIDES", "NanoDetDecoder", "decode_nanodet", "nanodet_anchors"]
