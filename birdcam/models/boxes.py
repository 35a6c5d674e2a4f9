"""Boxes in frame pixels, and the one copy of what is measured between them: overlap, IoU, cover, NMS.

A box is (x, y, width, height) of the frame it was found in, for every stage: the detector's
detections, the tracker's tracks and predictions, a bird's look, the birds shown and recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]
"""(x, y, width, height) in frame pixels, as floats.

Float because boxes are measured and moved at sub-pixel precision: a detector's box is a scaled
model output, a track's prediction adds velocity x time, and a small bird's IoU changes by several
points for a pixel. Rounding at each stage would make a box drift and jitter. Whole pixels are for
the end of the line (slicing an image, drawing, the JSON records): `pixel_box` rounds once there.
"""
PixelBox = tuple[int, int, int, int]
"""A Box in whole pixels (a crop, a tile, a box shown): usable as array slices. Every PixelBox is a Box."""


def pixel_box(box: Box) -> PixelBox:
    """The box rounded to whole pixels, at least 1 x 1, for slicing, drawing and the records."""
    x, y = int(round(box[0])), int(round(box[1]))
    return x, y, max(1, int(round(box[2]))), max(1, int(round(box[3])))


def overlap_area(a: Box, b: Box) -> float:
    """The area two boxes share (0 when apart or only touching)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, in [0, 1]."""
    shared = overlap_area(a, b)
    union = a[2] * a[3] + b[2] * b[3] - shared
    return shared / union if union > 0 else 0.0


def covered_fraction(box: Box, region: Box) -> float:
    """How much of `region` the box covers, in [0, 1] (0 for an empty region)."""
    area = region[2] * region[3]
    return overlap_area(box, region) / area if area > 0 else 0.0


def non_maximum_suppression(
    boxes: Sequence[Box] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    iou_threshold: float,
    groups: Sequence[int] | np.ndarray | None = None,
) -> list[int]:
    """Indices of the boxes that non-maximum suppression keeps, best score first.

    A box whose IoU with a better-scoring one exceeds `iou_threshold` is dropped; with `groups`
    (one int per box) only boxes of the same group suppress each other. OpenCV's NMS does the work.
    """
    if len(scores) == 0:
        return []
    xywh = np.asarray(boxes, np.float64).reshape(-1, 4)
    values = np.asarray(scores, np.float32).reshape(-1)
    if groups is None:
        kept = cv2.dnn.NMSBoxes(xywh, values, 0.0, float(iou_threshold))  # type: ignore[arg-type]
    else:
        ids = np.asarray(groups, np.int32).reshape(-1)
        kept = cv2.dnn.NMSBoxesBatched(xywh, values, ids, 0.0, float(iou_threshold))  # type: ignore[arg-type]
    order = np.asarray(kept, np.int64).reshape(-1)
    return [int(i) for i in order[np.argsort(-values[order], kind="stable")]]


__all__ = ["Box", "PixelBox", "covered_fraction", "iou", "non_maximum_suppression", "overlap_area", "pixel_box"]
