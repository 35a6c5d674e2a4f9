"""The pipeline never queues frames: a GUI thread that falls behind gets the newest frame, once."""

from __future__ import annotations

import time


def test_a_blocked_gui_thread_gets_only_the_newest_frame_afterwards(qtbot, duck_video):
    from birdcam.gui.pipeline import Pipeline

    pipeline = Pipeline()
    shown = []
    pipeline.frame_shown.connect(lambda display: shown.append(display.frame.index))
    try:
        assert pipeline.start_source(str(duck_video))
        qtbot.waitUntil(lambda: len(shown) >= 2, timeout=3000)
        before = len(shown)
        time.sleep(0.5)  # the GUI thread is busy; ~7 frames arrive at 15 fps
        captured = pipeline.frames_captured
        qtbot.wait(20)  # now Qt delivers what was posted meanwhile
        delivered = shown[before:]
    finally:
        pipeline.close()

    assert captured - shown[before - 1] >= 5, "frames kept arriving while the GUI thread was blocked"
    assert len(delivered) <= 2, f"the display got a backlog of frames: {delivered}"
    assert delivered and delivered[0] >= captured - 2, "the first frame shown afterwards is the newest"
