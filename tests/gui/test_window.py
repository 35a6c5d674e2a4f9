"""The main window, off-screen, on videos built from the shared photos with the starter model."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from media import read_image, write_video
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from birdcam.live.inference import child_pids
from birdcam.live.sources import FrameSource

DUCK = "Mandarin Duck"


@pytest.fixture
def open_window(qtbot, settings):
    """Makes MainWindows on the test's QSettings and closes any still open at the end."""
    from birdcam.gui.window import MainWindow

    windows = []

    def make(**kwargs):
        window = MainWindow(settings, **kwargs)
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()  # shortcuts work in the active window only
        qtbot.waitUntil(window.isActiveWindow, timeout=2000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def wait_for_title(qtbot, window, title: str, timeout: int = 8000) -> None:
    qtbot.waitUntil(lambda: window.shown_content.title == title, timeout=timeout)


def test_window_names_the_bird_in_a_video(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)

    content = window.shown_content
    assert content.subtitle == "Aix galericulata" and content.is_bird and content.score > 0.5
    assert "fps" in content.stats and "ms" in content.stats
    assert window.model_label.text() == starter_model.stem
    assert window.message_bar.text == ""
    assert window.pipeline.frames_shown > 0 and window.pipeline.classified > 0


def test_close_stops_and_joins_every_thread_within_a_second(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)
    pipeline = window.pipeline
    start = time.monotonic()
    window.close()
    elapsed = time.monotonic() - start

    assert not pipeline.capture_running
    assert child_pids() == [], "the inference process ended with the window"
    assert elapsed < 1.0


def test_missing_camera_is_a_message_and_the_window_carries_on(qtbot, open_window, duck_video, starter_model):
    window = open_window(source="camera:7", model=str(starter_model))
    qtbot.waitUntil(lambda: "camera 7" in window.message_bar.text.lower(), timeout=5000)
    assert "not available" in window.message_bar.text

    window.open_source(str(duck_video))
    wait_for_title(qtbot, window, DUCK)
    assert window.message_bar.text == ""


def test_truncated_video_plays_what_it_has_then_says_it_ended(
    qtbot, open_window, settings, shared_dir, starter_model, tmp_path
):
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    frames = [
        cv2.putText(duck.copy(), str(i), (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3) for i in range(60)
    ]
    video = write_video(tmp_path / "cut.avi", frames, fps=30)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    settings.setValue("loop", False)

    window = open_window(source=str(video), model=str(starter_model))
    qtbot.waitUntil(lambda: "ended" in window.message_bar.text, timeout=6000)
    assert 0 < window.pipeline.frames_shown < 60
    assert "Loop" in window.message_bar.text


def test_unreadable_video_is_a_message(qtbot, open_window, starter_model, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    window = open_window(source=str(broken), model=str(starter_model))
    qtbot.waitUntil(lambda: "broken.mp4" in window.message_bar.text, timeout=5000)
    assert window.pipeline.frames_shown == 0


@pytest.mark.parametrize("bad_model", ["text", "invoke_error"])
def test_bad_model_during_a_switch_keeps_the_old_one(
    qtbot, open_window, duck_video, starter_model, shared_dir, tmp_path, bad_model
):
    if bad_model == "text":
        path = tmp_path / "broken.tflite"
        path.write_text("not a flatbuffer")
    else:
        path = shared_dir / "models" / "invalid" / "model_invoking_error.tflite"
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)

    window.open_model(str(path))
    qtbot.waitUntil(lambda: "Could not load the model" in window.message_bar.text, timeout=15000)
    assert path.name in window.message_bar.text
    assert starter_model.stem in window.message_bar.text and "keeps running" in window.message_bar.text
    results_before = window.pipeline.results
    qtbot.waitUntil(lambda: window.pipeline.results > results_before + 3, timeout=3000)
    assert window.pipeline.model_path == starter_model
    assert window.model_label.text() == starter_model.stem
    assert window.shown_content.title == DUCK
    assert window.settings.model is None, "a --model given on the command line is for that run only"


def test_settings_persist_between_runs(qtbot, open_window, settings, duck_video, starter_model):
    first = open_window(source=str(duck_video))
    first.open_model(str(starter_model))  # as Model > Open model does: remembered
    wait_for_title(qtbot, first, DUCK)
    first.threshold_slider.setValue(55)
    first.top_k_spin.setValue(2)
    first.mirror_action.setChecked(True)
    first.smoothing_action.setChecked(False)
    first.still_camera_check.setChecked(True)  # the dock's box: the menu's action follows
    assert first.still_camera_action.isChecked() and first.pipeline.settings.still_camera
    first.close()

    second = open_window()
    assert second.threshold_slider.value() == 55 and second.pipeline.threshold == pytest.approx(0.55)
    assert second.top_k_spin.value() == 2
    assert second.mirror_check.isChecked() and second.view.mirror
    assert not second.smoothing_check.isChecked() and not second.pipeline.settings.smoothing
    assert second.still_camera_action.isChecked() and second.pipeline.settings.still_camera
    assert second.source_label.text().endswith("duck.avi")
    qtbot.waitUntil(lambda: second.model_label.text() == starter_model.stem, timeout=5000)


def test_pause_freezes_the_picture_and_snapshot_saves_the_annotated_frame(
    qtbot, open_window, duck_video, starter_model
):
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)
    qtbot.keyClick(window.view, " ")
    assert window.pipeline.paused and window.shown_content.message == "Paused"
    shown = window.pipeline.frames_shown
    qtbot.wait(300)
    assert window.pipeline.frames_shown == shown

    qtbot.keyClick(window.view, "s")
    snapshots = list((window_data_dir() / "snapshots").glob("*.png"))
    assert len(snapshots) == 1
    saved = cv2.imread(str(snapshots[0]))
    raw = window._display.frame.image
    assert saved.shape == raw.shape
    height, width = raw.shape[:2]
    difference = np.abs(saved.astype(int) - raw.astype(int)).mean(axis=2)
    assert difference[int(height * 0.85) :, : width // 4].mean() > 20, "the label panel is painted bottom-left"
    assert difference[height // 3 : height // 2, width // 3 : width // 2].mean() < 3, "the picture itself is kept"

    qtbot.keyClick(window.view, " ")
    qtbot.waitUntil(lambda: window.pipeline.frames_shown > shown, timeout=3000)


def window_data_dir():
    from birdcam import paths

    return paths.data_dir()


def test_no_bird_is_shown_for_a_cat(qtbot, open_window, shared_dir, starter_model, tmp_path):
    cat = read_image(shared_dir / "images" / "not-birds" / "cat.jpg")
    video = write_video(tmp_path / "cat.avi", [cat] * 30, fps=15)
    window = open_window(source=str(video), model=str(starter_model))
    wait_for_title(qtbot, window, "No bird")
    assert not window.shown_content.is_bird and window.shown_content.score is None


def test_a_visit_appears_in_the_sightings_dock(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)

    listing = window.sightings_dock.list

    def listed() -> list[str]:
        return [listing.item(i).text() for i in range(listing.count())]

    qtbot.waitUntil(lambda: any(DUCK in text for text in listed()), timeout=6000)
    item = next(listing.item(i) for i in range(listing.count()) if DUCK in listing.item(i).text())
    assert not item.icon().isNull(), "the visit has a thumbnail of its best annotated frame"


def test_sightings_command_lists_and_exports_what_the_window_saw(
    qtbot, open_window, duck_video, starter_model, tmp_path, capsys
):
    from birdcam import cli

    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)
    qtbot.wait(1300)  # a visit needs a second of the same species
    window.close()

    assert cli.main(["sightings"]) == 0
    printed = capsys.readouterr().out
    assert "Mandarin Duck (Aix galericulata)" in printed and "duck.avi" in printed
    exported = tmp_path / "visits.csv"
    assert cli.main(["sightings", "--export", str(exported)]) == 0
    rows = exported.read_text().splitlines()
    assert len(rows) == 2 and "Mandarin Duck" in rows[1]


def test_without_a_camera_the_window_says_what_to_open(qtbot, open_window, starter_model):
    window = open_window(model=str(starter_model))  # no --source, no saved source, no camera on this machine
    assert "No camera found" in window.message_bar.text
    assert "video" in window.message_bar.text and "screen region" in window.message_bar.text
    assert not window.pipeline.capture_running


def test_screen_region_is_grabbed_on_the_gui_thread_and_switching_away_does_not_hang(
    qtbot, open_window, duck_video, starter_model
):
    window = open_window(source="screen:0,0,320,240", model=str(starter_model))
    qtbot.waitUntil(lambda: window.pipeline.frames_shown > 3, timeout=5000)
    assert window._display.frame.image.shape == (240, 320, 3)
    assert window.message_bar.text == ""

    screen_capture = window.pipeline._live.feed._capture
    window.open_source(str(duck_video))
    assert not screen_capture.is_alive(), "a capture thread waiting for the GUI thread's grab was joined"
    wait_for_title(qtbot, window, DUCK)


class DroppingCamera(FrameSource):
    """A live source that stops sending after 10 frames and comes back when reopened (a loose cable)."""

    is_live = True
    fps = 30.0
    description = "Camera 5 (flaky)"

    def __init__(self, image):
        self.image, self.opens, self.sent = image, 0, 0

    def open(self):
        self.opens += 1

    def read(self):
        from birdcam.errors import SourceError

        time.sleep(1 / self.fps)
        if self.opens == 1 and self.sent >= 10:
            raise SourceError("camera 5 stopped sending frames; check its cable")
        self.sent += 1
        return self.image

    def close(self):
        pass


def test_a_camera_that_drops_is_a_message_then_carries_on(qtbot, open_window, starter_model, shared_dir, monkeypatch):
    camera = DroppingCamera(read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    monkeypatch.setattr("birdcam.live.pipeline.open_source", lambda spec, **options: camera)
    window = open_window(source="camera:5", model=str(starter_model))

    qtbot.waitUntil(lambda: "retrying" in window.message_bar.text, timeout=5000)
    assert "stopped sending frames" in window.message_bar.text
    assert window.shown_content.message == "Reconnecting\u2026"
    shown_while_down = window.pipeline.frames_shown
    qtbot.waitUntil(lambda: "is back" in window.message_bar.text, timeout=5000)
    qtbot.waitUntil(lambda: window.pipeline.frames_shown > shown_while_down + 5, timeout=3000)
    assert camera.opens == 2
    assert window.shown_content.message == ""


def test_fullscreen_hides_the_chrome_and_restores_it(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    qtbot.keyClick(window.view, "f")
    assert window.windowState() & Qt.WindowState.WindowFullScreen
    assert not window.toolbar.isVisible() and not window.sightings_dock.isVisible()
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert not window.windowState() & Qt.WindowState.WindowFullScreen
    assert window.toolbar.isVisible() and window.sightings_dock.isVisible()


def test_region_is_typed_or_dragged(qtbot):
    from PySide6.QtCore import QPoint

    from birdcam.gui.screen import RegionDialog, RegionSelector

    dialog = RegionDialog((10, 20, 640, 360))
    qtbot.addWidget(dialog)
    assert dialog.region() == (10, 20, 640, 360)

    selector = RegionSelector()
    qtbot.addWidget(selector)
    selector.setGeometry(0, 0, 800, 600)
    selector.show()
    with qtbot.waitSignal(selector.chosen) as chosen:
        qtbot.mousePress(selector, Qt.MouseButton.LeftButton, pos=QPoint(100, 50))
        qtbot.mouseMove(selector, QPoint(420, 290))
        qtbot.mouseRelease(selector, Qt.MouseButton.LeftButton, pos=QPoint(420, 290))
    x, y, width, height = chosen.args[0]
    origin = selector.mapToGlobal(QPoint(0, 0))
    assert (x - origin.x(), y - origin.y()) == (100, 50)
    assert (width, height) == (321, 241)


def test_window_title_names_the_source(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    qtbot.waitUntil(lambda: "duck.avi" in window.windowTitle(), timeout=5000)
    assert window.windowTitle().endswith("birdcam")


def test_dragging_a_region_from_the_dialog_keeps_the_dialog_open(qtbot):
    """The dialog runs modally (exec); dragging must not end it, and the dragged region must come back to it."""
    from PySide6.QtCore import QPoint, QTimer
    from PySide6.QtWidgets import QApplication, QPushButton

    from birdcam.gui.screen import RegionDialog, RegionSelector

    dialog = RegionDialog((10, 20, 640, 360))
    qtbot.addWidget(dialog)
    seen = {}

    def drag() -> None:
        button = next(b for b in dialog.findChildren(QPushButton) if b.text().startswith("Drag"))
        button.click()
        QTimer.singleShot(400, drag_then_accept)

    def drag_then_accept() -> None:
        selector = next(w for w in QApplication.topLevelWidgets() if isinstance(w, RegionSelector) and w.isVisible())
        seen["dialog_visible_while_dragging"] = dialog.isVisible()
        qtbot.mousePress(selector, Qt.MouseButton.LeftButton, pos=QPoint(30, 40))
        qtbot.mouseMove(selector, QPoint(230, 190))
        qtbot.mouseRelease(selector, Qt.MouseButton.LeftButton, pos=QPoint(230, 190))
        origin = selector.mapToGlobal(QPoint(0, 0))
        seen["expected"] = (origin.x() + 30, origin.y() + 40, 201, 151)
        QTimer.singleShot(50, dialog.accept)

    QTimer.singleShot(100, drag)
    accepted = dialog.exec()
    assert seen["dialog_visible_while_dragging"], "hiding the dialog would end exec()"
    assert accepted and dialog.region() == seen["expected"]


def install_model(starter_model, name: str):
    """Puts a copy of the starter model (with its labels) into models/ as `birdcam train` does."""
    import shutil

    from birdcam import paths

    folder = paths.models_dir()
    shutil.copy(starter_model.parent / "labels.txt", folder / f"{name}.labels.txt")
    shutil.copy(starter_model, folder / f".{name}.tflite.partial")
    (folder / f".{name}.tflite.partial").rename(folder / f"{name}.tflite")  # renamed into place last, like install()
    return folder / f"{name}.tflite"


def test_a_newly_trained_model_runs_when_the_window_is_on_the_default_model(
    qtbot, open_window, duck_video, starter_model
):
    first = install_model(starter_model, "run-1")
    window = open_window(source=str(duck_video))
    qtbot.waitUntil(lambda: window.pipeline.model_path == first, timeout=8000)
    time.sleep(0.05)  # a later modification time
    second = install_model(starter_model, "run-2")
    qtbot.waitUntil(lambda: window.pipeline.model_path == second, timeout=8000)
    assert "run-2" in window.message_bar.text and window.settings.model is None


def test_a_newly_trained_model_is_offered_when_another_model_was_chosen(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)
    trained = install_model(starter_model, "my-garden")
    qtbot.waitUntil(lambda: "my-garden" in window.message_bar.text, timeout=5000)
    assert window.pipeline.model_path == starter_model, "a model the user chose is not replaced unasked"
    button = next(b for b in window.message_bar.findChildren(QPushButton) if b.text() == "Use it")
    button.click()
    qtbot.waitUntil(lambda: window.pipeline.model_path == trained, timeout=8000)
    assert window.settings.model == str(trained)


def test_a_species_list_picked_in_the_dock_masks_the_model_and_is_remembered(
    qtbot, open_window, duck_video, starter_model, tmp_path
):
    """The dock's Species list… is a searchable checklist of the model's species (it took only a file path)."""
    from PySide6.QtCore import Qt, QTimer

    from birdcam.gui.controls import SpeciesListDialog

    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)
    seen = {}

    def fill_in() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, SpeciesListDialog) and w.isVisible())
        dialog.search.setText("mandarin")
        rows = [r for r in range(dialog.table.rowCount()) if not dialog.table.isRowHidden(r)]
        seen["rows"] = [dialog.table.item(r, 0).text() for r in rows]
        dialog.table.item(rows[0], SpeciesListDialog.NEVER).setCheckState(Qt.CheckState.Checked)
        dialog.accept()

    QTimer.singleShot(200, fill_in)
    next(b for b in window.detection_panel.findChildren(QPushButton) if b.text().startswith("Species")).click()
    assert seen["rows"] == ["Mandarin Duck \u2014 Aix galericulata"], "the search finds the species by name"
    qtbot.waitUntil(lambda: window.shown_content.title != DUCK, timeout=5000)
    assert window.detection_panel.species_label.text() == "Species: never 1"
    assert window.pipeline.settings.deny == ("Aix galericulata",)
    window.close()

    again = open_window(source=str(duck_video), model=str(starter_model))
    assert again.pipeline.settings.deny == ("Aix galericulata",)
    qtbot.waitUntil(lambda: again.pipeline.results > 5, timeout=8000)
    assert again.shown_content.title != DUCK


def test_a_species_list_the_model_knows_nothing_of_leaves_the_lists_in_force(
    qtbot, open_window, settings, duck_video, starter_model, tmp_path
):
    """A rejected species list replaced the good one and was saved."""
    good, bad = tmp_path / "never.txt", tmp_path / "only.txt"
    good.write_text("Aix galericulata\n")
    bad.write_text("Dodo\nGreat Auk\n")
    window = open_window(source=str(duck_video), model=str(starter_model), species=(None, good))
    qtbot.waitUntil(lambda: window.models.info is not None, timeout=8000)
    window.settings.species_lists = (None, good)
    window._load_species((bad, None), remember=True)  # what the Species list… dialog did with a file
    assert "Species list not used" in window.message_bar.text and "The lists in force stay" in window.message_bar.text
    assert window.pipeline.settings.deny == ("Aix galericulata",) and window.pipeline.settings.allow is None
    assert window.settings.species_lists == (None, good)


def test_detection_can_be_turned_off_and_on(qtbot, open_window, duck_video, starter_model, shared_dir):
    yolox = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    window = open_window(source=str(duck_video), model=str(starter_model), detector=str(yolox))
    qtbot.waitUntil(lambda: window.pipeline.info is not None, timeout=8000)
    assert window.pipeline.info.detector_path == str(yolox)
    window.actions.detection.setChecked(False)
    qtbot.waitUntil(lambda: window.pipeline.info.detector_path is None, timeout=8000)
    assert window.settings.detection is False
    window.actions.detection.setChecked(True)
    qtbot.waitUntil(lambda: window.pipeline.info.detector_path == str(yolox), timeout=8000)


def test_a_species_seen_for_the_first_time_is_announced(qtbot, open_window, duck_video, starter_model):
    window = open_window(source=str(duck_video), model=str(starter_model))
    qtbot.waitUntil(lambda: "first visit ever" in window.statusBar().currentMessage(), timeout=8000)
    assert window.statusBar().currentMessage() == "Mandarin Duck: the first visit ever."


def test_an_image_the_folder_cannot_read_is_named(qtbot, open_window, shared_dir, starter_model, tmp_path):
    """Unreadable files in an image folder were skipped without a word."""
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_dir / "images" / "birds" / "mandarin_duck.jpg", folder / "1.jpg")
    (folder / "2.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off while copying")
    window = open_window(source=str(folder), model=str(starter_model))
    qtbot.waitUntil(lambda: "Skipped 2.jpg" in window.message_bar.text, timeout=15000)
    assert window.message_bar.kind == "warning"
    wait_for_title(qtbot, window, DUCK)  # the readable photo plays on


def test_a_damaged_database_is_said_once(qtbot, open_window, duck_video, starter_model, isolated_user_dirs):
    """The damaged-database message was shown twice: in the message bar and in the sightings dock."""
    from sightings_material import damage, v1_database

    database = isolated_user_dirs / "data" / "sightings.sqlite3"
    damage(v1_database(database, [(1.0e9, 1.0e9 + 5, "Mallard", "Anas platyrhynchos")]))
    window = open_window(source=str(duck_video), model=str(starter_model))
    dock = window.sightings_dock
    qtbot.waitUntil(lambda: "is damaged" in dock.status_label.text(), timeout=8000)
    wait_for_title(qtbot, window, DUCK)
    assert "damaged" not in window.message_bar.text, "said in the dock, and again above the picture"
    dock.toggleViewAction().trigger()  # the dock closed: the message bar says it
    qtbot.waitUntil(lambda: "is damaged" in window.message_bar.text, timeout=3000)
    dock.toggleViewAction().trigger()
    qtbot.waitUntil(lambda: window.message_bar.text == "", timeout=3000)


def test_the_region_dialog_is_wide_enough_for_its_title(qtbot):
    """The region dialog's title was cut in its title bar."""
    from PySide6.QtGui import QFont, QFontMetrics

    from birdcam.gui.screen import RegionDialog

    dialog = RegionDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    font = QFont(dialog.font())
    font.setBold(True)  # title bars draw it bold, with a close button and an icon beside it
    assert dialog.width() >= QFontMetrics(font).horizontalAdvance(dialog.windowTitle()) + 100


def test_a_banner_comes_down_once_what_it_said_is_resolved(qtbot, open_window, duck_video, starter_model, tmp_path):
    """Old error banners stayed up: a detector's error after another detector ran, a source's error after another
    source opened; a banner about something else stays."""
    window = open_window(source=str(duck_video), model=str(starter_model))
    wait_for_title(qtbot, window, DUCK)
    window.models.open_detector(str(starter_model))  # a classifier: rejected
    qtbot.waitUntil(lambda: "Could not load the detector" in window.message_bar.text, timeout=15000)
    window.models.use_default_detector()  # whole-frame mode here: it runs
    qtbot.waitUntil(lambda: window.message_bar.text == "", timeout=15000)

    window.open_source(str(tmp_path / "gone.avi"))
    qtbot.waitUntil(lambda: "gone.avi" in window.message_bar.text, timeout=5000)
    window.models.open_model(str(tmp_path / "missing.tflite"))  # a model error replaces the source's
    qtbot.waitUntil(lambda: "Could not load the model" in window.message_bar.text, timeout=15000)
    window.open_source(str(duck_video))  # a new source does not take down what was said about the model
    wait_for_title(qtbot, window, DUCK)
    assert "Could not load the model" in window.message_bar.text


def test_each_menu_letter_opens_one_item(open_window):
    """Alt and a menu's letter, then an item's letter, reach exactly that item: no two items of a menu (nor two
    menus of the bar) share their underlined letter (the Still camera once took Open detector's "t")."""
    import re

    from PySide6.QtWidgets import QMenu

    window = open_window()

    def letters(actions) -> list[str]:
        found = (re.search(r"&([^&])", action.text()) for action in actions if not action.isSeparator())
        return [match.group(1).lower() for match in found if match]

    bar = window.menuBar().actions()
    assert len(letters(bar)) == len(bar) and len(set(letters(bar))) == len(bar), [a.text() for a in bar]
    for title in bar:
        menu = title.menu()
        assert isinstance(menu, QMenu)
        items = [action for action in menu.actions() if not action.isSeparator()]
        used = letters(items)
        assert len(used) == len(items), f"{title.text()}: an item without a letter: {[a.text() for a in items]}"
        assert len(set(used)) == len(used), f"{title.text()}: letters shared: {[a.text() for a in items]}"
