"""Paints the birds' boxes, the result panel and the speed figures over a frame, readable on any background."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen

BIRD_COLOR = QColor(76, 200, 120)
UNKNOWN_BIRD_COLOR = QColor(240, 176, 48)
OUTLINE_COLOR = QColor(0, 0, 0, 170)
NO_BIRD_COLOR = QColor(150, 150, 150)
PANEL_COLOR = QColor(16, 18, 22, 190)
TEXT_COLOR = QColor(250, 250, 250)
DIM_TEXT_COLOR = QColor(200, 205, 210)
MESSAGE_COLOR = QColor(180, 60, 40, 220)


@dataclass(frozen=True)
class BirdMark:
    """One bird's box and tag."""

    box: tuple[int, int, int, int]
    """(x, y, w, h) in frame pixels."""
    name: str
    """Common name, or "Bird?" for a species the model does not know."""
    score: float
    """Confidence (0-1) shown beside the name."""
    known: bool
    """False: a bird of a species this model does not know (drawn dashed, in amber)."""
    highlighted: bool = False
    """The bird the big panel describes (drawn bolder)."""


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
    unknown_species: bool = False
    """The bird is of a species this model does not know (amber instead of green)."""
    top: tuple[tuple[str, float], ...] = ()
    """Runner-up names with their scores, best first (the shown label excluded)."""
    stats: str = ""
    """Capture fps, inference fps and latency, drawn in the top-right corner."""
    message: str = ""
    """An error or state line drawn across the top (missing camera, video ended, paused)."""
    birds: tuple[BirdMark, ...] = ()
    """Boxes to draw, in frame pixels (close-ups, which fill the view and are named by the panel, have none)."""
    frame_size: tuple[int, int] = (0, 0)
    """(width, height) of the frame the boxes refer to."""


_MIN_LISTED_SCORE = 0.01  # runners-up below 1% say nothing


def overlay_content(
    display, *, top_k: int, waiting: str = "", message: str = "", threshold: float | None = None
) -> OverlayContent:
    """What the overlay shows over a displayed frame (a gui.pipeline.DisplayFrame, or None before the first).

    `waiting`: the title while there is no result, when there is a reason ("Loading model…", "No model").
    `threshold`: the score a species needs (None: the model's own).
    """
    stats = display.stats.text() if display is not None else ""
    result = display.result if display is not None else None
    if result is None:
        return OverlayContent(title=waiting or "Waiting for the model\u2026", stats=stats, message=message)
    scene, bird = result.scene, result.scene.top
    height, width = display.frame.image.shape[:2]
    marks = tuple(
        BirdMark(
            tuple(b.box),
            b.label.display_name if b.label is not None else "Bird?",
            float(b.score),
            b.label is not None,
            highlighted=b is bird,
        )
        for b in scene.birds
        if not (b.whole_frame or b.closeup)  # a close-up is named by the whole-frame pass: boxed by turns, it blinked
    )
    common = {"stats": stats, "message": message, "birds": marks, "frame_size": (width, height)}
    shown_index = bird.index if bird is not None else None
    ranked = bird.top if bird is not None and bird.top else scene.whole.top
    runners_up = tuple(
        (category.label.display_name, float(category.score))
        for category in ranked
        if category.index != shown_index and not category.label.is_background and category.score >= _MIN_LISTED_SCORE
    )[: top_k - 1]
    if bird is None:
        # "How close it came": only when the whole-frame pass saw no bird either (a bird class it named that the scene
        # pass did not show, apples taken for a parakeet, is no runner-up of "No bird"), and only what stayed under
        # the threshold (a species about to be named is not one either).
        limit = threshold if threshold is not None else result.info.threshold
        close = () if scene.whole.is_bird else tuple((name, score) for name, score in runners_up if score < limit)
        return OverlayContent(title="No bird", top=close, **common)
    if bird.label is None:
        return OverlayContent(
            title="Bird \u2014 species not in this model",
            score=float(bird.score),
            is_bird=True,
            unknown_species=True,
            top=runners_up,
            **common,
        )
    label = bird.label
    subtitle = label.scientific_name if label.scientific_name != label.display_name else ""
    return OverlayContent(
        title=label.display_name, subtitle=subtitle, score=float(bird.score), is_bird=True, top=runners_up, **common
    )


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


