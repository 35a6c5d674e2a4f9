"""The sightings dock over SightingsLog, off-screen: visits of a real video, corrections from the context menu, the
summary view, the export, and a database locked by another process that never blocks the GUI thread."""

from __future__ import annotations

import csv
import datetime
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QMessageBox
from sightings_material import T0, LockHolder, bird_video, damage, read_only, v1_database

from birdcam.models.classifier import Classifier
from birdcam.models.labels import read_labels
from birdcam.scene.scene_pass import Bird, ScenePass, SceneResult, SceneTimings
from birdcam.scene.smoothing import Shown
from birdcam.sightings import SightingsDB, Visit


@pytest.fixture
def make_dock(qtbot, tmp_path, starter_model):
    """A SightingsLog and its dock on a database in tmp_path; both closed at the end (no thread left)."""
    from birdcam.gui.sightings_dock import SightingsDock
    from birdcam.gui.sightings_log import SightingsLog

    made = []
    labels = read_labels(starter_model.parent / "labels.txt")

    def make(path: Path | None = None, **options):
        log = SightingsLog(
            db_path=path or tmp_path / "sightings.sqlite3", snapshot_dir=tmp_path / "snapshots", **options
        )
        dock = SightingsDock(log, lambda: labels)
        qtbot.addWidget(dock)
        dock.show()
        made.append(log)
        return log, dock

    yield make
    for log in made:
        log.close()


def scene(birds) -> SceneResult:
    return SceneResult(tuple(birds), Shown(None, None, 0.0, False, ()), np.zeros(1, np.float32), SceneTimings(0, 0, 0))


def feed_on_timer(qtbot, log, frames, *, interval_ms: int = 5) -> list[float]:
    """Feeds (birds, t, frame) items from a QTimer on the GUI thread; returns when each tick ran (monotonic)."""
    ticks, pending = [], list(frames)
    timer = QTimer()

    def tick():
        ticks.append(time.monotonic())
        if pending:
            birds, t, frame = pending.pop(0)
            log.update(scene(birds), frame, t)
        else:
            timer.stop()

    timer.timeout.connect(tick)
    timer.start(interval_ms)
    qtbot.waitUntil(lambda: not timer.isActive(), timeout=30_000)
    return ticks


def names(dock) -> list[str]:
    return [dock.list.item(i).text().splitlines()[0] for i in range(dock.list.count())]


def test_the_visits_of_a_video_appear_with_thumbnails(qtbot, make_dock, shared_dir, starter_model, tmp_path):
    video, _ = bird_video(
        shared_dir, tmp_path / "birds.avi", shots=(("CEDAR WAXWING", "1.jpg"), ("BELTED KINGFISHER", "1.jpg"))
    )
    log, dock = make_dock(source="video: birds.avi", model="aiy")
    assert names(dock) == ["No visits yet."]
    capture, frames = cv2.VideoCapture(str(video)), []
    morning = datetime.datetime.combine(datetime.date.today(), datetime.time(10, 0)).timestamp()
    with ScenePass(Classifier.from_path(starter_model)) as scene_pass:
        n = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append((scene_pass.process(frame, n / 10).birds, morning + n / 10, frame))
            n += 1
    capture.release()
    feed_on_timer(qtbot, log, frames)
    qtbot.waitUntil(lambda: names(dock) == ["Belted Kingfisher", "Cedar Waxwing"], timeout=5000)
    assert all(not dock.list.item(i).icon().isNull() for i in range(2)), "each visit has its snapshot's thumbnail"
    assert dock.today_label.text() == "Today: 2 visits \u00b7 2 species"
    assert dock.status_label.isHidden()


def test_two_birds_at_once_show_a_count_and_an_unknown_bird_its_wording(qtbot, make_dock, starter_model):
    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    log, dock = make_dock()
    frame = np.zeros((120, 200, 3), np.uint8)
    duck = labels["Mandarin Duck"]
    frames = [
        ((Bird(1, (10, 10, 40, 40), duck, 0, 0.9, ()), Bird(2, (90, 10, 40, 40), duck, 0, 0.8, ())), T0 + n / 10, frame)
        for n in range(15)
    ]
    frames += [((Bird(3, (10, 10, 40, 40), None, None, 0.6, ()),), T0 + 40 + n / 10, frame) for n in range(15)]
    feed_on_timer(qtbot, log, frames, interval_ms=1)
    log.recorder.flush()
    qtbot.waitUntil(lambda: names(dock) == ["Unknown bird", "Mandarin Duck  \u00d72"], timeout=5000)
    assert "species not in this model" in dock.list.item(0).toolTip()


