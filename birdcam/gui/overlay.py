"""Paints the result panel and the speed figures over a frame, readable on any background."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath

BIRD_COLOR = QColor(76, 200, 120)
NO_BIRD_COLOR = QColor(150, 150, 150)
PANEL_COLOR = QColor(16, 18, 22, 190)
TEXT_COLOR = QColor(250, 250, 250)
DIM_TEXT_COLOR = QColor(200, 205, 210)
MESSAGE_COLOR = QColor(180, 60, 40, 220)


@dataclass(frozen=True)
class OverlayContent:
    """What the overlay shows over one frame."""

    title: str
    """Common name of the shown species, or "No bird", or what the app is waiting for."""
    subtitle: str = ""
    """Scientific name of the shown species; empty when none."""
    score: float | None = None
    """Confidence of the shown label (0-1); None hides the bar."""
    is_bird: bool = False
    """Whether the title names a bird (colours the bar)."""
    top: tuple[tuple[str, float], ...] = ()
    """Runner-up names with their scores, best first (the shown label excluded)."""
    stats: str = ""
    """Capture fps, inference fps and latency, drawn in the top-right corner."""
    message: str = ""
    """An error or state line drawn across the top (missing camera, video ended, paused)."""


_MIN_LISTED_SCORE = 0.01  # runners-up below 1% say nothing


def overlay_content(display, *, top_k: int, loading: bool, message: str) -> OverlayContent:
    """What the overlay shows over a displayed frame (a gui.pipeline.DisplayFrame, or None before the first)."""
    stats = display.stats.text() if display is not None else ""
    result = display.result if display is not None else None
    if result is None:
        title = "Loading model\u2026" if loading else "Waiting for the model\u2026"
        return OverlayContent(title=title, stats=stats, message=message)
    labels, scene, bird = result.info.labels, result.scene, result.scene.top
    shown_index = bird.index if bird is not None else None
    ranked = bird.top if bird is not None and bird.top else scene.whole.top
    runners_up = tuple(
        (labels[index].display_name, float(score)) for index, score in ranked
        if index != shown_index and not labels[index].is_background and score >= _MIN_LISTED_SCORE
    )[: top_k - 1]
    if bird is None:
        return OverlayContent(title="No bird", top=runners_up, stats=stats, message=message)
    if bird.label is None:
        return OverlayContent(title="Bird", subtitle="species not in this model", score=float(bird.score),
                              is_bird=True, top=runners_up, stats=stats, message=message)
    label = bird.label
    subtitle = label.scientific_name if label.scientific_name != label.display_name else ""
    return OverlayContent(title=label.display_name, subtitle=subtitle, score=float(bird.score), is_bird=True,
                          top=runners_up, stats=stats, message=message)


def _rounded(painter: QPainter, rect: QRectF, radius: float, color: QColor) -> None:
    path = QPainterPath()
    path.addRoundedRect(rect, radius, radius)
    painter.fillPath(path, color)


def _font(pixel_size: float, *, bold: bool = False, italic: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(max(8, round(pixel_size)))
    font.setBold(bold)
    font.setItalic(italic)
    return font


def _elided(text: str, font: QFont, width: float) -> str:
    return QFontMetricsF(font).elidedText(text, Qt.TextElideMode.ElideRight, width)


def paint_overlay(painter: QPainter, area: QRectF, content: OverlayContent) -> None:
    """Draws the panel (bottom-left), the stats (top-right) and the message (top) inside `area`.

    Sizes follow the area's height so the panel reads the same in a small window, full screen or a
    snapshot at the frame's own resolution.
    """
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    unit = max(7.0, min(area.height() / 42.0, area.width() / 56.0))
    margin = unit * 1.2
    if content.stats:
        _paint_stats(painter, area, content.stats, unit, margin)
    if content.message:
        _paint_message(painter, area, content.message, unit, margin)
    _paint_panel(painter, area, content, unit, margin)
    painter.restore()


def _paint_stats(painter: QPainter, area: QRectF, stats: str, unit: float, margin: float) -> None:
    font = _font(unit * 1.0)
    metrics = QFontMetricsF(font)
    width = metrics.horizontalAdvance(stats) + unit * 1.4
    height = metrics.height() + unit * 0.7
    rect = QRectF(area.right() - margin - width, area.top() + margin, width, height)
    _paint_badge(painter, rect, unit, stats, font, PANEL_COLOR, DIM_TEXT_COLOR)


def _paint_message(painter: QPainter, area: QRectF, message: str, unit: float, margin: float) -> None:
    font = _font(unit * 1.15, bold=True)
    metrics = QFontMetricsF(font)
    max_width = area.width() * 0.6
    text = _elided(message, font, max_width - unit * 2)
    width = metrics.horizontalAdvance(text) + unit * 2
    height = metrics.height() + unit * 0.9
    rect = QRectF(area.left() + margin, area.top() + margin, width, height)
    _paint_badge(painter, rect, unit, text, font, MESSAGE_COLOR, TEXT_COLOR)


def _paint_badge(painter: QPainter, rect: QRectF, unit: float, text: str, font, background, color) -> None:
    """One line of text centred on a rounded plate."""
    _rounded(painter, rect, unit * 0.5, background)
    painter.setFont(font)
    painter.setPen(color)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _paint_panel(painter: QPainter, area: QRectF, content: OverlayContent, unit: float, margin: float) -> None:
    title_font = _font(unit * 2.3, bold=True)
    subtitle_font = _font(unit * 1.2, italic=True)
    small_font = _font(unit * 1.05)
    percent_font = _font(unit * 1.15, bold=True)
    padding = unit * 1.1
    width = min(area.width() - 2 * margin, max(unit * 26, area.width() * 0.36))
    inner = width - 2 * padding
    title_h = QFontMetricsF(title_font).height()
    subtitle_h = QFontMetricsF(subtitle_font).height() if content.subtitle else 0.0
    bar_h = unit * 0.9 if content.score is not None else 0.0
    row_h = QFontMetricsF(small_font).height() * 1.15
    height = padding * 2 + title_h + subtitle_h
    if bar_h:
        height += unit * 0.6 + bar_h
    if content.top:
        height += unit * 0.7 + row_h * len(content.top)
    rect = QRectF(area.left() + margin, area.bottom() - margin - height, width, height)
    _rounded(painter, rect, unit * 0.8, PANEL_COLOR)
    accent = BIRD_COLOR if content.is_bird else NO_BIRD_COLOR
    _rounded(painter, QRectF(rect.left(), rect.top(), unit * 0.45, rect.height()), unit * 0.2, accent)

    x = rect.left() + padding
    y = rect.top() + padding
    painter.setPen(TEXT_COLOR)
    painter.setFont(title_font)
    painter.drawText(QRectF(x, y, inner, title_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                     _elided(content.title, title_font, inner))
    y += title_h
    if content.subtitle:
        painter.setPen(DIM_TEXT_COLOR)
        painter.setFont(subtitle_font)
        painter.drawText(QRectF(x, y, inner, subtitle_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         _elided(content.subtitle, subtitle_font, inner))
        y += subtitle_h
    if bar_h:
        y += unit * 0.6
        percent = f"{content.score * 100:.0f}%"
        percent_w = QFontMetricsF(percent_font).horizontalAdvance("100%") + unit * 0.6
        bar = QRectF(x, y, inner - percent_w, bar_h)
        _paint_bar(painter, bar, content.score, accent)
        painter.setPen(TEXT_COLOR)
        painter.setFont(percent_font)
        painter.drawText(QRectF(bar.right(), y - unit * 0.5, percent_w, bar_h + unit),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, percent)
        y += bar_h
    if content.top:
        y += unit * 0.7
        painter.setFont(small_font)
        score_w = QFontMetricsF(small_font).horizontalAdvance("100%") + unit * 0.4
        mini_w = unit * 4
        for name, score in content.top:
            row = QRectF(x, y, inner, row_h)
            _paint_bar(painter, QRectF(x, y + row_h * 0.35, mini_w, row_h * 0.3), score, NO_BIRD_COLOR)
            painter.setPen(DIM_TEXT_COLOR)
            name_rect = QRectF(x + mini_w + unit * 0.6, y, inner - mini_w - unit * 0.6 - score_w, row_h)
            painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             _elided(name, small_font, name_rect.width()))
            painter.drawText(QRectF(row.right() - score_w, y, score_w, row_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{score * 100:.0f}%")
            y += row_h


def _paint_bar(painter: QPainter, rect: QRectF, fraction: float, color: QColor) -> None:
    radius = rect.height() / 2
    _rounded(painter, rect, radius, QColor(255, 255, 255, 45))
    filled = QRectF(rect.left(), rect.top(), max(rect.height(), rect.width() * min(max(fraction, 0.0), 1.0)),
                    rect.height())
    _rounded(painter, filled, radius, color)


def frame_to_qimage(image_bgr: np.ndarray) -> QImage:
    """Wraps an HxWx3 uint8 BGR array as a QImage without copying (the caller keeps the array alive)."""
    height, width = image_bgr.shape[:2]
    return QImage(image_bgr.data, width, height, image_bgr.strides[0], QImage.Format.Format_BGR888)


def paint_frame(painter: QPainter, target: QRectF, image: QImage, *, mirror: bool) -> None:
    """Draws the frame into `target`, flipped left-right when `mirror` (a selfie view)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    if mirror:
        painter.translate(target.left() + target.right(), 0)
        painter.scale(-1, 1)
    painter.drawImage(target, image)
    painter.restore()


def render_annotated(image_bgr: np.ndarray, content: OverlayContent, *, mirror: bool) -> QImage:
    """The frame with the overlay painted at the frame's own resolution (snapshots, sightings)."""
    source = frame_to_qimage(image_bgr)
    annotated = QImage(source.size(), QImage.Format.Format_RGB888)
    painter = QPainter(annotated)
    try:
        area = QRectF(QPointF(0, 0), QRectF(source.rect()).size())
        paint_frame(painter, area, source, mirror=mirror)
        paint_overlay(painter, area, content)
    finally:
        painter.end()
    return annotated


def qimage_to_bgr(image: QImage) -> np.ndarray:
    """Copies a QImage into an HxWx3 uint8 BGR array."""
    converted = image.convertToFormat(QImage.Format.Format_BGR888)
    height, width = converted.height(), converted.width()
    buffer = np.frombuffer(converted.constBits(), dtype=np.uint8, count=converted.sizeInBytes())
    rows = buffer.reshape(height, converted.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()