def paint_overlay(painter: QPainter, area: QRectF, content: OverlayContent, *, mirror: bool = False) -> None:
    """Draws the birds' boxes, the panel (bottom-left), the stats (top-right) and the message (top) inside `area`.

    Sizes follow the area so the overlay reads the same in a small window, full screen or a snapshot at
    the frame's own resolution. `mirror`: the frame is drawn flipped, so are the boxes.
    """
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    unit = max(7.0, min(area.height() / 42.0, area.width() / 56.0))
    margin = unit * 1.2
    if content.birds:
        _paint_birds(painter, area, content, unit, mirror)
    if content.stats:
        _paint_stats(painter, area, content.stats, unit, margin)
    if content.message:
        _paint_message(painter, area, content.message, unit, margin)
    _paint_panel(painter, panel_layout(area, content, mirror=mirror), content, unit)
    painter.restore()


def box_in_area(box: tuple[int, int, int, int], frame_size: tuple[int, int], area: QRectF, *, mirror: bool) -> QRectF:
    """Where a box in frame pixels lands in the painted area."""
    x, y, w, h = box
    frame_w, frame_h = frame_size
    if mirror:
        x = frame_w - x - w
    sx, sy = area.width() / frame_w, area.height() / frame_h
    return QRectF(area.left() + x * sx, area.top() + y * sy, w * sx, h * sy)


