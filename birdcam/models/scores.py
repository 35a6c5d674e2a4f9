"""What a vector of class scores says: its best classes, and which of its classes are birds."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int, among: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k highest scores, best first; equal scores keep the lower index first.

    With `among` (class indices), only those classes are ranked and equal scores keep `among`'s order.
    """
    if among is not None:
        return among[np.argsort(-scores[among], kind="stable")[:k]]
    k = min(k, scores.size)
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


def bird_class_mask(num_classes: int, background_index: int | None) -> np.ndarray:
    """A bool vector over the classes: True for every class but the background (the non-bird class)."""
    mask = np.ones(num_classes, bool)
    if background_index is not None:
        mask[background_index] = False
    return mask


__all__ = ["bird_class_mask", "top_k"]
