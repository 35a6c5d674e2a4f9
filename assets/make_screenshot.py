"""Makes assets/screenshot.png: the real window on a bird video built from shared/ photos.

Run under a display, e.g. `xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python assets/make_screenshot.py`.
The video (a few close-ups, the Mandarin Duck with a slow zoom, then two small birds drifting over a
real photo of a room, as the scene benchmark builds them) and the window's settings and sightings live in a
temporary folder; only the PNG is written into assets/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
STARTER = SHARED / "models" / "aiy_birds_v1" / "lite-model_aiy_vision_classifier_birds_V1_3.tflite"
DETECTOR = SHARED / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
SIZE = (1280, 720)
FPS = 30
SHOTS = (  # (photo, seconds): earlier visitors fill the sightings dock
    ("birds525-sample/valid/BELTED KINGFISHER/2.jpg", 1.7),
    ("birds525-sample/valid/CEDAR WAXWING/3.jpg", 1.7),
    ("birds525-sample/valid/PEACOCK/2.jpg", 1.7),
    ("images/birds/mandarin_duck.jpg", 3.0),
)
SCENE_SECONDS = 6.0  # the two small birds, on screen at the end
SCENE_BIRDS = ("EASTERN BLUEBIRD/1.jpg", "BROWN THRASHER/1.jpg")


def frame_of(photo: np.ndarray, fill: np.ndarray, progress: float) -> np.ndarray:
    """The photo fitted into a 16:9 frame over `fill`, zoomed in slowly as `progress` goes 0 -> 1."""
    width, height = SIZE
    scale = min(width / photo.shape[1], height / photo.shape[0]) * (1.0 + 0.08 * progress)
    fitted = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    y0, x0 = (fitted.shape[0] - height) // 2, (fitted.shape[1] - width) // 2
    frame = fill.copy()
    src = fitted[max(0, y0) : max(0, y0) + height, max(0, x0) : max(0, x0) + width]
    ty, tx = max(0, -y0), max(0, -x0)
    frame[ty : ty + src.shape[0], tx : tx + src.shape[1]] = src
    return frame


def write_video(path: Path) -> float:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for relative, seconds in SHOTS:
        photo = cv2.imread(str(SHARED / relative))
        fill = cv2.GaussianBlur(cv2.resize(photo, (SIZE[0] // 8, SIZE[1] // 8)), (0, 0), 4) // 2
        fill = cv2.resize(fill, SIZE, interpolation=cv2.INTER_LINEAR)
        count = int(seconds * FPS)
        for index in range(count):
            writer.write(frame_of(photo, fill, index / count))
    for frame in scene_frames():
        writer.write(frame)
    writer.release()
    return sum(seconds for _, seconds in SHOTS) + SCENE_SECONDS


def scene_frames():
    """Two birds about a fifth of the frame tall, drifting slowly over a real photo (tests/bird_scenes.py)."""
    import dataclasses

    sys.path.insert(0, str(REPO / "tests"))
    import bird_scenes

    from birdcam.models.labels import read_labels

    names = {label.scientific_name.lower() for label in read_labels(STARTER.parent / "labels.txt")}
    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(SHARED, names)}
    background = next(p for p in bird_scenes.background_photos(SHARED) if p.stem == "000000006213")
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        background,
        [photos[name] for name in SCENE_BIRDS],
        heights=(200, 200),
        positions=[(0.3, 0.55), (0.66, 0.5)],
        speed=0.3,
    )
    for _, frame, _ in dataclasses.replace(shot, frames=int(SCENE_SECONDS * FPS)).play():
        yield frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "screenshot.png")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="birdcam-screenshot-"))
    os.environ["BIRDCAM_DATA_DIR"] = str(work / "data")
    video = work / "garden.avi"
    duration = write_video(video)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from birdcam.gui.window import MainWindow, app_icon

    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("birdcam")
    app.setWindowIcon(app_icon())
    settings = QSettings(str(work / "birdcam.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, source=str(video), model=str(STARTER), detector=str(DETECTOR))
    window.resize(1480, 860)
    window.show()
    deadline = time.monotonic() + duration - 1.2  # the two birds have been on screen for a few seconds by then
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    content = window.shown_content
    window.grab().save(str(args.out))
    window.close()
    named = sorted(mark.name for mark in content.birds)
    print(f"saved {args.out} showing {named}")
    return 0 if len(content.birds) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