def _paint_birds(painter: QPainter, area: QRectF, content: OverlayContent, unit: float, mirror: bool) -> None:
    """A box per bird with a tag (name and score) on a dark plate: outlined so it reads on any background;
    a species the model does not know dashed and amber."""
    if min(content.frame_size) <= 0:
        return
    font = _font(unit * 1.05, bold=True)
    metrics = QFontMetricsF(font)
    for mark in sorted(content.birds, key=lambda m: m.highlighted):  # the panel's bird on top
        rect = box_in_area(mark.box, content.frame_size, area, mirror=mirror)
        color = BIRD_COLOR if mark.known else UNKNOWN_BIRD_COLOR
        width = unit * (0.36 if mark.highlighted else 0.24)
        style = Qt.PenStyle.SolidLine if mark.known else Qt.PenStyle.DashLine
        radius = unit * 0.4
        for pen_color, pen_width in ((OUTLINE_COLOR, width + unit * 0.22), (color, width)):
            pen = QPen(pen_color, pen_width, style)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, radius, radius)
        text = f"{mark.name} {mark.score * 100:.0f}%"
        tag_w, tag_h = metrics.horizontalAdvance(text) + unit * 1.0, metrics.height() + unit * 0.45
        tag_x = min(max(rect.left(), area.left()), area.right() - tag_w)
        tag_y = rect.top() - tag_h - unit * 0.2
        if tag_y < area.top():
            tag_y = rect.top() + unit * 0.3  # no room above: inside the box
        tag = QRectF(tag_x, tag_y, tag_w, tag_h)
        _rounded(painter, tag, unit * 0.35, PANEL_COLOR)
        _rounded(painter, QRectF(tag.left(), tag.top(), unit * 0.3, tag.height()), unit * 0.15, color)
        painter.setFont(font)
        painter.setPen(TEXT_COLOR)
        painter.drawText(
            tag.adjusted(unit * 0.5, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text
        )


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


@dataclass(frozen=True)
class PanelLayout:
    """Where the panel goes and how its text is set: sized to its text, never cutting a name short."""

    rect: QRectF
    """The panel's plate."""
    title_lines: tuple[str, ...]
    """The title as drawn: one line, or two when even the smallest title font leaves it too wide."""
    title_font: QFont
    subtitle_font: QFont
    small_font: QFont
    percent_font: QFont
    padding: float


_SMALLEST_TITLE = 0.6  # the title shrinks to this fraction of its size before it wraps


def panel_layout(area: QRectF, content: OverlayContent, *, mirror: bool = False) -> PanelLayout:
    """Sizes the panel for its text: as wide as the longest line needs (at least a comfortable width), at most the
    area's width; a title too long for that shrinks, then wraps onto a second line. It sits in the bottom-left
    corner, or in the bottom-right one when that covers less of the birds' boxes."""
    unit = max(7.0, min(area.height() / 42.0, area.width() / 56.0))
    margin, padding = unit * 1.2, unit * 1.1
    max_inner = area.width() - 2 * margin - 2 * padding
    title_font = _font(unit * 2.3, bold=True)
    subtitle_font = _font(unit * 1.2, italic=True)
    small_font = _font(unit * 1.05)
    percent_font = _font(unit * 1.15, bold=True)
    title_w = QFontMetricsF(title_font).horizontalAdvance(content.title)
    if title_w > max_inner:
        title_font = _font(max(unit * 2.3 * _SMALLEST_TITLE, unit * 2.3 * max_inner / title_w), bold=True)
    title_lines = _wrapped(content.title, title_font, max_inner)
    small = QFontMetricsF(small_font)
    runner_row = unit * 4.6 + small.horizontalAdvance("100%") + unit * 0.4
    needed = max(
        [QFontMetricsF(title_font).horizontalAdvance(line) for line in title_lines]
        + [QFontMetricsF(subtitle_font).horizontalAdvance(content.subtitle)]
        + [runner_row + small.horizontalAdvance(name) for name, _ in content.top]
    )
    inner = min(max_inner, max(needed + unit * 0.5, unit * 24))
    height = padding * 2 + QFontMetricsF(title_font).height() * len(title_lines)
    if content.subtitle:
        height += QFontMetricsF(subtitle_font).height()
    if content.score is not None:
        height += unit * 1.5
    if content.top:
        height += unit * 0.7 + small.height() * 1.15 * len(content.top)
    width = inner + 2 * padding
    left = QRectF(area.left() + margin, area.bottom() - margin - height, width, height)
    right = QRectF(area.right() - margin - width, area.bottom() - margin - height, width, height)
    boxes = (
        [box_in_area(mark.box, content.frame_size, area, mirror=mirror) for mark in content.birds]
        if min(content.frame_size) > 0
        else []
    )
    rect = min((left, right), key=lambda corner: sum(_overlap(corner, box) for box in boxes)) if boxes else left
    return PanelLayout(rect, title_lines, title_font, subtitle_font, small_font, percent_font, padding)


def _overlap(a: QRectF, b: QRectF) -> float:
    shared = a.intersected(b)
    return shared.width() * shared.height() if not shared.isEmpty() else 0.0


def _wrapped(text: str, font: QFont, width: float) -> tuple[str, ...]:
    """The text on one line if it fits, else on two lines split at the space that balances them best."""
    metrics = QFontMetricsF(font)
    if metrics.horizontalAdvance(text) <= width or " " not in text:
        return (text,)
    splits = [i for i, char in enumerate(text) if char == " "]
    best = min(splits, key=lambda i: max(metrics.horizontalAdvance(text[:i]), metrics.horizontalAdvance(text[i + 1 :])))
    return text[:best], text[best + 1 :]


def _paint_panel(painter: QPainter, layout: PanelLayout, content: OverlayContent, unit: float) -> None:
    rect, padding = layout.rect, layout.padding
    inner = rect.width() - 2 * padding
    _rounded(painter, rect, unit * 0.8, PANEL_COLOR)
    accent = (UNKNOWN_BIRD_COLOR if content.unknown_species else BIRD_COLOR) if content.is_bird else NO_BIRD_COLOR
    _rounded(painter, QRectF(rect.left(), rect.top(), unit * 0.45, rect.height()), unit * 0.2, accent)

    x, y = rect.left() + padding, rect.top() + padding
    left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    painter.setPen(TEXT_COLOR)
    painter.setFont(layout.title_font)
    title_h = QFontMetricsF(layout.title_font).height()
    for line in layout.title_lines:
        painter.drawText(QRectF(x, y, inner, title_h), left, line)
        y += title_h
    if content.subtitle:
        subtitle_h = QFontMetricsF(layout.subtitle_font).height()
        painter.setPen(DIM_TEXT_COLOR)
        painter.setFont(layout.subtitle_font)
        painter.drawText(QRectF(x, y, inner, subtitle_h), left, _elided(content.subtitle, layout.subtitle_font, inner))
        y += subtitle_h
    if content.score is not None:
        bar_h = unit * 0.9
        y += unit * 0.6
        percent = f"{content.score * 100:.0f}%"
        percent_w = QFontMetricsF(layout.percent_font).horizontalAdvance("100%") + unit * 0.6
        bar = QRectF(x, y, inner - percent_w, bar_h)
        _paint_bar(painter, bar, content.score, accent)
        painter.setPen(TEXT_COLOR)
        painter.setFont(layout.percent_font)
        painter.drawText(
            QRectF(bar.right(), y - unit * 0.5, percent_w, bar_h + unit),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            percent,
        )
        y += bar_h
    if content.top:
        y += unit * 0.7
        painter.setFont(layout.small_font)
        row_h = QFontMetricsF(layout.small_font).height() * 1.15
        score_w = QFontMetricsF(layout.small_font).horizontalAdvance("100%") + unit * 0.4
        mini_w = unit * 4
        for name, score in content.top:
            _paint_bar(painter, QRectF(x, y + row_h * 0.35, mini_w, row_h * 0.3), score, NO_BIRD_COLOR)
            painter.setPen(DIM_TEXT_COLOR)
            name_rect = QRectF(x + mini_w + unit * 0.6, y, inner - mini_w - unit * 0.6 - score_w, row_h)
            painter.drawText(name_rect, left, _elided(name, layout.small_font, name_rect.width()))
            painter.drawText(
                QRectF(x + inner - score_w, y, score_w, row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{score * 100:.0f}%",
            )
            y += row_h


def _paint_bar(painter: QPainter, rect: QRectF, fraction: float, color: QColor) -> None:
    radius = rect.height() / 2
    _rounded(painter, rect, radius, QColor(255, 255, 255, 45))
    filled = QRectF(
        rect.left(), rect.top(), max(rect.height(), rect.width() * min(max(fraction, 0.0), 1.0)), rect.height()
    )
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


def fitted_frame(image_bgr: np.ndarray, width: int, height: int, *, mirror: bool) -> tuple[QImage, np.ndarray]:
    """The frame resized to width x height pixels by OpenCV, as a QImage Qt draws as it is.

    OpenCV's resize into Qt's native 32-bit format, then an unscaled draw, costs the GUI thread a fraction of
    QPainter's smooth scaling of a BGR frame (docs/performance.md).
    Returns the pixels too: the QImage does not own them.
    """
    height_in, width_in = image_bgr.shape[:2]
    if (width, height) != (width_in, height_in):
        shrink = width / width_in
        interpolation = cv2.INTER_AREA if shrink < 0.5 else cv2.INTER_LINEAR  # area: no aliasing far down
        image_bgr = cv2.resize(image_bgr, (width, height), interpolation=interpolation)
    if mirror:
        image_bgr = cv2.flip(image_bgr, 1)
    pixels = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2BGRA)
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB32), pixels


def render_annotated(image_bgr: np.ndarray, content: OverlayContent, *, mirror: bool) -> QImage:
    """The frame with the overlay painted at the frame's own resolution (snapshots, sightings)."""
    source = frame_to_qimage(image_bgr)
    annotated = QImage(source.size(), QImage.Format.Format_RGB888)
    painter = QPainter(annotated)
    try:
        area = QRectF(QPointF(0, 0), QRectF(source.rect()).size())
        paint_frame(painter, area, source, mirror=mirror)
        paint_overlay(painter, area, content, mirror=mirror)
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
