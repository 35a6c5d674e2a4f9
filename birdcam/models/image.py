"""Image files to BGR arrays: any format OpenCV reads, huge JPEGs decoded reduced so memory stays bounded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import SourceError
from birdcam.util.native import stderr_silenced

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
MAX_DECODED_SIDE = 4096
"""A JPEG larger than this (longest side, pixels) is decoded at 1/2, 1/4 or 1/8 size: a 20000x20000 photo
takes 1.2 GB decoded in full, 19 MB at 1/8; the model sees a few hundred pixels of it anyway."""
_REDUCED_READS = (
    (1, cv2.IMREAD_COLOR),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (8, cv2.IMREAD_REDUCED_COLOR_8),
)


def read_image(path: Path | str) -> np.ndarray:
    """Decodes an image file to HxWx3 BGR; a JPEG over MAX_DECODED_SIDE is decoded reduced, so memory stays bounded.

    Reads through NumPy (non-ASCII paths work on Windows too) and keeps libjpeg's "Corrupt JPEG data"
    warnings off the console: an image either decodes or is a SourceError.
    """
    path = Path(path)
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not an image file")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror}") from None
    with stderr_silenced():
        image = cv2.imdecode(data, _decode_flag(jpeg_size(data))) if data.size else None
    if image is None or not image.size:
        raise SourceError(f"{path} is not an image OpenCV can decode")
    return as_bgr(image)


def jpeg_size(data: np.ndarray | bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, read without decoding; None when `data` is no JPEG."""
    view = memoryview(data)
    if len(view) < 4 or view[0] != 0xFF or view[1] != 0xD8:
        return None
    position = 2
    while position + 9 <= len(view):
        if view[position] != 0xFF:
            return None
        marker = view[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height = view[position + 5] << 8 | view[position + 6]
            width = view[position + 7] << 8 | view[position + 8]
            return width, height
        if marker in (0xD9, 0xDA):  # end of image, or the scan before any frame header
            return None
        position += 2 + (view[position + 2] << 8 | view[position + 3])
    return None


def _decode_flag(size: tuple[int, int] | None) -> int:
    """The least-reduced OpenCV read mode that brings a JPEG's longest side within MAX_DECODED_SIDE."""
    longest = max(size) if size else 0
    return next(
        (flag for factor, flag in _REDUCED_READS if longest <= factor * MAX_DECODED_SIDE), cv2.IMREAD_REDUCED_COLOR_8
    )


def as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
