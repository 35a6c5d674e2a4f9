"""A visit's pictures, drawn with OpenCV (no Qt), so the window and the headless logger write the same files.

- the snapshot: the bird cropped square beside the whole frame with every bird's box and name;
- the crop: the bird alone, nothing drawn, at the frame's resolution (training material).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import SightingsError
from birdcam.scene.scene_pass import Bird, Box
from birdcam.sightings.visit import UNKNOWN_DESCRIPTION, Visit
from birdcam.sightings.visits import BestMoment
from birdcam.util.fileio import write_atomically

SNAPSHOT_HEIGHT = 360
"""Pixel height of a snapshot (crop and frame side by side)."""
CROP_MARGIN = 0.25
"""Margin around a bird's box, as a fraction of its longer side, on each side."""
MAX_CROP_SIDE = 640
"""A clean crop larger than this is scaled down (more adds nothing for training at 224 px)."""
_FOCUS = (60, 220, 255)  # BGR amber: the visit's bird
_OTHER = (235, 235, 235)
_UNKNOWN = (230, 120, 230)  # a bird whose species the model does not know
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class SnapshotWriter:
    """Writes each visit's snapshot into a folder and its clean crop into the folder's crops/."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def write(self, visit: Visit, moment: BestMoment) -> tuple[str, str]:
        """Draws the visit's best moment; returns (snapshot path, crop path). OSError or SightingsError when it
        cannot; a snapshot written before the crop failed is removed again."""
        stem = file_stem(visit)
        snapshot, crop = self.folder / f"{stem}.jpg", self.folder / "crops" / f"{stem}.jpg"
        write_jpeg(snapshot, composite(moment.frame, moment.birds, moment.box, caption_for(visit)))
        try:
            write_jpeg(crop, bird_crop(moment.frame, moment.box))
        except (OSError, SightingsError):
            remove_pictures((str(snapshot),))
            raise
        return str(snapshot), str(crop)


def remove_pictures(paths: Iterable[str | None]) -> None:
    """Deletes a visit's pictures (a visit withdrawn or lost must leave none behind); missing ones are fine."""
    for path in paths:
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)


def square_region(box: Box, frame_shape: tuple[int, ...], margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): a square around the box with a margin, moved (and if need be shrunk) to fit the frame."""
    height, width = frame_shape[:2]
    x, y, w, h = box
    side = min(int(round(max(w, h) * (1 + 2 * margin))), width, height)
    side = max(side, 1)
    cx, cy = x + w / 2, y + h / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, x0 + side, y0 + side


def bird_crop(frame: np.ndarray, box: Box, *, max_side: int = MAX_CROP_SIDE) -> np.ndarray:
    """The bird alone: a square around its box with a margin, nothing drawn."""
    x0, y0, x1, y1 = square_region(box, frame.shape)
    crop = frame[y0:y1, x0:x1]
    if crop.shape[0] > max_side:
        crop = cv2.resize(crop, (max_side, max_side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def composite(
    frame: np.ndarray, birds: Sequence[Bird], focus: Box, caption: str, *, height: int = SNAPSHOT_HEIGHT
) -> np.ndarray:
    """The visit's bird cropped square (captioned) beside the whole frame with every bird's box and name."""
    x0, y0, x1, y1 = square_region(focus, frame.shape)
    crop = cv2.resize(frame[y0:y1, x0:x1], (height, height), interpolation=_shrinking(y1 - y0, height))
    _caption(crop, caption)
    frame_height, frame_width = frame.shape[:2]
    scale = height / frame_height
    width = max(1, int(round(frame_width * scale)))
    whole = cv2.resize(frame, (width, height), interpolation=_shrinking(frame_height, height))
    thickness = max(1, round(height / 180))
    for bird in sorted(birds, key=lambda b: tuple(b.box) == tuple(focus)):  # the visit's bird drawn last, on top
        is_focus = tuple(bird.box) == tuple(focus)
        color = _FOCUS if is_focus else _UNKNOWN if bird.label is None else _OTHER
        bx, by, bw, bh = (int(round(v * scale)) for v in bird.box)
        cv2.rectangle(whole, (bx, by), (bx + bw, by + bh), color, thickness * (2 if is_focus else 1), cv2.LINE_AA)
        name = bird.label.display_name if bird.label is not None else "Bird"
        _tag(whole, f"{name} {bird.score:.0%}", (bx, by), color)
    gap = np.full((height, 4, 3), 32, np.uint8)
    return np.hstack([crop, gap, whole])


def caption_for(visit: Visit) -> str:
    """The line under a snapshot's crop: name, and how many at once."""
    name = visit.display_name if visit.known else UNKNOWN_DESCRIPTION
    return name + (f"  x{visit.count}" if visit.count > 1 else "")


def file_stem(visit: Visit) -> str:
    """A visit's picture name: when it started, its species, and its uid (stable while it grows)."""
    stamp = datetime.datetime.fromtimestamp(visit.start).strftime("%Y%m%d-%H%M%S")
    species = re.sub(r"[^A-Za-z0-9]+", "-", _ascii(visit.display_name)).strip("-").lower() or "bird"
    return f"{stamp}-{species}-{visit.uid[:12]}"


def write_jpeg(path: Path, image: np.ndarray, quality: int = 90) -> None:
    """Writes via a temporary file and a rename, so a kill never leaves half a picture; OSError when it cannot."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SightingsError(f"cannot encode the picture {Path(path).name}")
    write_atomically(path, data.tobytes())


def _shrinking(source: int, target: int) -> int:
    return cv2.INTER_AREA if source > target else cv2.INTER_LINEAR


def _ascii(text: str) -> str:
    """OpenCV's fonts draw ASCII only: accents dropped, a dash for a long dash, x for the hybrid sign."""
    text = text.replace("\u2014", "-").replace("\u2013", "-").replace("\u00d7", "x")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _caption(image: np.ndarray, text: str) -> None:
    """White text on a dark band along the bottom, shrunk until it fits."""
    height, width = image.shape[:2]
    text = _ascii(text)
    scale, thickness = height / 600, max(1, round(height / 300))
    (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    if text_width > width - 16:
        scale *= (width - 16) / text_width
        (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    band = text_height + baseline + 14
    image[height - band :] = (image[height - band :] * 0.35).astype(np.uint8)
    cv2.putText(image, text, (8, height - baseline - 7), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _tag(image: np.ndarray, text: str, corner: tuple[int, int], color: tuple[int, int, int]) -> None:
    """A name label on a filled box above a bird's box (inside the picture)."""
    text = _ascii(text)
    scale = max(0.35, image.shape[0] / 900)
    (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    x = min(max(corner[0], 0), max(0, image.shape[1] - text_width - 6))
    y = corner[1] - text_height - baseline - 4
    if y < 0:
        y = corner[1] + 2
    cv2.rectangle(image, (x, y), (x + text_width + 6, y + text_height + baseline + 4), color, -1)
    cv2.putText(image, text, (x + 3, y + text_height + 2), _FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)
