"""The window draws a result only over frames of the shot it describes: a late result of the last shot is not
drawn over the picture after a cut, neither when the frame is shown nor when the result arrives."""

from __future__ import annotations

import functools

import bird_scenes
import fake_models
from media import write_video
from PySide6.QtCore import QSettings

SHOT = 45
"""Frames a shot (1.5 s at 30 fps)."""
SIZE = (320, 240)


def test_the_window_draws_no_late_result_of_the_last_shot_over_the_new_one(qtbot, shared_dir, tmp_path, monkeypatch):
    from birdcam.gui import window as window_module
    from birdcam.gui.pipeline import Pipeline

    # The fake scene pass takes 0.15 s a frame: results come 4-5 frames after their frame.
    monkeypatch.setattr(window_module, "Pipeline", functools.partial(Pipeline, factory=fake_models.fake_scene))
    video = write_video(tmp_path / "cuts.avi", bird_scenes.duck_street_duck(shared_dir, SIZE, SHOT), fps=30, size=SIZE)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = window_module.MainWindow(settings, source=str(video), model="fake:seconds=0.15", threshold=0.5)
    qtbot.addWidget(window)
    seen: list[tuple[int, int | None, str]] = []

    def look() -> None:
        display = window._display
        if display is not None:
            result = display.result.frame_index if display.result is not None else None
            seen.append((display.frame.index, result, window.shown_content.title))

    window.pipeline.frame_shown.connect(lambda _: look())
    window.pipeline.result_ready.connect(lambda _: look())
    window.show()
    try:
        # The video loops (frame numbers keep counting); watch one whole loop after the first result.
        qtbot.waitUntil(lambda: any(result is not None for _, result, _ in seen), timeout=60000)
        start = next(index for index, result, _ in seen if result is not None)
        qtbot.waitUntil(lambda: seen[-1][0] >= start + 3 * SHOT, timeout=30000)
    finally:
        window.close()

    def shot_of(index: int) -> int:
        return index % (3 * SHOT) // SHOT

    watched = [entry for entry in seen if entry[0] >= start]
    assert {shot_of(index) for index, _, _ in watched} == {0, 1, 2}
    for index, result, title in watched:
        if result is not None:  # of the same picture (the loop's end, duck to duck, is no cut)
            assert (shot_of(index) == 1) == (shot_of(result) == 1), (index, result, title)
        if shot_of(index) == 1:
            assert title != "Mandarin Duck", (index, result, title)
    for shot in (1, 2):
        frames = [entry for entry in watched if shot_of(entry[0]) == shot]
        # The last shot's results came late and were not drawn; then the new shot's own were.
        assert frames[0][1] is None and frames[-1][1] is not None, frames
        # Between the cut and the new shot's first result the model runs: the panel does not say it is waited for.
        assert {title for _, result, title in frames if result is None} == {"Looking\u2026"}, frames
