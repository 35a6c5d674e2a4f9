"""Makes assets/screenshot.png: the real window on a bird video built from shared/ photos.

Run under a display, e.g. `xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python assets/make_screenshot.py`.
The video (a few birds, then the Mandarin Duck, with a slow zoom) and the window's settings and
sightings live in a temporary folder; only the PNG is written into assets/.
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
SIZE = (1280, 720)
FPS = 30
SHOTS = (  # (photo, seconds): earlier visitors fill the sightings dock, the duck is on screen at the end
    ("birds525-sample/valid/BELTED KINGFISHER/2.jpg", 1.7),
    ("birds525-sample/valid/CEDAR WAXWING/3.jpg", 1.7),
    ("birds525-sample/valid/EASTERN BLUEBIRD/5.jpg", 1.7),
    ("birds525-sample/valid/PEACOCK/2.jpg", 1.7),
    ("images/birds/mandarin_duck.jpg", 8.0),
)


def frame_of(photo: np.ndarray, fill: np.ndarray, progress: float) -> np.ndarray:
    """The photo fitted into a 16:9 frame over `fill`, zoomed in slowly as `progress` goes 0 -> 1."""
    width, height = SIZE
    scale = min(width / photo.shape[1], height / photo.shape[0]) * (1.0 + 0.08 * progress)
    fitted = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    y0, x0 = (fitted.shape[0] - height) // 2, (fitted.shape[1] - width) // 2
    frame = fill.copy()
    src = fitted[max(0, y0): max(0, y0) + height, max(0, x0): max(0, x0) + width]
    ty, tx = max(0, -y0), max(0, -x0)
    frame[ty: ty + src.shape[0], tx: tx + src.shape[1]] = src
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
    writer.release()
    return sum(seconds for _, seconds in SHOTS)


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
    window = MainWindow(settings, source=str(video), model=str(STARTER))
    window.resize(1480, 860)
    window.show()
    deadline = time.monotonic() + duration - 1.2  # the duck has been on screen for a few seconds by then
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    title = window.shown_content.title
    window.grab().save(str(args.out))
    window.close()
    print(f"saved {args.out} showing {title!r}")
    return 0 if title == "Mandarin Duck" else 1


if __name__ == "__main__":
    sys.exit(main())
