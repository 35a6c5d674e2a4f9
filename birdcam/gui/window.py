"""The main window: live view with the overlay, sources, models, the Detection and sightings docks.

It only adapts and paints: frames and results come from the pipeline (birdcam/gui/pipeline.py over
birdcam/live.py), models run in the inference process, sightings are written on their own thread.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QFileSystemWatcher, QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStyle,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from birdcam import __version__, paths
from birdcam.errors import BirdcamError
from birdcam.gui.controls import DetectionPanel, SpeciesListDialog
from birdcam.gui.menus import WindowActions
from birdcam.gui.model_choice import OPEN_MODEL, ModelChoice, Retrying
from birdcam.gui.overlay import OverlayContent, overlay_content, render_annotated
from birdcam.gui.pipeline import DisplayFrame, Pipeline
from birdcam.gui.screen import RegionDialog
from birdcam.gui.settings import WindowSettings, absolute_source
from birdcam.gui.sightings_dock import export_sightings, install_sightings
from birdcam.gui.sightings_log import SightingsLog
from birdcam.gui.teach import Teacher
from birdcam.gui.widgets import MessageBar, VideoView, app_icon
from birdcam.live.inference import ModelInfo
from birdcam.live.sources import list_cameras
from birdcam.models.species import SpeciesLists, read_species_lists, species_mask
from birdcam.models.store import newest_trained_model
from birdcam.sightings import State
from birdcam.util.fileio import write_text_atomically
from birdcam.util.notices import new_species_text

ORGANIZATION = "birdcam"
APPLICATION = "birdcam"
CLOSE_S = 1.0
"""Closing the window stops and joins every thread and process within this many seconds."""
NO_SOURCE_MESSAGE = "No camera found. Open a video, an image folder, a stream or a screen region from the Source menu."


class MainWindow(QMainWindow):
    """The birdcam window. `close()` stops and joins every thread and process it started."""

    def __init__(
        self,
        settings: QSettings,
        *,
        source: str | None = None,
        model: str | None = None,
        threshold: float | None = None,
        smoothing: bool | None = None,
        still_camera: bool | None = None,
        species: tuple[Path | None, Path | None] | None = None,
        detector: str | None = None,
    ):
        """`model` runs for this window only (the command line's --model); so do `threshold`, `smoothing`,
        `still_camera`, `species` (allow and deny list files) and `detector` (a path, or "none" for whole-frame
        mode)."""
        super().__init__()
        self.settings = WindowSettings(settings)
        self.setWindowTitle("birdcam")
        self.setWindowIcon(app_icon())
        live = self.settings.live
        if threshold is not None:
            live = dataclasses.replace(live, threshold=threshold)
        if smoothing is not None:
            live = dataclasses.replace(live, smoothing=smoothing)
        if still_camera is not None:
            live = dataclasses.replace(live, still_camera=still_camera)
        self.pipeline = Pipeline(settings=live, qt_screen=True)
        self.models = ModelChoice(self.settings, self.pipeline.load_model, model=model, detector=detector)
        self._display: DisplayFrame | None = None
        self._overlay_message = ""
        self._layout_before_fullscreen = QByteArray()
        self._top_k = self.settings.top_k
        self._known_trained = newest_trained_model()
        self._sightings = SightingsLog(self, muted=self.settings.muted)
        self._tray = QSystemTrayIcon(app_icon(), self)
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray.setToolTip("birdcam")
            self._tray.show()
        self._labels: tuple = ()

        self.view = VideoView()
        self.view.mirror = self.settings.mirror
        self.message_bar = MessageBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.actions = WindowActions(self)
        self.menus = self.actions.build_menus()
        self.toolbar = self.actions.build_toolbar()
        self._build_detection_dock()
        self._build_sightings_dock()
        self._build_status_bar()
        self._connect_actions()
        self._connect_pipeline()
        self._restore_geometry()
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.start(500)
        self._watch_models_folder()

        self._species_files: tuple[Path | None, Path | None] = (None, None)
        self._load_species(species or self.settings.species_lists, remember=species is None)
        self.models.start()
        self._show_models()
        self._start_first_source(source)

    # -- construction ----------------------------------------------------------------------

    def _build_detection_dock(self) -> None:
        panel = DetectionPanel(top_k=self._top_k)
        self.detection_panel = panel
        self.threshold_slider, self.top_k_spin = panel.threshold_slider, panel.top_k_spin
        self.smoothing_check, self.mirror_check = panel.smoothing_check, panel.mirror_check
        self.still_camera_check = panel.still_camera_check
        panel.show_threshold(self.pipeline.threshold)
        dock = QDockWidget("Detection", self)
        dock.setObjectName("detection dock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self._add_dock_toggle(dock, "&Detection")
        self.controls_dock = dock

    def _add_dock_toggle(self, dock: QDockWidget, text: str) -> None:
        """The View menu's item that shows and hides a dock, with its own underlined letter."""
        toggle = dock.toggleViewAction()
        toggle.setText(text)
        self.menus["view"].addAction(toggle)

    def _build_sightings_dock(self) -> None:
        dock = install_sightings(self, self._sightings, lambda: self._labels)
        self._add_dock_toggle(dock, "&Recent sightings")
        self.menus["sightings"].addAction(dock.summary_action)
        self.sightings_dock = dock
        self._sightings.status.connect(self._on_sightings_status)
        self._sightings.notice.connect(lambda message, error: self.statusBar().showMessage(message, 6000))
        self._sightings.new_species.connect(self._on_new_species)
        dock.visibilityChanged.connect(lambda _: self._show_sightings_state())
        dock.set_muted(self.settings.muted)
        dock.muted_changed.connect(lambda names: setattr(self.settings, "muted", tuple(names)))
        self.resizeDocks([self.controls_dock, dock], [170, 600], Qt.Orientation.Vertical)
        self.teacher = Teacher(self)
        dock.teaching = True
        dock.teach_requested.connect(self._teach)
        self.teacher.taught.connect(self._on_taught)
        self.teacher.failed.connect(lambda message: self.message_bar.show_message(message, "error", topic="teach"))

    def _build_status_bar(self) -> None:
        self.source_label = QLabel("No source")
        self.model_label = QLabel("No model")
        self.detector_label = QLabel("")
        self.speed_label = QLabel("")
        for label in (self.source_label, self.model_label, self.detector_label, self.speed_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)

    def _connect_actions(self) -> None:
        actions, panel = self.actions, self.detection_panel
        actions.open_video.triggered.connect(self._choose_video)
        actions.open_folder.triggered.connect(self._choose_folder)
        actions.open_stream.triggered.connect(self._choose_stream)
        actions.screen.triggered.connect(self._choose_region)
        actions.loop.setChecked(self.settings.loop)
        actions.loop.toggled.connect(self._set_loop)
        actions.camera_menu.aboutToShow.connect(self._fill_camera_menu)
        actions.open_model.triggered.connect(self._choose_model)
        actions.default_model.triggered.connect(self._use_default_model)
        actions.detection.setChecked(self.models.detection_wanted)
        actions.detection.toggled.connect(self.models.set_detection)
        actions.detection.toggled.connect(self._show_models)
        actions.open_detector.triggered.connect(self._choose_detector)
        actions.default_detector.triggered.connect(self._use_default_detector)
        actions.notify.setChecked(self.settings.notify)
        actions.notify.toggled.connect(lambda on: setattr(self.settings, "notify", on))
        actions.pause.toggled.connect(self._set_paused)
        actions.snapshot.triggered.connect(self.save_snapshot)
        actions.fullscreen.toggled.connect(self._set_fullscreen)
        actions.leave_fullscreen.triggered.connect(lambda: actions.fullscreen.setChecked(False))
        actions.export_sightings.triggered.connect(lambda: export_sightings(self, self._sightings))
        actions.quit.triggered.connect(self.close)
        actions.about.triggered.connect(self._about)
        for action, check, state, handler in (
            (actions.smoothing, panel.smoothing_check, self.pipeline.settings.smoothing, self._set_smoothing),
            (actions.mirror, panel.mirror_check, self.settings.mirror, self._set_mirror),
            (
                actions.still_camera,
                panel.still_camera_check,
                self.pipeline.settings.still_camera,
                self._set_still_camera,
            ),
        ):
            action.setChecked(state)
            check.setChecked(state)
            action.toggled.connect(handler)
            action.toggled.connect(check.setChecked)
            check.toggled.connect(action.setChecked)
        panel.threshold_moved.connect(self._threshold_moved)
        panel.threshold_reset.connect(self._threshold_default)
        panel.top_k_changed.connect(self._set_top_k)
        panel.species_requested.connect(self._choose_species)
        self.smoothing_action, self.mirror_action = actions.smoothing, actions.mirror
        self.still_camera_action = actions.still_camera
        self.pause_action, self.fullscreen_action = actions.pause, actions.fullscreen

    def _connect_pipeline(self) -> None:
        pipeline = self.pipeline
        pipeline.frame_shown.connect(self._on_frame_shown)
        pipeline.result_ready.connect(self._on_result)
        pipeline.model_ready.connect(self._on_model_ready)
        pipeline.model_failed.connect(self._on_model_failed)
        pipeline.model_progress.connect(self.model_label.setText)
        pipeline.source_status.connect(self._on_source_status)
        pipeline.inference_error.connect(lambda message: self.statusBar().showMessage(message, 5000))

    def _restore_geometry(self) -> None:
        geometry, state = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 720)
        if state is not None:
            self.restoreState(state)

    # -- sources -----------------------------------------------------------------------------

    def _start_first_source(self, source: str | None) -> None:
        spec = source or self.settings.source
        if not spec:
            cameras = list_cameras()
            if not cameras:
                self.view.show_placeholder(NO_SOURCE_MESSAGE)
                self.message_bar.show_message(NO_SOURCE_MESSAGE, "info", topic="source")
                return
            spec = f"camera:{cameras[0].index}"
        self.open_source(spec)

    def open_source(self, spec: str) -> bool:
        """Switches to another source; a failure is a message in the window."""
        spec = absolute_source(spec)
        for topic in ("source", "source back"):  # what was said about the last source; other messages stand
            self.message_bar.clear_topic(topic)
        self._overlay_message = ""
        self._display = None
        self.view.show_placeholder(f"Opening {spec}\u2026")
        self._sightings.set_source(spec)
        if not self.pipeline.start_source(spec, loop=self.settings.loop):
            return False
        self.settings.source = spec
        self.source_label.setText(spec)
        return True

    def _fill_camera_menu(self) -> None:
        menu = self.actions.camera_menu
        menu.clear()
        cameras = list_cameras()
        for camera in cameras:
            action = menu.addAction(f"{camera.name} (camera {camera.index})")
            action.triggered.connect(lambda _=False, index=camera.index: self.open_source(f"camera:{index}"))
        if not cameras:
            menu.addAction("No camera found").setEnabled(False)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a video", "", "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v);;All files (*)"
        )
        if path:
            self.open_source(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of photos")
        if path:
            self.open_source(path)

    def _choose_stream(self) -> None:
        url, ok = QInputDialog.getText(self, "Open a stream", "Stream URL (rtsp://, http://, https://):")
        if ok and url.strip():
            self.open_source(url.strip())

    def _choose_region(self) -> None:
        dialog = RegionDialog(self.settings.screen_region, self)
        if dialog.exec():
            region = dialog.region()
            self.settings.screen_region = region
            self.open_source("screen:{},{},{},{}".format(*region))

    def _set_loop(self, loop: bool) -> None:
        self.settings.loop = loop

    @Slot(str, str)
    def _on_source_status(self, kind: str, message: str) -> None:
        if kind == "started":
            self.source_label.setText(message)
            self.setWindowTitle(f"{message} \u2014 birdcam")
            return
        if kind == "notice":  # passed over (an image that cannot be read); the picture goes on
            self.message_bar.show_message(message[:1].upper() + message[1:], "warning", topic="source")
            return
        if kind == "recovered":
            self.message_bar.show_message(message, "info", topic="source back")
            self._overlay_message = ""
            QTimer.singleShot(3000, self.message_bar, lambda: self.message_bar.clear_topic("source back"))
            return
        if kind == "ended":
            message = f"{message}. Open another source, or turn on Source \u25b8 Loop to play it again."
        text = message[0].upper() + message[1:] if message else message
        self.message_bar.show_message(text, "warning" if kind in ("retrying", "ended") else "error", topic="source")
        self._overlay_message = {"retrying": "Reconnecting\u2026", "ended": "Ended"}.get(kind, "No picture")
        if self._display is None:
            self.view.show_placeholder(text)
        else:
            self._repaint_overlay()

    # -- models ------------------------------------------------------------------------------

    def open_model(self, model: str) -> None:
        """Loads a model in the background with the detector running now; the current one runs until it is ready.
        It is remembered (the window starts with it next time) once it runs."""
        self.models.open_model(model)
        self._show_models()

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model", str(paths.models_dir()), "TFLite models (*.tflite);;All files (*)"
        )
        if path:
            self.open_model(path)

    def _use_default_model(self) -> None:
        self.models.use_default_model()
        self._show_models()

    def _choose_detector(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a bird detector", str(paths.cache_dir()), "TFLite models (*.tflite);;All files (*)"
        )
        if path:
            self.models.open_detector(path)
            self._show_models()

    def _use_default_detector(self) -> None:
        self.models.use_default_detector()
        self._show_models()

    def _show_models(self) -> None:
        """The status bar and the Model menu say what runs (and what loads); the detection tick is what runs."""
        models = self.models
        info = models.info
        if info is None:
            self.model_label.setText("Loading model\u2026" if models.loading else "No model")
            self.model_label.setToolTip("")
        else:
            self.model_label.setText(info.stem + (" (loading another\u2026)" if models.loading else ""))
            self.model_label.setToolTip(info.model_path)
        detector = Path(info.detector_path).stem if info is not None and info.detector_path else None
        self.detector_label.setText(f"Detector: {detector or 'none'}" if info is not None else "")
        self.detector_label.setToolTip(info.detector_path or "" if info is not None else "")
        if info is not None and not models.loading:
            action = self.actions.detection
            action.blockSignals(True)  # shows what runs; not a request
            action.setChecked(models.detecting)
            action.blockSignals(False)
        self._repaint_overlay()

    @Slot(object, object)
    def _on_model_ready(self, info: ModelInfo, request) -> None:
        running = self.models.loaded(info, request)
        if running is None:
            return  # a request superseded since
        self._sightings.set_model(info.stem)
        self._labels = info.labels
        self.detection_panel.show_threshold(self.pipeline.threshold)
        self._check_species(info)
        if running.warning:
            self.message_bar.show_message(running.warning, "warning", topic="model")
        else:
            self.message_bar.clear_topic("model")
        self._show_models()

    @Slot(object, object)
    def _on_model_failed(self, error, request) -> None:
        outcome = self.models.failed(error, request)
        if outcome is None:
            return
        if isinstance(outcome, Retrying):
            self.message_bar.show_message(outcome.message, "warning", topic="model")
        else:
            self.message_bar.show_message(
                outcome.message,
                "error",
                topic="model",
                action=None if outcome.running else ("Open model\u2026", self._choose_model),
            )
        self._show_models()

    def _teach(self, visit, name) -> None:
        """A renamed visit teaches the running model its species in the background; the model runs on meanwhile."""
        info = self.models.info
        if info is None:
            message = f"No model runs to teach: open one with {OPEN_MODEL}."
            self.message_bar.show_message(message, "error", topic="teach")
            return
        db_path = self._sightings.recorder.path
        self.teacher.request(info.model_path, name.common_name, name.scientific_name, visit, db_path)
        self.message_bar.show_message(
            f"Teaching birdcam {name.display_name}\u2026 {info.stem} runs meanwhile.", "info", topic="teach"
        )

    def _on_taught(self, model: str, message: str) -> None:
        """The taught model is installed: it runs now (the default model when that is what ran, else this one)."""
        self._known_trained = newest_trained_model()
        self.message_bar.show_message(f"{message} {Path(model).stem} runs now.", "info", topic="teach")
        if self.models.follows_default_model:
            self.models.reload_default_model()
        else:
            self.models.open_model(model)
        self._show_models()

    def _watch_models_folder(self) -> None:
        """`birdcam train` installs models into models/: offer a new one (switch to it when on the default model)."""
        folder = paths.models_dir()
        self._models_watcher = QFileSystemWatcher(self)
        if folder.is_dir():
            self._models_watcher.addPath(str(folder))
        self._models_watcher.directoryChanged.connect(
            lambda _: QTimer.singleShot(500, self, self._check_new_trained_model)
        )

    def _check_new_trained_model(self) -> None:
        newest = newest_trained_model()
        if newest is None or newest == self._known_trained:
            return
        self._known_trained = newest
        if self.models.follows_default_model:
            self.message_bar.show_message(
                f"A newly trained model is in models/: {newest.stem} now runs.", "info", topic="trained"
            )
            self.models.reload_default_model()
            self._show_models()
            return
        self.message_bar.show_message(
            f"A newly trained model is in models/: {newest.stem}.",
            "info",
            topic="trained",
            action=("Use it", lambda: self.open_model(str(newest))),
        )

    # -- frames and results ------------------------------------------------------------------

    @Slot(object)
    def _on_frame_shown(self, display: DisplayFrame) -> None:
        self._display = display
        self.view.show_frame(display.frame.image, self._content())

    def _content(self) -> OverlayContent:
        message = "Paused" if self.pipeline.paused else self._overlay_message
        models = self.models
        # With a model running and no result for this shot yet (a first frame, a cut), it is looking at the picture.
        waiting = "Loading model\u2026" if models.loading else "No model" if models.info is None else "Looking\u2026"
        return overlay_content(
            self._display, top_k=self._top_k, waiting=waiting, message=message, threshold=self.pipeline.threshold
        )

    def _repaint_overlay(self) -> None:
        if self._display is not None:
            self.view.set_content(self._content())

    @Slot(object)
    def _on_result(self, result) -> None:
        """Shows a new result at once, over the current frame, rather than with the next frame (nothing, when a cut
        came between them)."""
        if self._display is None or self.pipeline.paused:
            return
        shown = self.pipeline.shown_with(self._display.frame.index, result)
        self._display = dataclasses.replace(self._display, result=shown, stats=self.pipeline.stats())
        self._repaint_overlay()
        self._sightings.update(result.scene, result.image)

    def _refresh_status(self) -> None:
        self.speed_label.setText(self.pipeline.stats().text())

    @property
    def shown_content(self) -> OverlayContent:
        """What the overlay shows now (for tests and the screenshot)."""
        return self._content()

    # -- controls ------------------------------------------------------------------------------

    def _threshold_moved(self, value: float) -> None:
        self._configure(threshold=value)

    def _threshold_default(self) -> None:
        self._configure(threshold=None)

    def _set_smoothing(self, enabled: bool) -> None:
        self._configure(smoothing=enabled)

    def _set_still_camera(self, still: bool) -> None:
        self._configure(still_camera=still)

    def _configure(self, **changes) -> None:
        live = dataclasses.replace(self.pipeline.settings, **changes)
        self.pipeline.configure(live)
        self.settings.live = live
        self.detection_panel.show_threshold(self.pipeline.threshold)
        self._repaint_overlay()

    def _choose_species(self) -> None:
        """The checklist of the running model's species; what is ticked is kept in list files in the data folder."""
        info = self.models.info
        if info is None:
            self.message_bar.show_message(
                "Species lists are picked among the model's species: wait until a model runs.", "info", topic="species"
            )
            return
        settings = self.pipeline.settings
        dialog = SpeciesListDialog(info.labels, settings.allow, settings.deny, parent=self)
        if dialog.exec():
            try:
                files = save_species_lists(dialog.lists(), paths.data_dir() / "species")
            except OSError as error:
                self.message_bar.show_message(f"Species lists not saved: {error.strerror or error}", topic="species")
                return
            self._load_species(files, remember=True)

    def _load_species(self, files: tuple[Path | None, Path | None], *, remember: bool) -> None:
        """Reads the allow / deny list files and runs with them. A file that cannot be read, or lists the running
        model knows nothing of, are a message: the lists in force stay, and are what is remembered."""
        try:
            lists = read_species_lists(*files)
            info = self.models.info
            if info is not None and (lists.allow is not None or lists.deny):
                species_mask(info.labels, info.background_index, lists.allow, lists.deny)
        except BirdcamError as error:
            self.message_bar.show_message(
                f"Species list not used: {error}. The lists in force stay.", "error", topic="species"
            )
            return
        self._species_files = files
        if remember:
            self.settings.species_lists = files
        counts = [
            None if path is None else (path, len(names or ())) for path, names in zip(files, (lists.allow, lists.deny))
        ]
        self.detection_panel.show_species(*counts)
        self._configure(allow=lists.allow, deny=lists.deny)

    def _check_species(self, info: ModelInfo) -> None:
        """Tells the user which listed names this model does not know; an allow list it knows nothing of is dropped."""
        settings = self.pipeline.settings
        if settings.allow is None and not settings.deny:
            return
        try:
            _, report = species_mask(info.labels, info.background_index, settings.allow, settings.deny)
        except BirdcamError as error:
            self.message_bar.show_message(f"Species list not used with {info.stem}: {error}", "error", topic="species")
            self._configure(allow=None, deny=())
            self.detection_panel.show_species(None, None)
            return
        if report.warning:
            self.message_bar.show_message(f"Species list: {report.warning}.", "warning", topic="species")
        else:
            self.message_bar.clear_topic("species")

    def _set_top_k(self, value: int) -> None:
        self._top_k = value
        self.settings.top_k = value
        self._repaint_overlay()

    def _set_mirror(self, mirror: bool) -> None:
        self.view.mirror = mirror
        self.settings.mirror = mirror
        self.view.update()

    def _set_paused(self, paused: bool) -> None:
        self.pipeline.set_paused(paused)
        self.actions.pause.setText("&Resume" if paused else "&Pause")
        self.actions.pause.setIcon(
            self.style().standardIcon(
                QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
            )
        )
        self._repaint_overlay()

    def _set_fullscreen(self, fullscreen: bool) -> None:
        """The picture alone on the whole screen; leaving it puts the bars and docks back as they were (their sizes
        too: shown again one by one, a dock took the room of the others and left an empty gap)."""
        if fullscreen:
            self._layout_before_fullscreen = self.saveState()
            for widget in (self.toolbar, self.menuBar(), self.statusBar(), self.controls_dock, self.sightings_dock):
                widget.hide()
            self.showFullScreen()
            return
        self.menuBar().show()
        self.statusBar().show()
        self.showNormal()
        self.restoreState(self._layout_before_fullscreen)

    def save_snapshot(self) -> Path | None:
        """Saves the shown frame with its overlay as a PNG in the data folder; returns its path."""
        if self._display is None:
            self.statusBar().showMessage("Nothing to save yet: no picture", 4000)
            return None
        image = render_annotated(self._display.frame.image, self._content(), mirror=self.settings.mirror)
        folder = paths.data_dir() / "snapshots"
        path = folder / f"birdcam-{time.strftime('%Y%m%d-%H%M%S')}-{self._display.frame.index}.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = image.save(str(path))
        except OSError:
            saved = False
        if not saved:
            self.message_bar.show_message(
                f"Could not save the snapshot to {path}; check the folder is writable.", topic="snapshot"
            )
            return None
        self.statusBar().showMessage(f"Snapshot saved to {path}", 5000)
        return path

    # -- sightings -----------------------------------------------------------------------------

    @Slot(object, str)
    def _on_sightings_status(self, state: State, message: str) -> None:
        """The database's state: the sightings dock says it; the message bar too while the dock is hidden."""
        if state in (State.DAMAGED, State.READ_ONLY, State.ERROR) and message and not self.sightings_dock.isVisible():
            self.message_bar.show_message(message, "warning", topic="sightings")
        else:
            self.message_bar.clear_topic("sightings")

    def _show_sightings_state(self) -> None:
        overview = self._sightings.overview
        self._on_sightings_status(overview.state, overview.message)

    @Slot(str, str)
    def _on_new_species(self, kind: str, name: str) -> None:
        """The status bar says it; the system tray too, unless notices are off (Sightings menu) or the species muted."""
        title, body = new_species_text(kind, name)
        self.statusBar().showMessage(body, 8000)
        if self.settings.notify and self._tray.isVisible():
            self._tray.showMessage(title, body, app_icon(), 8000)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About birdcam",
            f"<b>birdcam {__version__}</b><br>Names bird species live from a camera, a video or the "
            "screen.<br>Model: " + (str(self.pipeline.model_path) if self.pipeline.model_path else "none"),
        )

    # -- closing -------------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if self.isFullScreen():
            self.fullscreen_action.setChecked(False)  # the layout remembered is the one with bars and docks
        deadline = time.monotonic() + CLOSE_S
        self._status_timer.stop()
        self.settings.save_window_geometry(self.saveGeometry(), self.saveState())
        self.hide()  # gone for the user at once; the rest is bounded by CLOSE_S
        self._tray.hide()
        self.settings.sync()
        self._sightings.stop(CLOSE_S * 0.9)  # the writer finishes while the pipeline closes
        self.pipeline.close(timeout=CLOSE_S * 0.6)
        self.teacher.close(timeout=max(0.5, deadline - time.monotonic()))
        self._sightings.close(timeout=max(0.05, deadline - time.monotonic()))
        super().closeEvent(event)


def run_app(
    *,
    source: str | None = None,
    model: str | None = None,
    threshold: float | None = None,
    smoothing: bool | None = None,
    still_camera: bool | None = None,
    species: tuple[Path | None, Path | None] | None = None,
    detector: str | None = None,
) -> int:
    """Opens the window and runs until it closes; returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("birdcam")
    app.setWindowIcon(app_icon())
    window = MainWindow(
        QSettings(),
        source=source,
        model=model,
        threshold=threshold,
        smoothing=smoothing,
        still_camera=still_camera,
        species=species,
        detector=detector,
    )
    window.show()
    return app.exec()


def save_species_lists(lists: SpeciesLists, folder: Path) -> tuple[Path | None, Path | None]:
    """Writes the lists picked in the window as list files (one name a line, as `--allow` / `--deny` read them):
    (allow file, deny file), None for a list that is not in force."""
    written: list[Path | None] = []
    for name, names, what in (("only.txt", lists.allow, "name only"), ("never.txt", lists.deny, "never name")):
        if not names:
            written.append(None)
            continue
        path = folder / name
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomically(
            path, f"# birdcam: {what} these species (Species list\u2026 in the window)\n" + "\n".join(names) + "\n"
        )
        written.append(path)
    return written[0], written[1]
