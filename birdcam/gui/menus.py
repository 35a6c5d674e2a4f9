"""The window's actions, menus and toolbar. The window connects each action to what it does."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QStyle, QToolButton

_PIXMAP = QStyle.StandardPixmap


class WindowActions:
    """Every QAction of the main window, added to the window so their shortcuts work in it (window context:
    typing in a dialog never fires them)."""

    def __init__(self, window: QMainWindow):
        self._window = window
        action = self._action
        self.open_video = action(
            "Open &video\u2026", QKeySequence.StandardKey.Open, _PIXMAP.SP_DialogOpenButton, "Play a video file"
        )
        self.open_folder = action(
            "Open image &folder\u2026", None, _PIXMAP.SP_DirOpenIcon, "Show the photos in a folder as a slideshow"
        )
        self.open_stream = action(
            "Open &stream URL\u2026", None, _PIXMAP.SP_DriveNetIcon, "An rtsp:// or http(s):// camera stream"
        )
        self.screen = action(
            "Capture screen &region\u2026",
            None,
            _PIXMAP.SP_DesktopIcon,
            "Classify part of the screen, e.g. a bird video in the browser",
        )
        self.loop = action("&Loop videos and folders", checkable=True)
        self.open_model = action(
            "Open &model\u2026", "Ctrl+M", _PIXMAP.SP_FileDialogDetailedView, "Run another .tflite model"
        )
        self.default_model = action(
            "Use the &default model",
            None,
            None,
            "Forget the model opened here: run the newest trained model, else the starter model",
        )
        self.detection = action(
            "&Find every bird (detector)",
            "D",
            checkable=True,
            tip="Find, name and follow each bird with the bird detector; off: name the whole frame",
        )
        self.open_detector = action("Open de&tector\u2026", None, None, "Run another .tflite bird detector")
        self.default_detector = action(
            "Use the default d&etector",
            None,
            None,
            "Forget the detector opened here: run the starter detector (YOLOX-nano)",
        )
        self.notify = action(
            "&Notify new species",
            checkable=True,
            tip="A desktop message when a species is seen for the first time today or ever",
        )
        self.smoothing = action(
            "&Smooth the label", checkable=True, tip="Average over a few hundred ms so the label does not flicker"
        )
        self.still_camera = action(
            "Still c&amera",
            checkable=True,
            tip="The camera does not move (a feeder cam): also search where the picture moves, so that a bird that "
            "flies in is named sooner",
        )
        self.pause = action(
            "&Pause", Qt.Key.Key_Space, _PIXMAP.SP_MediaPause, "Freeze the picture (Space)", checkable=True
        )
        self.snapshot = action(
            "&Snapshot", Qt.Key.Key_S, _PIXMAP.SP_DialogSaveButton, "Save the picture with its labels (S)"
        )
        self.fullscreen = action(
            "&Full screen", Qt.Key.Key_F, _PIXMAP.SP_TitleBarMaxButton, "Full screen (F)", checkable=True
        )
        self.leave_fullscreen = action("Leave full screen", Qt.Key.Key_Escape)
        self.mirror = action("&Mirror", "M", checkable=True, tip="Flip the picture left-right (M)")
        self.export_sightings = action("&Export sightings\u2026", tip="Write every recorded visit to a CSV file")
        self.quit = action("&Quit", QKeySequence.StandardKey.Quit)
        self.about = action("&About birdcam")
        self.camera_menu = QMenu("&Camera", window)

    def _action(self, text: str, shortcut=None, icon=None, tip: str = "", *, checkable: bool = False) -> QAction:
        action = QAction(text, self._window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(self._window.style().standardIcon(icon))
        action.setCheckable(checkable)
        action.setStatusTip(tip)
        self._window.addAction(action)
        return action

    def build_menus(self) -> dict[str, QMenu]:
        """Source, Model, View, Sightings and Help menus; returns them by name for docks to add to."""
        bar = self._window.menuBar()
        menus = {
            name: bar.addMenu(title)
            for name, title in (
                ("source", "&Source"),
                ("model", "&Model"),
                ("view", "&View"),
                ("sightings", "S&ightings"),
                ("help", "&Help"),
            )
        }
        menus["source"].addMenu(self.camera_menu)
        for action in (
            self.open_video,
            self.open_folder,
            self.open_stream,
            self.screen,
            None,
            self.loop,
            None,
            self.quit,
        ):
            menus["source"].addSeparator() if action is None else menus["source"].addAction(action)
        for action in (
            self.open_model,
            self.default_model,
            None,
            self.detection,
            self.open_detector,
            self.default_detector,
            None,
            self.smoothing,
            self.still_camera,
        ):
            menus["model"].addSeparator() if action is None else menus["model"].addAction(action)
        for action in (self.pause, self.mirror, self.fullscreen, self.snapshot, None):
            menus["view"].addSeparator() if action is None else menus["view"].addAction(action)
        menus["sightings"].addAction(self.export_sightings)
        menus["sightings"].addAction(self.notify)
        menus["help"].addAction(self.about)
        return menus

    def build_toolbar(self):
        toolbar = self._window.addToolBar("Main")
        toolbar.setObjectName("main toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        camera_button = QToolButton()
        camera_button.setText("Camera")
        camera_button.setIcon(self._window.style().standardIcon(_PIXMAP.SP_ComputerIcon))
        camera_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        camera_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        camera_button.setMenu(self.camera_menu)
        toolbar.addWidget(camera_button)
        for action in (
            self.open_video,
            self.open_folder,
            self.screen,
            None,
            self.open_model,
            None,
            self.pause,
            self.snapshot,
            self.fullscreen,
        ):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        return toolbar
