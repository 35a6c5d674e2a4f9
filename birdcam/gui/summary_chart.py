"""The daily summary as a picture: species by day, visits in each cell, first sightings marked.

Drawn with QPainter on a QImage, so the window's Summary view and `birdcam sightings --summary --chart`
show the same picture; `save_chart` makes an off-screen QGuiApplication when the CLI has none.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QImage, QPainter, QPen

from birdcam.errors import SightingsError
from birdcam.sightings.summary import Summary
from birdcam.util.fileio import atomic_path
from birdcam.util.text import counted

CELL_WIDTH = 46
"""The narrowest a day's column is; wider when its date needs it."""
LABEL_GAP = 10
"""Pixels at least between the dates of two days."""
CELL_HEIGHT = 26
MARGIN = 16
_BACKGROUND = QColor(255, 255, 255)
_TEXT = QColor(30, 30, 30)
_MUTED = QColor(120, 120, 120)
_EMPTY = QColor(242, 242, 242)
_LOW, _HIGH = QColor(198, 228, 206), QColor(24, 120, 66)  # one visit .. the busiest cell
_FIRST_EVER = QColor(230, 150, 0)
_FIRST_YEAR = QColor(40, 110, 200)
_application: QGuiApplication | None = None  # the one save_chart made, kept alive


def render_chart(summary: Summary) -> QImage:
    """Species (rows, most visits first) by day (columns, oldest first); each cell's visits as a number and a shade."""
    font = QFont()
    font.setPixelSize(13)
    bold = QFont(font)
    bold.setBold(True)
    metrics, bold_metrics = QFontMetrics(font), QFontMetrics(bold)
    names = list(summary.species)
    name_width = max([metrics.horizontalAdvance(n) for n in names] + [metrics.horizontalAdvance("No visits"), 80]) + 12
    title = _title(summary)
    top = MARGIN + bold_metrics.height() + 8 + 2 * metrics.height() + 6
    dates = [(day.day.strftime("%a"), f"{day.day:%b} {day.day.day}") for day in summary.days]
    widest = max([metrics.horizontalAdvance(text) for pair in dates for text in pair], default=0)
    cell_width = max(CELL_WIDTH, widest + LABEL_GAP)
    grid_width = cell_width * len(summary.days)
    rows = max(1, len(names))
    legend_y = top + rows * CELL_HEIGHT + 12
    width = max(MARGIN * 2 + name_width + grid_width, MARGIN * 2 + bold_metrics.horizontalAdvance(title), 420)
    height = legend_y + metrics.height() + MARGIN
    image = QImage(int(width), int(height), QImage.Format.Format_RGB32)
    image.fill(_BACKGROUND)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.setFont(bold)
        painter.setPen(_TEXT)
        painter.drawText(QPointF(MARGIN, MARGIN + bold_metrics.ascent()), title)
        painter.setFont(font)
        left = MARGIN + name_width
        for column, (weekday, date) in enumerate(dates):
            cell = QRectF(left + column * cell_width, top - 2 * metrics.height() - 4, cell_width, metrics.height())
            painter.setPen(_MUTED)
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, weekday)
            painter.drawText(cell.translated(0, metrics.height()), Qt.AlignmentFlag.AlignCenter, date)
        busiest = max([s.visits for day in summary.days for s in day.species] + [1])
        if not names:
            painter.setPen(_MUTED)
            painter.drawText(QRectF(MARGIN, top, name_width, CELL_HEIGHT), Qt.AlignmentFlag.AlignVCenter, "No visits")
        for row, name in enumerate(names):
            y = top + row * CELL_HEIGHT
            painter.setPen(_TEXT)
            painter.drawText(
                QRectF(MARGIN, y, name_width - 8, CELL_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                name,
            )
            for column, day in enumerate(summary.days):
                entry = next((s for s in day.species if s.name == name), None)
                cell = QRectF(left + column * cell_width + 1, y + 1, cell_width - 2, CELL_HEIGHT - 2)
                _cell(painter, cell, entry, busiest)
        _legend(painter, metrics, MARGIN, legend_y)
    finally:
        painter.end()
    return image


def save_chart(summary: Summary, path: Path) -> None:
    """Writes the chart as a PNG (temporary file, then rename); SightingsError when it cannot."""
    _ensure_gui_application()
    path = Path(path)
    image = render_chart(summary)
    try:
        with atomic_path(path) as temporary:
            if not image.save(str(temporary), "PNG"):
                raise OSError(f"Qt could not write {temporary.name}")
    except OSError as error:
        raise SightingsError(
            f"cannot write the chart {path}: {error.strerror or error}; pick a writable file"
        ) from None


def _cell(painter: QPainter, cell: QRectF, entry, busiest: int) -> None:
    if entry is None:
        painter.fillRect(cell, _EMPTY)
        return
    share = math.log1p(entry.visits) / math.log1p(busiest)
    shade = QColor(*(round(a + (b - a) * share) for a, b in zip(_LOW.getRgb()[:3], _HIGH.getRgb()[:3])))
    painter.fillRect(cell, shade)
    painter.setPen(QColor(255, 255, 255) if share > 0.55 else _TEXT)
    painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, str(entry.visits))
    if entry.first_ever or entry.first_this_year:
        _mark(painter, QPointF(cell.right() - 7, cell.top() + 7), entry.first_ever)


def _mark(painter: QPainter, centre: QPointF, ever: bool) -> None:
    """A filled dot for a first sighting ever, a ring for the first this year."""
    painter.save()
    color = _FIRST_EVER if ever else _FIRST_YEAR
    painter.setPen(QPen(color, 2))
    painter.setBrush(color if ever else Qt.BrushStyle.NoBrush)
    painter.drawEllipse(centre, 4, 4)
    painter.restore()


def _legend(painter: QPainter, metrics: QFontMetrics, x: float, y: float) -> None:
    middle = y + metrics.height() / 2
    painter.setPen(_MUTED)
    for ever, text in ((True, "first sighting ever"), (False, "first this year")):
        _mark(painter, QPointF(x + 5, middle), ever)
        painter.setPen(_MUTED)
        painter.drawText(QPointF(x + 14, y + metrics.ascent()), text)
        x += 14 + metrics.horizontalAdvance(text) + 18
    painter.drawText(QPointF(x, y + metrics.ascent()), "numbers: visits")


def _title(summary: Summary) -> str:
    if not summary.days:
        return "Visits per species and day"
    first, last = summary.days[0].day, summary.days[-1].day
    visits = counted(summary.total_visits, "visit")
    return f"Visits per species and day, {first.isoformat()} to {last.isoformat()} ({visits})"


def _ensure_gui_application() -> None:
    """QPainter needs a QGuiApplication for its fonts; the CLI gets an off-screen one."""
    global _application
    if QGuiApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _application = QGuiApplication(["birdcam"])