def test_a_locked_database_never_blocks_the_gui_thread(qtbot, make_dock, starter_model, tmp_path):
    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    path = tmp_path / "sightings.sqlite3"
    SightingsDB.open(path).close()
    frame = np.zeros((240, 320, 3), np.uint8)
    birds = [(labels["Mandarin Duck"], T0), (labels["Green-winged Teal"], T0 + 60), (labels["Mandarin Duck"], T0 + 120)]
    frames = [
        ((Bird(k, (20, 20, 80, 80), label, 0, 0.8, ()),), start + n / 20, frame)
        for k, (label, start) in enumerate(birds)
        for n in range(30)
    ]
    with LockHolder(path) as holder:
        log, dock = make_dock(path)
        ticks = feed_on_timer(qtbot, log, frames, interval_ms=10)  # 90 frames, ~1 s of GUI time, all while locked
        qtbot.waitUntil(lambda: dock.status_label.isVisible() and "locked" in dock.status_label.text(), timeout=3000)
        qtbot.waitUntil(lambda: len(dock.visible_visits()) == 3, timeout=3000)
        assert [v.id for v in dock.visible_visits()] == [None, None, None]
        assert "waiting" in dock.list.item(0).text()
        holder.release()
        qtbot.waitUntil(
            lambda: all(v.id is not None for v in dock.visible_visits()) and dock.status_label.isHidden(), timeout=5000
        )
    # An insert on the GUI thread would stall the timer for SQLite's busy timeout (5 s) per visit.
    assert max(np.diff(ticks)) < 2.0
    assert names(dock) == ["Mandarin Duck", "Green-winged Teal", "Mandarin Duck"]


