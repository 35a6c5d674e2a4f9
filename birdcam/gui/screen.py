"""Screen capture for the screen-region source: a Qt grabber, and a dialog to choose the region."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, QPoint, QRect, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QRubberBand,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from birdcam.errors import SourceError
from birdcam.gui.overlay import qimage_to_bgr
from birdcam.gui.widgets import ok_cancel_buttons
from birdcam.live.sources import Region

_GRAB_TIMEOUT_S = 1.0


def grab_screen(region: Region | None) -> np.ndarray:
    """The screen under `region` (virtual-desktop pixels; None: the primary screen) as BGR. GUI thread only."""
    primary = QGuiApplication.primaryScreen()
    if primary is None:
        raise SourceError("no screen to capture here; pick a camera or a video instead")
    if region is None:
        geometry = primary.geometry()
        region = (geometry.x(), geometry.y(), geometry.width(), geometry.height())
    x, y, width, height = region
    screen = QGuiApplication.screenAt(QPoint(x, y)) or primary
    origin = screen.geometry().topLeft()
    pixmap = screen.grabWindow(0, x - origin.x(), y - origin.y(), width, height)
    if pixmap.isNull():
        raise SourceError("the screen cannot be captured here (the platform refused); pick a camera or a video")
    return qimage_to_bgr(pixmap.toImage())


class QtScreenGrabber(QObject):
    """A `ScreenGrabber` for capture threads: Qt can only grab on the GUI thread, so each call asks it and waits.

    `interrupt()` makes waiting and later calls fail at once, so the GUI thread can join a capture
    thread that is waiting for it without a deadlock; `resume()` allows grabs again.
    """

    _requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._requested.connect(self._grab_requested)
        self._call_lock = threading.Lock()
        self._answered = threading.Event()
        self._interrupted = threading.Event()
        self._region: Region | None = None
        self._image: np.ndarray | None = None
        self._error: str | None = None

    def __call__(self, region: Region | None) -> np.ndarray:
        if QThread.currentThread() == self.thread():
            return grab_screen(region)
        with self._call_lock:
            if self._interrupted.is_set():
                raise SourceError("screen capture stopped")
            self._answered.clear()
            self._region, self._image, self._error = region, None, None
            self._requested.emit()
            if not self._answered.wait(_GRAB_TIMEOUT_S):
                raise SourceError("the window did not answer a screen grab in time")
            if self._interrupted.is_set():
                raise SourceError("screen capture stopped")
            if self._error is not None:
                raise SourceError(self._error)
            return self._image

    def interrupt(self) -> None:
        self._interrupted.set()
        self._answered.set()

    def resume(self) -> None:
        self._interrupted.clear()

    @Slot()
    def _grab_requested(self) -> None:
        if self._interrupted.is_set():
            return
        try:
            self._image = grab_screen(self._region)
        except SourceError as error:
            self._error = str(error)
        finally:
            self._answered.set()


_TITLE_BAR_EXTRA = 140
"""Pixels a title bar spends besides the title (its buttons, its icon): no dialog is narrower than its title."""


def title_width(window: QWidget) -> int:
    """The width a window needs for its whole title to show in a title bar (a bold title, buttons beside it)."""
    font = QFont(window.font())
    font.setBold(True)
    return QFontMetrics(font).horizontalAdvance(window.windowTitle()) + _TITLE_BAR_EXTRA


class RegionDialog(QDialog):
    """Asks for a screen region: type x, y, width, height, or drag a rectangle over the screen."""

    def __init__(self, region: Region | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Capture a screen region")
        x, y, width, height = region or (0, 0, 640, 480)
        self._fields = {}
        form = QFormLayout()
        for name, value, minimum in (
            ("x", x, -100000),
            ("y", y, -100000),
            ("width", width, 16),
            ("height", height, 16),
        ):
            field = QSpinBox()
            field.setRange(minimum, 100000)
            field.setValue(value)
            field.setSuffix(" px")
            form.addRow(name.capitalize(), field)
            self._fields[name] = field
        hint = QLabel("Pick the part of the screen to classify, e.g. a video playing in a browser.")
        hint.setWordWrap(True)
        drag = QPushButton("Drag on screen\u2026")
        drag.clicked.connect(self._drag)
        buttons = ok_cancel_buttons(self)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(drag)
        layout.addWidget(buttons)
        self._selector: RegionSelector | None = None
        self.setMinimumWidth(title_width(self))

    def region(self) -> Region:
        return tuple(self._fields[name].value() for name in ("x", "y", "width", "height"))

    def set_region(self, region: Region) -> None:
        for name, value in zip(("x", "y", "width", "height"), region):
            self._fields[name].setValue(value)

    def _drag(self) -> None:
        """Covers the screen with the selector. The dialog stays open (hiding it would end its exec()) but
        steps off the screen, so the selector's picture of the screen shows what is under it; the selector
        is the dialog's child window, so the dialog's modality lets the drag through."""
        self._home = self.pos()
        self.move(-100000, -100000)
        QTimer.singleShot(150, self._show_selector)  # let the window system move the dialog before the grab

    def _show_selector(self) -> None:
        self._selector = RegionSelector(self)
        self._selector.chosen.connect(self._dragged)
        self._selector.cancelled.connect(self._drag_ended)
        self._selector.showFullScreen()
        self._selector.activateWindow()

    @Slot(object)
    def _dragged(self, region: Region) -> None:
        self.set_region(region)
        self._drag_ended()

    @Slot()
    def _drag_ended(self) -> None:
        self.move(self._home)
        self.activateWindow()


class RegionSelector(QWidget):
    """A dimmed full-screen layer on which the user drags a rubber band; Esc cancels."""

    chosen = Signal(object)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            parent, Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
        )
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setCursor(Qt.CursorShape.CrossCursor)
        screen = QGuiApplication.primaryScreen()
        self._backdrop = QPixmap()
        if screen is not None:
            self.setGeometry(screen.virtualGeometry())
            # A picture of the screen, dimmed, rather than a translucent window: without a compositor
            # (plain X11, VNC, Xvfb) a translucent window is black and the user drags blind.
            self._backdrop = screen.grabWindow(0)
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin = QPoint()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        if not self._backdrop.isNull():
            painter.drawPixmap(self.rect(), self._backdrop)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 90))
        painter.setPen(QPen(QColor(255, 255, 255)))
        painter.drawText(
            self.rect().adjusted(0, 40, 0, 0),
            Qt.AlignmentFlag.AlignHCenter,
            "Drag over the area to classify \u00b7 Esc to cancel",
        )

    def mousePressEvent(self, event) -> None:
        self._origin = event.position().toPoint()
        self._band.setGeometry(QRect(self._origin, QSize()))
        self._band.show()

    def mouseMoveEvent(self, event) -> None:
        self._band.setGeometry(QRect(self._origin, event.position().toPoint()).normalized())

    def mouseReleaseEvent(self, event) -> None:
        rect = self._band.geometry()
        self.close()
        if rect.width() >= 16 and rect.height() >= 16:
            top_left = self.mapToGlobal(rect.topLeft())
            self.chosen.emit((top_left.x(), top_left.y(), rect.width(), rect.height()))
        else:
            self.cancelled.emit()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            self.cancelled.emit()
