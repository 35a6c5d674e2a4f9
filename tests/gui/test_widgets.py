"""The video view: the frame fitted to the widget, mirrored on request, the picture a user sees."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from birdcam.gui.overlay import OverlayContent, qimage_to_bgr
from birdcam.gui.widgets import VideoView


@pytest.mark.parametrize("mirror", [False, True])
def test_the_view_shows_the_frame_fitted_and_mirrored(qtbot, shared_dir, mirror):
    duck = cv2.resize(cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")), (1280, 720))
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(640, 480)  # letterboxed: 640x360 in the middle
    view.mirror = mirror
    view.show_frame(duck, OverlayContent(title=""))
    shown = qimage_to_bgr(view.grab().toImage())
    picture = shown[60:420, :, :]
    expected = cv2.resize(duck, (640, 360), interpolation=cv2.INTER_AREA)
    if mirror:
        expected = cv2.flip(expected, 1)
    body = np.s_[40:320, 40:600]  # clear of the overlay's corners
    assert np.abs(picture[body].astype(int) - expected[body]).mean() < 6, "the frame, scaled, where the view draws it"
    assert shown[:50].max() < 40 and shown[430:].max() < 40, "dark bars above and below"
    other = cv2.flip(expected, 1) if not mirror else cv2.resize(duck, (640, 360), interpolation=cv2.INTER_AREA)
    assert np.abs(picture[body].astype(int) - other[body]).mean() > 20, "and not the other way round"