def test_a_read_only_database_shows_its_visits_and_says_read_only(qtbot, make_dock, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = v1_database(
        folder / "sightings.sqlite3",
        [(T0 + i * 100, T0 + i * 100 + 5, "Mandarin Duck", "Aix galericulata") for i in range(3)],
    )
    with read_only(folder):
        log, dock = make_dock(path)
        qtbot.waitUntil(lambda: dock.status_label.isVisible(), timeout=3000)
        text = dock.status_label.text()
        assert "read-only" in text and "damaged" not in text
        qtbot.waitUntil(lambda: names(dock) == ["Mandarin Duck"] * 3, timeout=3000)
        rename = next(a for a in dock.context_menu(dock.visible_visits()[0]).actions() if a.text().startswith("Rename"))
        assert not rename.isEnabled()
        log.close()


def test_a_damaged_database_says_so_and_recording_goes_on(qtbot, make_dock, starter_model, tmp_path):
    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    path = tmp_path / "sightings.sqlite3"
    with SightingsDB.open(path) as db:
        db.upsert(Visit(None, T0, T0 + 5, "Mandarin Duck", "Aix galericulata", 0.9, "", "", uid="a"))
    damaged = damage(path)
    log, dock = make_dock(path)
    frames = [
        ((Bird(1, (20, 20, 80, 80), labels["Green-winged Teal"], 0, 0.8, ()),), T0 + n / 10, None) for n in range(15)
    ]
    feed_on_timer(qtbot, log, frames, interval_ms=1)
    qtbot.waitUntil(lambda: names(dock) == ["Green-winged Teal"], timeout=3000)
    assert "is damaged" in dock.status_label.text() and dock.status_label.isVisible()
    assert path.read_bytes() == damaged


def test_rename_delete_and_open_snapshot_from_the_context_menu(qtbot, make_dock, starter_model, monkeypatch):
    from birdcam.gui import sightings_dock

    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    log, dock = make_dock()
    frame = np.full((240, 320, 3), 90, np.uint8)
    frames = [
        ((Bird(1, (20, 20, 80, 80), label, 0, 0.8, ()),), start + n / 10, frame)
        for label, start in ((labels["Mandarin Duck"], T0), (labels["Green-winged Teal"], T0 + 60))
        for n in range(15)
    ]
    feed_on_timer(qtbot, log, frames, interval_ms=1)
    log.recorder.flush()
    qtbot.waitUntil(lambda: names(dock) == ["Green-winged Teal", "Mandarin Duck"], timeout=3000)
    teal, duck = dock.visible_visits()

    def pick(text):
        def exec_(dialog):
            dialog.combo.setEditText(text)
            return QDialog.DialogCode.Accepted

        return exec_

    monkeypatch.setattr(sightings_dock.RenameDialog, "exec", pick("Wood Duck \u2014 Aix sponsa"))
    menu = dock.context_menu(duck)
    next(a for a in menu.actions() if a.text() == "Rename species\u2026").trigger()
    qtbot.waitUntil(lambda: names(dock) == ["Green-winged Teal", "Wood Duck"], timeout=3000)
    renamed = dock.visible_visits()[1]
    assert (renamed.scientific_name, renamed.original_display_name) == ("Aix sponsa", "Mandarin Duck")
    assert "Visit" in dock.status_label.text() and "renamed to Wood Duck" in dock.status_label.text()

    asked = []

    def answer(reply):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(sightings_dock.RenameDialog, "exec", pick("Little Brown Job"))  # not one of the model's
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    next(a for a in dock.context_menu(teal).actions() if a.text() == "Rename species\u2026").trigger()
    assert asked and "'Little Brown Job' is not a species the model knows" in asked[-1]
    qtbot.wait(300)
    assert names(dock)[0] == "Green-winged Teal", "not confirmed: nothing changes"
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    next(a for a in dock.context_menu(teal).actions() if a.text() == "Rename species\u2026").trigger()
    qtbot.waitUntil(lambda: names(dock)[0] == "Little Brown Job", timeout=3000)
    assert dock.visible_visits()[0].scientific_name == ""

    little = dock.visible_visits()[0]  # typed as a person says it: both names of the model's species are stored
    monkeypatch.setattr(sightings_dock.RenameDialog, "exec", pick("great gray owl"))
    next(a for a in dock.context_menu(little).actions() if a.text() == "Rename species\u2026").trigger()
    qtbot.waitUntil(lambda: names(dock)[0] == "Great Gray Owl", timeout=3000)
    assert dock.visible_visits()[0].scientific_name == "Strix nebulosa" and len(asked) == 2

    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes)
    next(a for a in dock.context_menu(renamed).actions() if a.text() == "Delete visit").trigger()
    qtbot.waitUntil(lambda: names(dock) == ["Great Gray Owl"], timeout=3000)

    opened = []
    monkeypatch.setattr(sightings_dock.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    next(a for a in dock.context_menu(dock.visible_visits()[0]).actions() if a.text() == "Open snapshot").trigger()
    assert opened == [dock.visible_visits()[0].snapshot_path] and Path(opened[0]).is_file()


def test_mute_a_species_from_the_menu(qtbot, make_dock, starter_model):
    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    log, dock = make_dock()
    heard = []
    log.new_species.connect(lambda kind, name: heard.append((kind, name)))
    duck, teal = labels["Mandarin Duck"], labels["Green-winged Teal"]
    frames = [((Bird(1, (20, 20, 80, 80), duck, 0, 0.8, ()),), time.time() + n / 10, None) for n in range(15)]
    feed_on_timer(qtbot, log, frames, interval_ms=1)
    qtbot.waitUntil(lambda: heard == [("ever", "Mandarin Duck")], timeout=3000)
    changed = []
    dock.muted_changed.connect(changed.append)
    teal_visit = dock.visible_visits()[0].replace(common_name="Green-winged Teal", scientific_name="Anas crecca")
    next(a for a in dock.context_menu(teal_visit).actions() if a.text().startswith("No new-species")).trigger()
    assert changed == [["Green-winged Teal"]]
    frames = [((Bird(2, (20, 20, 80, 80), teal, 0, 0.8, ()),), time.time() + 100 + n / 10, None) for n in range(15)]
    feed_on_timer(qtbot, log, frames, interval_ms=1)
    log.recorder.flush()
    qtbot.wait(100)
    assert heard == [("ever", "Mandarin Duck")]


def test_the_summary_view_and_the_export(qtbot, make_dock, starter_model, tmp_path, monkeypatch):
    from birdcam.gui import sightings_dock

    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    log, dock = make_dock()
    morning = datetime.datetime.combine(datetime.date.today(), datetime.time(10, 0)).timestamp()
    frames = [
        ((Bird(1, (20, 20, 80, 80), label, 0, 0.8, ()),), start + n / 10, None)
        for label, start in (
            (labels["Mandarin Duck"], morning),
            (labels["Green-winged Teal"], morning + 100),
            (labels["Mandarin Duck"], morning + 200),
        )
        for n in range(15)
    ]
    feed_on_timer(qtbot, log, frames, interval_ms=1)
    log.recorder.flush()
    dock.summary_action.trigger()
    dialog = dock.summary_dialog
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=3000)
    assert dialog.chart.pixmap().width() > 300
    table = [[dialog.table.item(r, c).text() for c in range(5)] for r in range(dialog.table.rowCount())]
    assert [row[1:] for row in table] == [
        ["Mandarin Duck", "2", "1", "first ever"],
        ["Green-winged Teal", "1", "1", "first ever"],
    ]
    dialog.days.setValue(3)
    qtbot.waitUntil(lambda: len(dialog.summary.days) == 3, timeout=3000)
    dialog.close()

    out, offered = tmp_path / "ebird.csv", []

    def save_as(parent, title, start, filters):
        offered.append(Path(start))
        return str(target), list(sightings_dock.EXPORT_FILTERS)[1]

    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "ebird.csv"  # cannot be written: said as an error, not as a success
    monkeypatch.setattr(sightings_dock.QFileDialog, "getSaveFileName", save_as)
    dock.export_action.trigger()
    qtbot.waitUntil(lambda: "cannot write" in dock.status_label.text(), timeout=3000)
    assert "#7a1020" in dock.status_label.styleSheet(), "an export error was shown in the success colour"
    assert offered[0].name == "sightings.csv" and offered[0].parent != Path.cwd() and offered[0].is_absolute()
    assert Path.home() in (offered[0].parent, *offered[0].parent.parents), "the export dialog opened in the checkout"
    target = out
    dock.export_action.trigger()
    qtbot.waitUntil(lambda: out.exists() and "Exported 2 species-days" in dock.status_label.text(), timeout=3000)
    assert "#1d4d22" in dock.status_label.styleSheet()
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert sorted((row[0], row[3]) for row in rows) == [("Green-winged Teal", "1"), ("Mandarin Duck", "1")]
