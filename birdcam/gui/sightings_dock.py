"""The "Recent sightings" dock, the rename dialog, the Summary dialog and the export, over a SightingsLog.

Everything shown comes from `SightingsLog.overview` (kept by the recorder's writer thread) and its
signals; corrections, summaries and exports are requests the writer thread answers. The GUI thread
never opens the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import QSize, QStandardPaths, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from birdcam.gui.sightings_log import SightingsLog
from birdcam.gui.summary_chart import render_chart
from birdcam.gui.widgets import ok_cancel_buttons
from birdcam.models.labels import Label
from birdcam.sightings import UNKNOWN_DESCRIPTION, Overview, State, Visit
from birdcam.sightings.names import SpeciesName, resolve_species_name
from birdcam.util.text import counted

THUMBNAIL = QSize(96, 72)
NOTICE_MS = 8000
"""How long a one-off message (a correction, an export) stays in the dock."""
_ERROR_STYLE = "background: #fde7e9; color: #7a1020;"
_STATE_STYLE = {
    State.LOCKED: "background: #fff4ce; color: #5c4400;",
    State.READ_ONLY: "background: #e8eefc; color: #1f3a73;",
    State.DAMAGED: _ERROR_STYLE,
    State.ERROR: _ERROR_STYLE,
}
_NOTICE_STYLE = "background: #eef6ee; color: #1d4d22;"
VISIT_ROLE = Qt.ItemDataRole.UserRole


class SightingsDock(QDockWidget):
    """Recent visits with thumbnails, today's counts, the database's state; right-click a visit to correct it."""

    muted_changed = Signal(list)
    """The species without new-species notices changed (names): persist them and give them back with set_muted."""
    teach_requested = Signal(object, object)
    """(Visit, SpeciesName): the user renamed the visit and asked that its pictures teach the model the species."""
    teaching = False
    """Whether the rename dialog offers "Teach birdcam this species" (the window sets it when it can teach)."""

    def __init__(self, log: SightingsLog, labels: Callable[[], Sequence[Label]], parent: QWidget | None = None):
        super().__init__("Recent sightings", parent)
        self.setObjectName("sightings dock")
        self.log = log
        self._labels = labels
        self._muted: list[str] = []
        self._thumbnails: dict[str, tuple[float, QIcon]] = {}
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setContentsMargins(6, 4, 6, 4)
        self.status_label.hide()
        self.today_label = QLabel()
        self.today_label.setContentsMargins(6, 2, 6, 2)
        self.list = QListWidget()
        self.list.setIconSize(THUMBNAIL)
        self.list.setSpacing(2)
        self.list.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemActivated.connect(lambda item: self.open_snapshot(item.data(VISIT_ROLE)))
        self.summary_action = QAction("Sightings &summary\u2026", self)
        self.summary_action.triggered.connect(self.show_summary)
        self.export_action = QAction("&Export sightings\u2026", self)
        self.export_action.triggered.connect(lambda: export_sightings(self, self.log))
        buttons = QHBoxLayout()
        for text, action in (("Summary\u2026", self.summary_action), ("Export\u2026", self.export_action)):
            button = QPushButton(text)
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.status_label)
        column.addWidget(self.today_label)
        column.addWidget(self.list, 1)
        column.addLayout(buttons)
        panel = QWidget()
        panel.setLayout(column)
        self.setWidget(panel)
        self.summary_dialog: SummaryDialog | None = None
        self._notice = ""
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self._clear_notice)
        log.changed.connect(self.refresh)
        log.status.connect(self._on_status)
        log.notice.connect(self._on_notice)
        self.refresh()

    # -- what is shown -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Shows the overview: the state line, today's counts, the recent visits."""
        overview = self.log.overview
        self._show_state(overview)
        self.today_label.setText(
            f"Today: {counted(overview.visits_today, 'visit')} \u00b7 {overview.species_today} species"
        )
        self.list.clear()
        if not overview.recent:
            item = QListWidgetItem("No visits yet.\nA bird seen for a second or more is recorded here.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
            return
        for visit in overview.recent:
            self.list.addItem(self._item(visit))

    def visible_visits(self) -> list[Visit]:
        """The visits listed, in order (for tests and for the window)."""
        return [
            self.list.item(i).data(VISIT_ROLE)
            for i in range(self.list.count())
            if self.list.item(i).data(VISIT_ROLE) is not None
        ]

    def _item(self, visit: Visit) -> QListWidgetItem:
        start = time.strftime("%H:%M:%S", time.localtime(visit.start))
        day = time.strftime("%a %d %b", time.localtime(visit.start))
        if time.localtime(visit.start)[:3] == time.localtime()[:3]:
            day = ""
        count = f"  \u00d7{visit.count}" if visit.count > 1 else ""
        waiting = "  (waiting to be written)" if visit.id is None else ""
        item = QListWidgetItem(
            f"{visit.display_name}{count}\n{day + ' ' if day else ''}{start} \u00b7 "
            f"{visit.duration_s:.0f} s \u00b7 {visit.best_score * 100:.0f}%{waiting}"
        )
        tooltip = [visit.scientific_name if visit.known else UNKNOWN_DESCRIPTION]
        if visit.renamed:
            tooltip.append(f"renamed from {visit.original_display_name}")
        tooltip += [visit.source, f"model: {visit.model}"]
        item.setToolTip("\n".join(line for line in tooltip if line))
        item.setData(VISIT_ROLE, visit)
        icon = self._thumbnail(visit.snapshot_path)
        if icon is not None:
            item.setIcon(icon)
        return item

    def _thumbnail(self, path: str | None) -> QIcon | None:
        """The snapshot scaled down while it is decoded, cached until the file changes."""
        if not path:
            return None
        try:
            modified = Path(path).stat().st_mtime
        except OSError:
            return None
        cached = self._thumbnails.get(path)
        if cached is not None and cached[0] == modified:
            return cached[1]
        reader = QImageReader(path)
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(THUMBNAIL * 2, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            return None
        icon = QIcon(QPixmap.fromImage(image))
        self._thumbnails[path] = (modified, icon)
        return icon

    def _show_state(self, overview: Overview) -> None:
        if self._notice:
            return
        style = _STATE_STYLE.get(overview.state)
        if style is None:
            self.status_label.hide()
            return
        waiting = f" ({overview.waiting} waiting)" if overview.state == State.LOCKED and overview.waiting else ""
        self.status_label.setStyleSheet(style)
        self.status_label.setText(overview.message + waiting)
        self.status_label.show()

    def _on_status(self, state: State, message: str) -> None:
        self._show_state(self.log.overview)

    def _on_notice(self, message: str, error: bool) -> None:
        """A one-off message for NOTICE_MS: in red when something was refused or failed."""
        self._notice = message
        self.status_label.setStyleSheet(_ERROR_STYLE if error else _NOTICE_STYLE)
        self.status_label.setText(message)
        self.status_label.show()
        self._notice_timer.start(NOTICE_MS)

    def _clear_notice(self) -> None:
        self._notice = ""
        self._show_state(self.log.overview)

    # -- corrections -------------------------------------------------------------------------

    def _context_menu(self, position) -> None:
        item = self.list.itemAt(position)
        visit = item.data(VISIT_ROLE) if item is not None else None
        if visit is None:
            return
        menu = self.context_menu(visit)
        menu.exec(self.list.viewport().mapToGlobal(position))

    def context_menu(self, visit: Visit) -> QMenu:
        """The menu of a visit: rename, delete, open its snapshot, no notices for its species."""
        menu = QMenu(self)
        stored = visit.id is not None and self.log.overview.state.correctable
        rename = menu.addAction("Rename species\u2026", lambda: self.rename(visit))
        delete = menu.addAction("Delete visit", lambda: self.delete(visit))
        for action in (rename, delete):
            action.setEnabled(stored)
        snapshot = menu.addAction("Open snapshot", lambda: self.open_snapshot(visit))
        snapshot.setEnabled(bool(visit.snapshot_path) and Path(visit.snapshot_path or "").is_file())
        if visit.known:
            menu.addSeparator()
            mute = menu.addAction(f"No new-species notices for {visit.display_name}")
            mute.setCheckable(True)
            mute.setChecked(visit.display_name.lower() in {name.lower() for name in self._muted})
            mute.toggled.connect(lambda on: self._set_mute(visit.display_name, on))
        return menu

    def rename(self, visit: Visit) -> None:
        """Asks for the species; a name the model does not know is stored only once the user confirms it."""
        dialog = RenameDialog(visit, self._labels(), self, offer_teaching=self.teaching and bool(visit.crop_path))
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        name = dialog.chosen()
        if name is None:
            return
        if not name.known:
            answer = QMessageBox.question(
                self,
                "Rename species",
                f"{name.unknown_warning()}.\nStore \u201c{name.display_name}\u201d as typed?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.log.rename(visit.id, name.common_name, name.scientific_name)
        if dialog.teach.isChecked():
            self.teach_requested.emit(visit, name)

    def delete(self, visit: Visit) -> None:
        when = time.strftime("%H:%M", time.localtime(visit.start))
        answer = QMessageBox.question(
            self,
            "Delete visit",
            f"Delete the visit of {visit.display_name} at {when}?\n"
            "It is left out of the list, the counts and every export.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.log.delete(visit.id)

    def open_snapshot(self, visit: Visit | None) -> None:
        if visit is not None and visit.snapshot_path and Path(visit.snapshot_path).is_file():
            QDesktopServices.openUrl(QUrl.fromLocalFile(visit.snapshot_path))

    @property
    def muted(self) -> list[str]:
        return list(self._muted)

    def set_muted(self, names: Iterable[str]) -> None:
        """Species (names) that give no new-species notice; the window restores them from its settings."""
        self._muted = sorted({name.strip() for name in names if name.strip()}, key=str.lower)
        self.log.set_muted(self._muted)

    def _set_mute(self, name: str, on: bool) -> None:
        others = [n for n in self._muted if n.lower() != name.lower()]
        self.set_muted(others + [name] if on else others)
        self.muted_changed.emit(self.muted)

    def show_summary(self) -> None:
        dialog = SummaryDialog(self.log, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.summary_dialog = dialog


class RenameDialog(QDialog):
    """Pick the species from the model's labels (type to search), or type a name the model does not know."""

    def __init__(
        self, visit: Visit, labels: Sequence[Label], parent: QWidget | None = None, *, offer_teaching: bool = False
    ):
        """`offer_teaching`: show "Teach birdcam this species" (ticked for a bird the model did not know)."""
        super().__init__(parent)
        self.setWindowTitle("Rename species")
        self._labels = tuple(labels)
        when = time.strftime("%H:%M:%S", time.localtime(visit.start))
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for label in labels:
            if label.is_background:
                continue
            shown = label.display_name
            if label.common_name and label.scientific_name:
                shown = f"{label.common_name} \u2014 {label.scientific_name}"
            self.combo.addItem(shown, label.text)
        completer = QCompleter(self.combo.model(), self.combo)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.combo.setCompleter(completer)
        self.combo.setEditText(visit.display_name if visit.known else "")
        self.combo.lineEdit().selectAll()
        buttons = ok_cancel_buttons(self)
        column = QVBoxLayout(self)
        column.addWidget(
            QLabel(
                f"The bird seen at {when}, named <b>{visit.display_name}</b>"
                + (f" (first named {visit.original_display_name})" if visit.renamed else "")
                + ", is:"
            )
        )
        column.addWidget(self.combo)
        hint = QLabel(
            "Pick one of the model's species, or type a name \u2014 \u201cGenus species (Common name)\u201d "
            "fills in both. The model's name is kept as the original."
        )
        hint.setWordWrap(True)
        column.addWidget(hint)
        self.teach = QCheckBox("Teach birdcam this species from this bird\u2019s pictures")
        self.teach.setToolTip("Adds the species to the model that runs (or sharpens it), in the background")
        self.teach.setChecked(offer_teaching and not visit.known)
        self.teach.setVisible(offer_teaching)
        column.addWidget(self.teach)
        column.addWidget(buttons)

    def chosen(self) -> SpeciesName | None:
        """The names to store: a picked species' two names; a typed name resolved against the model's labels (common
        or scientific, any case); None when nothing is typed."""
        text = " ".join(self.combo.currentText().split())
        if not text:
            return None
        index = self.combo.findText(text, Qt.MatchFlag.MatchFixedString)
        return resolve_species_name(self.combo.itemData(index) if index >= 0 else text, self._labels)


class SummaryDialog(QDialog):
    """Species by day: the chart `birdcam sightings --summary --chart` draws, and the same numbers as a table."""

    def __init__(self, log: SightingsLog, parent: QWidget | None = None, days: int = 7):
        super().__init__(parent)
        self.setWindowTitle("Sightings summary")
        self.resize(760, 560)
        self.log = log
        self.summary = None
        self.days = QSpinBox()
        self.days.setRange(1, 366)
        self.days.setValue(days)
        self.days.setSuffix(" days")
        self.days.valueChanged.connect(self.request)
        self.chart = QLabel("Loading\u2026")
        self.chart.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidget(self.chart)
        scroll.setWidgetResizable(True)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Day", "Species", "Visits", "Most at once", ""])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        top = QHBoxLayout()
        top.addWidget(QLabel("Last"))
        top.addWidget(self.days)
        top.addStretch(1)
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(scroll, 3)
        column.addWidget(self.table, 2)
        log.summary_ready.connect(self._show)
        self.request()

    def request(self) -> None:
        self.log.request_summary(self.days.value())

    def _show(self, summary) -> None:
        if len(summary.days) != self.days.value():
            return  # an answer to an earlier request
        self.summary = summary
        self.chart.setPixmap(QPixmap.fromImage(render_chart(summary)))
        rows = [(day.day, s) for day in reversed(summary.days) for s in day.species]
        self.table.setRowCount(len(rows))
        for row, (day, species) in enumerate(rows):
            note = "first ever" if species.first_ever else "first this year" if species.first_this_year else ""
            for column, value in enumerate(
                (day.strftime("%a %Y-%m-%d"), species.name, species.visits, species.most_at_once, note)
            ):
                item = QTableWidgetItem(str(value))
                if isinstance(value, int):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)


EXPORT_FILTERS = {
    "birdcam CSV, one row per visit (*.csv)": "birdcam",
    "eBird record format, one row per species per day (*.csv)": "ebird",
}


def export_sightings(parent: QWidget, log: SightingsLog) -> None:
    """Asks where (starting in the user's documents folder, never the folder birdcam was started from) and in which
    format, then exports on the writer thread; the outcome shows as a notice."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
    path, chosen = QFileDialog.getSaveFileName(
        parent, "Export sightings", str(Path(folder) / "sightings.csv"), ";;".join(EXPORT_FILTERS)
    )
    if path:
        log.export(Path(path), EXPORT_FILTERS.get(chosen, "birdcam"))


def install_sightings(window: QMainWindow, log: SightingsLog, labels: Callable[[], Sequence[Label]]) -> SightingsDock:
    """Puts the dock on the right of a main window; its summary_action, export_action and toggleViewAction() are for
    the window's menus."""
    dock = SightingsDock(log, labels, window)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock
