""" "Teach birdcam this species": a renamed visit's pictures extend the running model in a child process; the window
switches to the new model without stalling; the newest request wins; a failure is one message."""

from __future__ import annotations

import time

import numpy as np
from media import read_image, write_video
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QMessageBox

from birdcam.sightings import SightingsDB, Visit

T0 = 1_800_000_000.0
NEW = ("ASIAN DOLLARD BIRD", "Asian Dollard Bird", "Eurystomus orientalis")
"""A species the starter model does not know: Kaggle folder, common and scientific name."""


def unknown_visits(db_path, shared_dir, photos=("1.jpg", "2.jpg"), renamed: int = 0) -> None:
    """Visits of an "Unknown bird" whose crops are photos of NEW; the first `renamed` of them renamed to NEW already."""
    with SightingsDB.open(db_path) as db:
        for n, photo in enumerate(photos):
            crop = shared_dir / "birds525-sample" / "valid" / NEW[0] / photo
            names = NEW[1:] if n < renamed else ("", "")
            db.upsert(Visit(None, T0 + 60 * n, T0 + 60 * n + 4, *names, 0.6, "video: feeder.avi", "aiy",
                            crop_path=str(crop), uid=f"unknown-{n}"))  # fmt: skip


def ticking(timer_ms: int = 10):
    """A QTimer on the GUI thread noting when each tick ran: a blocked GUI thread shows as a long gap."""
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(timer_ms)
    return timer, ticks


def test_teaching_a_renamed_unknown_bird_switches_the_window_to_the_new_model_without_stalling(
    qtbot, settings, shared_dir, starter_model, tmp_path, monkeypatch
):
    from birdcam.gui import sightings_dock
    from birdcam.gui.window import MainWindow
    from birdcam.sightings.db import default_path

    unknown_visits(default_path(), shared_dir)
    held_out = read_image(shared_dir / "birds525-sample" / "valid" / NEW[0] / "4.jpg")
    video = write_video(tmp_path / "roller.avi", [held_out] * 40, fps=10)
    window = MainWindow(settings, source=str(video), model=str(starter_model))
    qtbot.addWidget(window)
    window.show()
    try:
        dock = window.sightings_dock
        qtbot.waitUntil(lambda: window.models.info is not None and len(dock.visible_visits()) >= 2, timeout=10_000)
        assert window.shown_content.title != NEW[1]
        visit = next(v for v in dock.visible_visits() if v.uid == "unknown-0")

        def rename(dialog):
            assert dialog.teach.isVisibleTo(dialog) and dialog.teach.isChecked(), "offered, ticked for an unknown bird"
            dialog.combo.setEditText(f"{NEW[2]} ({NEW[1]})")
            return QDialog.DialogCode.Accepted

        monkeypatch.setattr(sightings_dock.RenameDialog, "exec", rename)
        monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
        timer, ticks = ticking()
        started = time.monotonic()
        dock.rename(visit)
        assert window.teacher.busy and "Teaching birdcam Asian Dollard Bird" in window.message_bar.text
        qtbot.waitUntil(lambda: window.models.info.model_path != str(starter_model), timeout=240_000)
        taught_after = time.monotonic() - started
        qtbot.waitUntil(lambda: window.shown_content.title == NEW[1], timeout=30_000)
        timer.stop()
    finally:
        window.close()
    assert "birdcam now knows Asian Dollard Bird (from 1 picture)" in window.message_bar.text  # the other: unnamed
    assert window.settings.model == window.models.info.model_path  # the taught model is the one chosen now
    gaps = np.diff(ticks)
    # Teaching took seconds (a child process reading the photos and writing a model); the GUI thread never waited.
    assert taught_after > 4 * max(gaps) and max(gaps) < 2.0, (taught_after, max(gaps))


def test_the_newest_request_wins_and_a_failure_is_one_message(qtbot, shared_dir, starter_model, tmp_path):
    from birdcam.gui.teach import Teacher
    from birdcam.sightings.db import default_path

    unknown_visits(default_path(), shared_dir, ("1.jpg", "2.jpg", "3.jpg"), renamed=1)  # one renamed earlier
    with SightingsDB.open(default_path(), read_only=True) as db:
        _, first, second = db.visits()
    teacher = Teacher()
    taught, failed = [], []
    teacher.taught.connect(lambda model, message: taught.append((model, message)))
    teacher.failed.connect(failed.append)
    try:
        teacher.request(starter_model, "Wrong Name", "", first, default_path())
        teacher.request(starter_model, NEW[1], NEW[2], second, default_path())  # supersedes the first
        qtbot.waitUntil(lambda: not teacher.busy, timeout=240_000)
        # The visit's crop and the earlier visit's of the species: two pictures.
        assert failed == [] and len(taught) == 1 and "Asian Dollard Bird (from 2 pictures)" in taught[0][1]
        qtbot.wait(200)
        assert len(taught) == 1, "the superseded request said nothing"

        invalid = shared_dir / "models" / "invalid" / "model_invoking_error.tflite"
        teacher.request(invalid, NEW[1], NEW[2], second, default_path())
        qtbot.waitUntil(lambda: not teacher.busy, timeout=120_000)
        assert len(failed) == 1 and failed[0].startswith("Could not teach birdcam Asian Dollard Bird: ")
        assert "no classifier layer" in failed[0] and "\n" not in failed[0] and "Traceback" not in failed[0]
    finally:
        teacher.close()
