"""The window's own widgets: the video view with its overlay, and the message bar above it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QIcon, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from birdcam.gui.overlay import OverlayContent, fitted_frame, paint_overlay

ICON_PATH = Path(__file__).resolve().parents[2] / "assets" / "birdcam.svg"


class VideoView(QWidget):
    """Paints the newest frame, fitted to the widget, with the overlay on top of the picture."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.mirror = False
        self._image = None
        self._fitted: tuple | None = None  # (what it was made from, the image, its pixels, the frame it shows)
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
        painter.drawImage(target.topLeft(), self._fitted_image(target))
        paint_overlay(painter, target, self._content, mirror=self.mirror)

    def _fitted_image(self, target: QRectF) -> QImage:
        """The frame at the size it is drawn, in device pixels; made once per frame and size (a new result
        repaints the same frame)."""
        ratio = self.devicePixelRatioF()
        width, height = max(1, round(target.width() * ratio)), max(1, round(target.height() * ratio))
        key = (id(self._image), width, height, self.mirror)
        if self._fitted is None or self._fitted[0] != key:
            image, pixels = fitted_frame(self._image, width, height, mirror=self.mirror)
            image.setDevicePixelRatio(ratio)
            self._fitted = (key, image, pixels, self._image)
        return self._fitted[1]

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
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            self._placeholder or "Opening\u2026",
        )


class MessageBar(QFrame):
    """A dismissable line above the picture for errors and warnings, with an optional button (e.g. "Use it")."""

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
        self._button = QPushButton()
        self._button.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._button.clicked.connect(self._run_action)
        self._button.hide()
        self._action: Callable[[], None] | None = None
        close = QToolButton()
        close.setText("\u2715")
        close.setAutoRaise(True)
        close.setStyleSheet("color:#fff;")
        close.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(self._button)
        layout.addWidget(close)
        self.kind = ""
        """The kind of the message shown ("" when none)."""
        self.topic = ""
        """What the message shown is about ("source", "model", "sightings", ...; "" when none), so it can be taken
        down when that is resolved, and only then."""
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def show_message(
        self,
        text: str,
        kind: str = "error",
        *,
        topic: str = "",
        action: tuple[str, Callable[[], None]] | None = None,
    ) -> None:
        """Shows one message (replacing the last) about `topic`; `action` = (button text, what it does)."""
        self.setStyleSheet(f"MessageBar {{{self.STYLES[kind]} border-radius:4px;}} QLabel {{{self.STYLES[kind]}}}")
        self._label.setText(text)
        self.kind = kind
        self.topic = topic
        self._action = action[1] if action else None
        self._button.setText(action[0] if action else "")
        self._button.setVisible(action is not None)
        self.show()

    def clear_topic(self, topic: str) -> None:
        """Takes the message down if it is about `topic` (what it said is resolved)."""
        if self.topic == topic:
            self.clear()

    @Slot()
    def clear(self) -> None:
        self._label.setText("")
        self.kind = ""
        self.topic = ""
        self._action = None
        self._button.hide()
        self.hide()

    def _run_action(self) -> None:
        action = self._action
        self.clear()
        if action is not None:
            action()


def ok_cancel_buttons(dialog: QDialog) -> QDialogButtonBox:
    """OK and Cancel, wired to the dialog's accept and reject."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def app_icon() -> QIcon:
    return QIcon(str(ICON_PATH)) if ICON_PATH.is_file() else QIcon()
