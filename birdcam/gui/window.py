"""The main window: live view with the overlay, source and model pickers, detection controls, sightings dock."""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from birdcam import __version__, paths
from birdcam.errors import BirdcamError
from birdcam.gui.overlay import OverlayContent, frame_to_qimage, paint_frame, paint_overlay, render_annotated
from birdcam.gui.pipeline import DisplayFrame, Pipeline
from birdcam.gui.screen import RegionDialog
from birdcam.gui.sightings_log import SightingsLog
from birdcam.smoothing import SmoothingOptions
from birdcam.sources import list_cameras

ORGANIZATION = "birdcam"
APPLICATION = "birdcam"
ICON_PATH = Path(__file__).resolve().parents[2] / "assets" / "birdcam.svg"
NO_SOURCE_MESSAGE = ("No camera found. Open a video, an image folder, a stream or a screen region "
                     "from the Source menu.")
_RECENT_SIGHTINGS = 30
MAX_TOP_K = 6
_MIN_LISTED_SCORE = 0.01  # runners-up below 1% say nothing


@dataclass(frozen=True)
class ViewOptions:
    """How frames and labels are shown (persisted with QSettings)."""

    top_k: int = 3
    """The overlay names the top-k labels: the shown one large, the next k - 1 in a list."""
    mirror: bool = False
    """Flip the picture left-right (a selfie camera)."""


def overlay_content(display: DisplayFrame | None, *, top_k: int, loading: bool, message: str) -> OverlayContent:
    """What the overlay shows for a displayed frame."""
    stats = display.stats.text() if display is not None else ""
    shown = display.shown if display is not None else None
    if shown is None:
        title = "Loading model\u2026" if loading else "Waiting for the model\u2026"
        return OverlayContent(title=title, stats=stats, message=message)
    labels = display.result.labels
    candidates = tuple(
        (labels[index].display_name, float(score)) for index, score in shown.top
        if index != shown.index and not labels[index].is_background and score >= _MIN_LISTED_SCORE
    )[: top_k - 1]
    if not shown.is_bird:
        return OverlayContent(title="No bird", top=candidates, stats=stats, message=message)
    label = shown.label
    subtitle = label.scientific_name if label.scientific_name != label.display_name else ""
    return OverlayContent(title=label.display_name, subtitle=subtitle, score=float(shown.score), is_bird=True,
                          top=candidates, stats=stats, message=message)


def smoothing_options(enabled: bool) -> SmoothingOptions:
    """The smoother's options: its default timing, enough top classes for any top-k (the background may be one)."""
    return SmoothingOptions(enabled=enabled, top_k=MAX_TOP_K + 1)


class VideoView(QWidget):
    """Paints the newest frame, fitted to the widget, with the overlay on top of the picture."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.mirror = False
        self._image = None
        self._content = OverlayContent(title="")
        self._placeholder = ""

    def show_frame(self, image_bgr, content: OverlayContent) -> None:
        self._image = image_bgr
        self._content = content
        self.update()

    def show_placeholder(self, text: str) -> None:
        """Clears the picture and shows a hint instead (no source yet)."""
        self._image = None
        self._placeholder = text
        self.update()

    def set_content(self, content: OverlayContent) -> None:
        self._content = content
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame is drawn: as large as fits, centred, aspect kept."""
        if self._image is None:
            return QRectF(self.rect())
        height, width = self._image.shape[:2]
        scale = min(self.width() / width, self.height() / height)
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        if self._image is None:
            self._paint_placeholder(painter)
            return
        painter.fillRect(self.rect(), QColor(12, 13, 16))
        target = self.image_rect()
        paint_frame(painter, target, frame_to_qimage(self._image), mirror=self.mirror)
        paint_overlay(painter, target, self._content)

    def _paint_placeholder(self, painter: QPainter) -> None:
        gradient = QLinearGradient(0, 0, 0, self.height())
        gradient.setColorAt(0, QColor(32, 36, 44))
        gradient.setColorAt(1, QColor(14, 15, 19))
        painter.fillRect(self.rect(), gradient)
        icon = app_icon().pixmap(QSize(96, 96))
        painter.drawPixmap(int((self.width() - 96) / 2), int(self.height() / 2 - 120), icon)
        painter.setPen(QColor(215, 220, 228))
        font = painter.font()
        font.setPixelSize(16)
        painter.setFont(font)
        text_rect = self.rect().adjusted(40, int(self.height() / 2 - 10), -40, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                         self._placeholder or "Opening\u2026")


