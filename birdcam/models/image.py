"""Images in and out of models: files to BGR arrays, and frames fitted to a model's input.

Image files: any format OpenCV reads, huge JPEGs decoded reduced so memory stays bounded. Fitting: a
frame (or a region of it) is centre-cropped, letterboxed or stretched to the model's input size,
shrunk by area averaging so small birds are not lost to aliasing.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import BirdcamError, SourceError
from birdcam.models.boxes import PixelBox
from birdcam.util.native import stderr_silenced

RESIZE_MODES = ("crop", "letterbox", "stretch")
"""How a frame is fitted to a model's input: centre crop, letterbox (black bars) or stretch."""
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
    return read_image_scaled(path)[0]


def read_image_scaled(path: Path | str) -> tuple[np.ndarray, tuple[float, float]]:
    """read_image, and the (x, y) factors from its pixels to the file's: (1, 1) unless a large JPEG was decoded
    reduced; a position found in the image times them is where it is in the photo."""
    path = Path(path)
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not an image file")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror}") from None
    size = jpeg_size(data)
    with stderr_silenced():
        image = cv2.imdecode(data, _decode_flag(size)) if data.size else None
    if image is None or not image.size:
        raise SourceError(f"{path} is not an image OpenCV can decode")
    height, width = image.shape[:2]
    scale = (size[0] / width, size[1] / height) if size is not None else (1.0, 1.0)
    return as_bgr(image), scale


def jpeg_size(data: np.ndarray | bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, read without decoding; None when `data` is no JPEG."""
    view = memoryview(data if isinstance(data, bytes) else np.ascontiguousarray(data, np.uint8).data)
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


# -- fitting frames to a model ----------------------------------------------------------------


def fit_to_size(image: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Fits an image to (height, width): center "crop", "letterbox" (black bars) or "stretch"."""
    target_h, target_w = size
    height, width = image.shape[:2]
    if mode == "crop":
        x, y, crop_w, crop_h = center_crop_region((height, width), size)
        return resize_image(image[y : y + crop_h, x : x + crop_w], (target_w, target_h))
    if mode == "stretch":
        return resize_image(image, (target_w, target_h))
    scale = min(target_w / width, target_h / height)
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = np.zeros((target_h, target_w, 3), np.uint8)
    x, y = (target_w - inner_w) // 2, (target_h - inner_h) // 2
    canvas[y : y + inner_h, x : x + inner_w] = resize_image(image, (inner_w, inner_h))
    return canvas


def fitted_region(shape: tuple[int, ...], size: tuple[int, int], mode: str) -> PixelBox:
    """(x, y, w, h) of the part of a frame of `shape` that `fit_to_size` shows the model: all of it unless "crop"."""
    if mode == "crop":
        return center_crop_region(shape, size)
    return 0, 0, int(shape[1]), int(shape[0])


def fit_top_left(image: np.ndarray, size: tuple[int, int], pad_value: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The image scaled to fit (height, width) `size` in the top-left corner, on `pad_value` grey (YOLOX's
    letterbox); and the (x, y) scale from image pixels to the fitted ones."""
    height, width = size
    fit = min(width / image.shape[1], height / image.shape[0])
    inner_w = min(width, max(1, round(image.shape[1] * fit)))
    inner_h = min(height, max(1, round(image.shape[0] * fit)))
    fitted = np.full((height, width, 3), pad_value, np.uint8)
    fitted[:inner_h, :inner_w] = resize_image(image, (inner_w, inner_h))
    return fitted, (inner_w / image.shape[1], inner_h / image.shape[0])


def center_crop_region(shape: tuple[int, ...], size: tuple[int, int]) -> PixelBox:
    """(x, y, w, h) of the largest centred region of a frame of `shape` with the aspect ratio of (height, width)
    `size`."""
    height, width = shape[:2]
    target_h, target_w = size
    scale = max(target_w / width, target_h / height)
    crop_w, crop_h = min(width, round(target_w / scale)), min(height, round(target_h / scale))
    return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h


def resize_image(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), linear when enlarging.

    OpenCV's area resize is fast for exact halvings and slow for fractional factors. So a large shrink
    takes 2x2 box averages while at least 4x the target is left, resizes linearly to twice the target
    and halves once more, which stays within a grey level or two of the exact area resize; small
    shrinks (< 1.5x) use the exact area resize, cheap at those sizes.
    """
    target_w, target_h = size_wh
    while image.shape[1] >= 4 * target_w and image.shape[0] >= 4 * target_h:
        image = _halve(image)
    height, width = image.shape[:2]
    if (width, height) == (target_w, target_h):
        return image
    if width <= target_w and height <= target_h:
        return cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR)
    if width < 1.5 * target_w and height < 1.5 * target_h:
        return cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA)
    return _halve(cv2.resize(image, (2 * target_w, 2 * target_h), interpolation=cv2.INTER_LINEAR))


def _halve(image: np.ndarray) -> np.ndarray:
    """2x2 box average (an odd last row or column is dropped)."""
    height, width = image.shape[0] & ~1, image.shape[1] & ~1
    return cv2.resize(image[:height, :width], (width // 2, height // 2), interpolation=cv2.INTER_AREA)


def as_three_channels(frame: np.ndarray, color: str) -> np.ndarray:
    """A uint8 HxWx3 view of a grey, 3- or 4-channel frame; BirdcamError for anything that is not an image."""
    if color not in ("bgr", "rgb"):
        raise BirdcamError(f"unknown colour order {color!r}; use 'bgr' or 'rgb'.")
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise BirdcamError("the frame is empty; give an image with pixels in it.")
    if frame.dtype != np.uint8:
        raise BirdcamError(f"frames must be uint8 pixels, not {frame.dtype}.")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return frame[:, :, :3]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise BirdcamError(f"a frame of shape {frame.shape} is not an image; give HxW, HxWx3 or HxWx4 pixels.")


def clip_roi(shape: tuple[int, ...], roi: PixelBox) -> PixelBox:
    """(x, y, w, h) of a region of interest clipped to a frame of `shape`; BirdcamError when none of it is inside."""
    x, y, w, h = (int(v) for v in roi)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(shape[1], x + w), min(shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        raise BirdcamError(f"the region of interest {x},{y} {w}x{h} lies outside the {shape[1]}x{shape[0]} frame.")
    return x0, y0, x1 - x0, y1 - y0


def crop_roi(image: np.ndarray, roi: PixelBox) -> np.ndarray:
    """The part of an image inside a region of interest (clipped to the image)."""
    x, y, w, h = clip_roi(image.shape, roi)
    return image[y : y + h, x : x + w]
