"""Test media (videos, images) built from the shared photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_video(
    path: Path, images: list[np.ndarray], *, fps: float = 30.0, size=(320, 240), codec: str = "MJPG"
) -> Path:
    """Writes the images (BGR) at `size`, one frame each: MJPG in an .avi, or e.g. "mp4v" in an .mp4."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {codec} here"
    for image in images:
        writer.write(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return image