class MessageBar(QFrame):
    """A dismissable line above the picture for errors and warnings (missing camera, bad model, video ended)."""

    STYLES = {
        "error": "background:#7a2a22; color:#fff;",
        "warning": "background:#7a5b12; color:#fff;",
        "info": "background:#24476b; color:#fff;",
    }

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("\u2715")
        close.setAutoRaise(True)
        close.setStyleSheet("color:#fff;")
        close.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def show_message(self, text: str, kind: str = "error") -> None:
        self.setStyleSheet(f"MessageBar {{{self.STYLES[kind]} border-radius:4px;}} QLabel {{{self.STYLES[kind]}}}")
        self._label.setText(text)
        self.show()

    @Slot()
    def clear(self) -> None:
        self._label.setText("")
        self.hide()


def app_icon() -> QIcon:
    return QIcon(str(ICON_PATH)) if ICON_PATH.is_file() else QIcon()


class MainWindow(QMainWindow):
    """The birdcam window. `close()` stops and joins every thread it started."""

    def __init__(self, settings: QSettings, *, source: str | None = None, model: str | None = None,
                 threshold: float | None = None, smoothing: bool | None = None):
        super().__init__()
        self.settings = settings
        self.setWindowTitle("birdcam")
        self.setWindowIcon(app_icon())
        saved_threshold = settings.value("threshold", -1.0, type=float)
        self.view_options = ViewOptions(top_k=settings.value("top_k", 3, type=int),
                                        mirror=settings.value("mirror", False, type=bool))
        smoothing_on = settings.value("smoothing", True, type=bool) if smoothing is None else smoothing
        self.pipeline = Pipeline(
            smoothing=smoothing_options(smoothing_on),
            threshold=threshold if threshold is not None else (saved_threshold if saved_threshold >= 0 else None),
            qt_screen=True,
        )
        self.loop_files = settings.value("loop", True, type=bool)
        self._display: DisplayFrame | None = None
        self._overlay_message = ""
        self._sightings = SightingsLog(self)

        self.view = VideoView()
        self.view.mirror = self.view_options.mirror
        self.message_bar = MessageBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_controls_dock()
        self._build_sightings_dock()
        self._build_status_bar()
        self._connect_pipeline()
        self._restore_geometry()
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.start(500)

        self.open_model(model or settings.value("model", "", type=str) or None)
        self._start_first_source(source)
        if self._sightings.error and not self.message_bar.text:
            self.message_bar.show_message(self._sightings.error, "warning")

    # -- construction ----------------------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, *, checkable=False, icon=None, tip="") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))  # window context: typing in a dialog never fires them
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.setCheckable(checkable)
        action.setStatusTip(tip)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        pixmap = QStyle.StandardPixmap
        self.open_video_action = self._action("Open &video\u2026", self._choose_video, QKeySequence.StandardKey.Open,
                                              icon=pixmap.SP_DialogOpenButton, tip="Play a video file")
        self.open_folder_action = self._action("Open image &folder\u2026", self._choose_folder,
                                               icon=pixmap.SP_DirOpenIcon, tip="Show the photos in a folder as a slideshow")
        self.open_stream_action = self._action("Open &stream URL\u2026", self._choose_stream,
                                               icon=pixmap.SP_DriveNetIcon, tip="An rtsp:// or http(s):// camera stream")
        self.screen_action = self._action("Capture screen &region\u2026", self._choose_region,
                                          icon=pixmap.SP_DesktopIcon,
                                          tip="Classify part of the screen, e.g. a bird video in the browser")
        self.loop_action = self._action("&Loop videos and folders", self._set_loop, checkable=True)
        self.loop_action.setChecked(self.loop_files)
        self.open_model_action = self._action("Open &model\u2026", self._choose_model, "Ctrl+M",
                                              icon=pixmap.SP_FileDialogDetailedView, tip="Run another .tflite model")
        self.pause_action = self._action("&Pause", self._set_paused, Qt.Key.Key_Space, checkable=True,
                                         icon=pixmap.SP_MediaPause, tip="Freeze the picture (Space)")
        self.snapshot_action = self._action("&Snapshot", self.save_snapshot, Qt.Key.Key_S,
                                            icon=pixmap.SP_DialogSaveButton,
                                            tip="Save the picture with its label (S)")
        self.fullscreen_action = self._action("&Full screen", self._set_fullscreen, Qt.Key.Key_F, checkable=True,
                                              icon=pixmap.SP_TitleBarMaxButton, tip="Full screen (F)")
        self.mirror_action = self._action("&Mirror", self._set_mirror, "M", checkable=True,
                                          tip="Flip the picture left-right (M)")
        self.mirror_action.setChecked(self.view_options.mirror)
        self.smoothing_action = self._action("S&mooth the label", self._set_smoothing, checkable=True,
                                             tip="Average over a few hundred ms so the label does not flicker")
        self.smoothing_action.setChecked(self.pipeline.smoothing.enabled)
        self.export_action = self._action("&Export sightings\u2026", self._export_sightings,
                                          tip="Write every recorded visit to a CSV file")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.escape_action = self._action("Leave full screen", lambda: self.fullscreen_action.setChecked(False),
                                          Qt.Key.Key_Escape)

    def _build_menus_and_toolbar(self) -> None:
        self.camera_menu = QMenu("&Camera", self)
        self.camera_menu.aboutToShow.connect(self._fill_camera_menu)
        source_menu = self.menuBar().addMenu("&Source")
        source_menu.addMenu(self.camera_menu)
        for action in (self.open_video_action, self.open_folder_action, self.open_stream_action, self.screen_action):
            source_menu.addAction(action)
        source_menu.addSeparator()
        source_menu.addAction(self.loop_action)
        source_menu.addSeparator()
        source_menu.addAction(self.quit_action)
        model_menu = self.menuBar().addMenu("&Model")
        model_menu.addAction(self.open_model_action)
        model_menu.addAction(self.smoothing_action)
        view_menu = self.menuBar().addMenu("&View")
        for action in (self.pause_action, self.mirror_action, self.fullscreen_action, self.snapshot_action):
            view_menu.addAction(action)
        self.view_menu = view_menu
        sightings_menu = self.menuBar().addMenu("S&ightings")
        sightings_menu.addAction(self.export_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About birdcam", self._about))

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        camera_button = QToolButton()
        camera_button.setText("Camera")
        camera_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon))
        camera_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        camera_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        camera_button.setMenu(self.camera_menu)
        toolbar.addWidget(camera_button)
        for action in (self.open_video_action, self.open_folder_action, self.screen_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.open_model_action)
        toolbar.addSeparator()
        for action in (self.pause_action, self.snapshot_action, self.fullscreen_action):
            toolbar.addAction(action)
        self.toolbar = toolbar

    def _build_controls_dock(self) -> None:
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setValue(round(self.pipeline.threshold * 100))
        self.threshold_slider.valueChanged.connect(self._threshold_moved)
        self.threshold_label = QLabel()
        self.threshold_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.threshold_slider.setMinimumWidth(120)
        self.threshold_slider.setToolTip("Below this confidence (or on the background class) the overlay says \"No bird\"")
        default_button = QPushButton("Reset")
        default_button.setToolTip("Use the threshold the model was calibrated with")
        default_button.clicked.connect(self._threshold_default)
        threshold_title = QHBoxLayout()
        threshold_title.addWidget(QLabel("No-bird threshold"), 1)
        threshold_title.addWidget(self.threshold_label)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(default_button)
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(1, MAX_TOP_K)
        self.top_k_spin.setValue(self.view_options.top_k)
        self.top_k_spin.valueChanged.connect(self._set_top_k)
        top_k_row = QHBoxLayout()
        top_k_row.addWidget(QLabel("Labels named (top-k)"), 1)
        top_k_row.addWidget(self.top_k_spin)
        self.smoothing_check = QCheckBox("Smooth over time")
        self.smoothing_check.setChecked(self.pipeline.smoothing.enabled)
        self.smoothing_check.toggled.connect(self.smoothing_action.setChecked)
        self.smoothing_action.toggled.connect(self.smoothing_check.setChecked)
        self.mirror_check = QCheckBox("Mirror picture")
        self.mirror_check.setChecked(self.view_options.mirror)
        self.mirror_check.toggled.connect(self.mirror_action.setChecked)
        self.mirror_action.toggled.connect(self.mirror_check.setChecked)
        for widget in (self.threshold_slider, self.top_k_spin, self.smoothing_check, self.mirror_check, default_button):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        column = QVBoxLayout()
        column.addLayout(threshold_title)
        column.addLayout(threshold_row)
        column.addSpacing(6)
        column.addLayout(top_k_row)
        column.addWidget(self.smoothing_check)
        column.addWidget(self.mirror_check)
        column.addStretch(1)
        panel = QWidget()
        panel.setLayout(column)
        panel.setMinimumWidth(320)
        dock = QDockWidget("Detection", self)
        dock.setObjectName("detection dock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.view_menu.addSeparator()
        self.view_menu.addAction(dock.toggleViewAction())
        self.controls_dock = dock
        self._show_threshold()

    def _build_sightings_dock(self) -> None:
        self.sightings_list = QListWidget()
        self.sightings_list.setIconSize(QSize(96, 72))
        self.sightings_list.setSpacing(2)
        self.sightings_list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        dock = QDockWidget("Recent sightings", self)
        dock.setObjectName("sightings dock")
        dock.setWidget(self.sightings_list)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        self.sightings_dock = dock
        self._sightings.changed.connect(self._fill_sightings)
        self._fill_sightings()
        self.resizeDocks([self.controls_dock, dock], [170, 600], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        self.source_label = QLabel("No source")
        self.model_label = QLabel("No model")
        self.speed_label = QLabel("")
        for label in (self.source_label, self.model_label, self.speed_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)

    def _connect_pipeline(self) -> None:
        pipeline = self.pipeline
        pipeline.frame_shown.connect(self._on_frame_shown)
        pipeline.result_ready.connect(self._on_result)
        pipeline.model_ready.connect(self._on_model_ready)
        pipeline.model_failed.connect(self._on_model_failed)
        pipeline.model_progress.connect(self.model_label.setText)
        pipeline.source_status.connect(self._on_source_status)
        pipeline.worker_error.connect(lambda message: self.statusBar().showMessage(message, 5000))

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 720)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    # -- sources -----------------------------------------------------------------------------

    def _start_first_source(self, source: str | None) -> None:
        spec = source or self.settings.value("source", "", type=str)
        if not spec:
            cameras = list_cameras()
            if not cameras:
                self.view.show_placeholder(NO_SOURCE_MESSAGE)
                self.message_bar.show_message(NO_SOURCE_MESSAGE, "info")
                return
            spec = f"camera:{cameras[0].index}"
        self.open_source(spec)

    def open_source(self, spec: str) -> bool:
        """Switches to another source; a failure is a message in the window."""
        self.message_bar.clear()
        self._overlay_message = ""
        self._display = None
        self.view.show_placeholder(f"Opening {spec}\u2026")
        self._sightings.set_source(spec)
        if not self.pipeline.start_source(spec, loop=self.loop_files):
            return False
        self.settings.setValue("source", spec)
        self.source_label.setText(spec)
        return True

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        cameras = list_cameras()
        for camera in cameras:
            action = self.camera_menu.addAction(f"{camera.name} (camera {camera.index})")
            action.triggered.connect(lambda _=False, index=camera.index: self.open_source(f"camera:{index}"))
        if not cameras:
            none = self.camera_menu.addAction("No camera found")
            none.setEnabled(False)

    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", "",
                                              "Videos (*.mp4 *.avi *.mkv *.mov *.webm *.m4v);;All files (*)")
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
        saved = self.settings.value("screen_region", "", type=str)
        region = tuple(int(v) for v in saved.split(",")) if saved.count(",") == 3 else None
        dialog = RegionDialog(region, self)
        if dialog.exec():
            region = dialog.region()
            self.settings.setValue("screen_region", ",".join(str(v) for v in region))
            self.open_source("screen:{},{},{},{}".format(*region))

    def _set_loop(self, loop: bool) -> None:
        self.loop_files = loop
        self.settings.setValue("loop", loop)

    @Slot(str, str)
    def _on_source_status(self, kind: str, message: str) -> None:
        if kind == "started":
            self.source_label.setText(message)
            self.setWindowTitle(f"{message} \u2014 birdcam")
            return
        if kind == "recovered":
            self.message_bar.show_message(message, "info")
            self._overlay_message = ""
            QTimer.singleShot(3000, self._clear_info)
            return
        if kind == "ended":
            message = f"{message}. Open another source, or turn on Source \u25b8 Loop to play it again."
        text = message[0].upper() + message[1:] if message else message
        self.message_bar.show_message(text, "warning" if kind in ("retrying", "ended") else "error")
        self._overlay_message = {"retrying": "Reconnecting\u2026", "ended": "Ended"}.get(kind, "No picture")
        if self._display is None:
            self.view.show_placeholder(text)
        else:
            self._repaint_overlay()

    def _clear_info(self) -> None:
        if self.message_bar.isVisible() and "is back" in self.message_bar.text:
            self.message_bar.clear()

    # -- models ------------------------------------------------------------------------------

    def open_model(self, model: str | None) -> None:
        """Loads a model in the background (None: the default one); the current one runs until it is ready."""
        self.model_label.setText("Loading model\u2026" if self.pipeline.model_path is None
                                 else f"{self.pipeline.model_path.stem} (loading another\u2026)")
        self.pipeline.load_model(model)

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", str(paths.models_dir()),
                                              "TFLite models (*.tflite);;All files (*)")
        if path:
            self.open_model(path)

    @Slot(str, str)
    def _on_model_ready(self, path: str, requested: str) -> None:
        name = Path(path).stem
        self.model_label.setText(name)
        self.model_label.setToolTip(path)
        self.statusBar().showMessage(f"Model {name} is running", 4000)
        self._sightings.set_model(name)
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(self.pipeline.threshold * 100))
        self.threshold_slider.blockSignals(False)
        self._show_threshold()
        if requested:
            self.settings.setValue("model", requested)

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        running = self.pipeline.model_path
        tail = f" {running.stem} keeps running." if running is not None else " Open another model (Model \u25b8 Open model)."
        self.message_bar.show_message(f"Could not load the model: {message}.{tail}".replace("..", "."), "error")
        self.model_label.setText(running.stem if running is not None else "No model")

    # -- frames and results ------------------------------------------------------------------

    @Slot(object)
    def _on_frame_shown(self, display: DisplayFrame) -> None:
        self._display = display
        self.view.show_frame(display.frame.image, self._content())

    def _content(self) -> OverlayContent:
        message = "Paused" if self.pipeline.paused else self._overlay_message
        return overlay_content(self._display, top_k=self.view_options.top_k, loading=self.pipeline.model_loading,
                               message=message)

    def _repaint_overlay(self) -> None:
        if self._display is not None:
            self.view.set_content(self._content())

    @Slot(object, object)
    def _on_result(self, result, shown) -> None:
        """Shows a new result at once, over the current frame, rather than with the next frame."""
        if self._display is None or self.pipeline.paused:
            return
        self._display = dataclasses.replace(self._display, shown=shown, result=result, stats=self.pipeline.stats())
        self._repaint_overlay()
        self._sightings.update(shown, self._display, self._content, self.view_options.mirror)

    def _refresh_status(self) -> None:
        self.speed_label.setText(self.pipeline.stats().text())

    @property
    def shown_content(self) -> OverlayContent:
        """What the overlay shows now (for tests and the screenshot)."""
        return self._content()

    # -- controls ------------------------------------------------------------------------------

    def _threshold_moved(self, value: int) -> None:
        self.pipeline.set_threshold(value / 100)
        self.settings.setValue("threshold", value / 100)
        self._show_threshold()
        self._repaint_overlay()

    def _threshold_default(self) -> None:
        self.pipeline.set_threshold(None)
        self.settings.setValue("threshold", -1.0)
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(self.pipeline.threshold * 100))
        self.threshold_slider.blockSignals(False)
        self._show_threshold()

    def _show_threshold(self) -> None:
        self.threshold_label.setText(f"{self.pipeline.threshold:.2f}")

    def _set_top_k(self, value: int) -> None:
        self.view_options = ViewOptions(top_k=value, mirror=self.view_options.mirror)
        self.settings.setValue("top_k", value)
        self._repaint_overlay()

    def _set_smoothing(self, enabled: bool) -> None:
        self.pipeline.set_smoothing(smoothing_options(enabled))
        self.settings.setValue("smoothing", enabled)

    def _set_mirror(self, mirror: bool) -> None:
        self.view_options = ViewOptions(top_k=self.view_options.top_k, mirror=mirror)
        self.view.mirror = mirror
        self.settings.setValue("mirror", mirror)
        self.view.update()

    def _set_paused(self, paused: bool) -> None:
        self.pipeline.set_paused(paused)
        self.pause_action.setText("&Resume" if paused else "&Pause")
        self.pause_action.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause))
        self._repaint_overlay()

    def _set_fullscreen(self, fullscreen: bool) -> None:
        for bar in (self.toolbar, self.menuBar(), self.statusBar()):
            bar.setVisible(not fullscreen)
        if fullscreen:
            self._docks_before_fullscreen = [d for d in (self.controls_dock, self.sightings_dock) if d.isVisible()]
            for dock in self._docks_before_fullscreen:
                dock.hide()
            self.showFullScreen()
        else:
            for dock in getattr(self, "_docks_before_fullscreen", []):
                dock.show()
            self.showNormal()

    def save_snapshot(self) -> Path | None:
        """Saves the shown frame with its overlay as a PNG in the data folder; returns its path."""
        if self._display is None:
            self.statusBar().showMessage("Nothing to save yet: no picture", 4000)
            return None
        image = render_annotated(self._display.frame.image, self._content(), mirror=self.view_options.mirror)
        folder = paths.data_dir() / "snapshots"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"birdcam-{stamp}-{self._display.frame.index}.png"
        if not image.save(str(path)):
            self.message_bar.show_message(f"Could not save the snapshot to {path}; check the folder is writable.")
            return None
        self.statusBar().showMessage(f"Snapshot saved to {path}", 5000)
        return path

    # -- sightings -----------------------------------------------------------------------------

    def _fill_sightings(self) -> None:
        self.sightings_list.clear()
        visits = self._sightings.recent(_RECENT_SIGHTINGS)
        if not visits:
            item = QListWidgetItem("No visits yet.\nA bird shown for a second or more is recorded here.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.sightings_list.addItem(item)
            return
        for visit in visits:
            start = time.strftime("%H:%M:%S", time.localtime(visit.start))
            seconds = max(0.0, visit.end - visit.start)
            item = QListWidgetItem(f"{visit.common_name or visit.scientific_name}\n"
                                   f"{start} \u00b7 {seconds:.0f} s \u00b7 {visit.best_score * 100:.0f}%")
            item.setToolTip(f"{visit.scientific_name}\n{visit.source}\nmodel: {visit.model}")
            if visit.snapshot_path and Path(visit.snapshot_path).is_file():
                pixmap = QPixmap(str(visit.snapshot_path))
                if not pixmap.isNull():
                    item.setIcon(QIcon(pixmap.scaled(QSize(96, 72), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation)))
            self.sightings_list.addItem(item)

    def _export_sightings(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export sightings", "sightings.csv", "CSV files (*.csv)")
        if path:
            try:
                count = self._sightings.export_csv(Path(path))
            except BirdcamError as error:
                self.message_bar.show_message(str(error))
                return
            self.statusBar().showMessage(f"Exported {count} visits to {path}", 5000)

    def _about(self) -> None:
        QMessageBox.about(self, "About birdcam",
                          f"<b>birdcam {__version__}</b><br>Names bird species live from a camera, a video or the "
                          "screen.<br>Model: " + (str(self.pipeline.model_path) if self.pipeline.model_path else "none"))

    # -- closing -------------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        self._status_timer.stop()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        self.pipeline.close(timeout=1.0)
        self._sightings.close()
        super().closeEvent(event)


def run_app(*, source: str | None = None, model: str | None = None, threshold: float | None = None,
            smoothing: bool | None = None) -> int:
    """Opens the window and runs until it closes; returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("birdcam")
    app.setWindowIcon(app_icon())
    window = MainWindow(QSettings(), source=source, model=model, threshold=threshold, smoothing=smoothing)
    window.show()
    return app.exec()
