"""Boxes: overlap, IoU, cover, rounding and NMS on boxes whose geometry is worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from birdcam.models.boxes import covered_fraction, iou, non_maximum_suppression, overlap_area, pixel_box


def test_overlap_area_is_the_shared_rectangle():
    assert overlap_area((0, 0, 10, 10), (5, 5, 10, 10)) == 25
    assert overlap_area((0, 0, 10, 10), (2.5, 0, 5, 4)) == 20
    assert overlap_area((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share nothing
    assert overlap_area((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # empty boxes overlap nothing, no division by zero


def test_covered_fraction_is_the_share_of_the_region():
    region = (100, 100, 200, 100)
    assert covered_fraction((100, 100, 100, 100), region) == pytest.approx(0.5)
    assert covered_fraction((0, 0, 1000, 1000), region) == pytest.approx(1.0)
    assert covered_fraction((150, 150, 10, 10), (0, 0, 0, 0)) == 0.0


def test_pixel_box_rounds_and_keeps_at_least_a_pixel():
    assert pixel_box((10.4, 20.6, 30.5, 0.2)) == (10, 21, 30, 1)
    assert all(isinstance(v, int) for v in pixel_box((1.0, 2.0, 3.0, 4.0)))


def test_nms_keeps_the_best_of_overlapping_boxes_best_first():
    boxes = [(0, 0, 100, 100), (5, 5, 100, 100), (300, 300, 50, 50), (0, 0, 100, 100)]
    scores = [0.6, 0.9, 0.7, 0.3]
    # Boxes 0, 1 and 3 are one object (IoU 0.82 and 1.0); box 2 stands alone.
    assert non_maximum_suppression(boxes, scores, 0.45) == [1, 2]
    # At a threshold above their IoU they all stay, still best first.
    assert non_maximum_suppression(boxes, scores, 0.99) == [1, 2, 0]


def test_nms_groups_suppress_only_their_own():
    boxes = np.array([(0, 0, 100, 100), (5, 5, 100, 100)], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    assert non_maximum_suppression(boxes, scores, 0.45, groups=[0, 0]) == [0]
    assert non_maximum_suppression(boxes, scores, 0.45, groups=[0, 1]) == [0, 1]  # a cat over a bird keeps its box
    assert non_maximum_suppression(np.zeros((0, 4)), [], 0.45) == []
