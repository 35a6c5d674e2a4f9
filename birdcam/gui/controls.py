"""The Detection dock: no-bird threshold, labels named, smoothing, mirror, still camera, species lists; the
species-list dialog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from birdcam.errors import BirdcamError
from birdcam.gui.widgets import ok_cancel_buttons
from birdcam.models.labels import Label
from birdcam.models.species import SpeciesLists, name_key, read_species_list

MAX_TOP_K = 6
"""The most labels the overlay names (the shown one and the runners-up)."""


class DetectionPanel(QWidget):
    """The controls; it only reports what the user changed (signals) and shows what it is told."""

    threshold_moved = Signal(float)
    """The user moved the slider (0-1)."""
    threshold_reset = Signal()
    """The user asked for the model's own threshold."""
    top_k_changed = Signal(int)
    species_requested = Signal()
    """The user wants to pick species lists."""

    def __init__(self, *, top_k: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setMinimumWidth(120)
        self.threshold_slider.setToolTip("Below this confidence (or on the background class) a bird is not named")
        self.threshold_slider.valueChanged.connect(lambda value: self.threshold_moved.emit(value / 100))
        self.threshold_label = QLabel()
        self.threshold_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        reset = QPushButton("Reset")
        reset.setToolTip("Use the threshold the model was calibrated with")
        reset.clicked.connect(self.threshold_reset)
        self.top_k_spin = QSpinBox()
        self.top_k_spin.setRange(1, MAX_TOP_K)
        self.top_k_spin.setValue(top_k)
        self.top_k_spin.valueChanged.connect(self.top_k_changed)
        self.smoothing_check = QCheckBox("Smooth over time")
        self.mirror_check = QCheckBox("Mirror picture")
        self.still_camera_check = QCheckBox("Still camera: search where it moves")
        self.still_camera_check.setToolTip(
            "For a camera that does not move (a feeder cam): a bird that flies in is found and named sooner"
        )
        self.species_label = QLabel()
        self.species_label.setWordWrap(True)
        species_button = QPushButton("Species list\u2026")
        species_button.setToolTip("Name only the species of your region, or never the ones that keep being misnamed")
        species_button.clicked.connect(self.species_requested)
        self.show_species(None, None)
        for widget in (
            self.threshold_slider,
            self.top_k_spin,
            self.smoothing_check,
            self.mirror_check,
            self.still_camera_check,
            reset,
            species_button,
        ):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys go to the window's shortcuts

        title = QHBoxLayout()
        title.addWidget(QLabel("No-bird threshold"), 1)
        title.addWidget(self.threshold_label)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.threshold_slider, 1)
        slider_row.addWidget(reset)
        top_k_row = QHBoxLayout()
        top_k_row.addWidget(QLabel("Labels named (top-k)"), 1)
        top_k_row.addWidget(self.top_k_spin)
        self.column = QVBoxLayout(self)
        self.column.addLayout(title)
        self.column.addLayout(slider_row)
        self.column.addSpacing(6)
        self.column.addLayout(top_k_row)
        checks_row = QHBoxLayout()  # one row for two short boxes: the sightings dock below keeps its room
        checks_row.addWidget(self.smoothing_check)
        checks_row.addWidget(self.mirror_check)
        checks_row.addStretch(1)
        self.column.addLayout(checks_row)
        self.column.addWidget(self.still_camera_check)
        species_row = QHBoxLayout()
        species_row.addWidget(self.species_label, 1)
        species_row.addWidget(species_button)
        self.column.addLayout(species_row)
        self.column.addStretch(1)
        self.setMinimumWidth(320)

    def show_species(self, allow: tuple[Path | None, int] | None, deny: tuple[Path | None, int] | None) -> None:
        """Says which lists are in force: (file, how many names) each, or None."""
        parts, files = [], []
        for verb, entry in (("only", allow), ("never", deny)):
            if entry is not None and entry[0] is not None:
                parts.append(f"{verb} {entry[1]}")
                files.append(str(entry[0]))
        self.species_label.setText("Species: " + ("; ".join(parts) if parts else "all the model knows"))
        self.species_label.setToolTip("\n".join(files))

    def show_threshold(self, threshold: float) -> None:
        """Shows the threshold in use without reporting it back as a user's move."""
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(threshold * 100))
        self.threshold_slider.blockSignals(False)
        self.threshold_label.setText(f"{threshold:.2f}")


class SpeciesListDialog(QDialog):
    """Which species the model may name: a searchable checklist of its species, each ticked "Only" (an allow list:
    name only the ticked ones) or "Never" (a deny list); a list file (one name a line) can be loaded into it."""

    ONLY, NEVER = 1, 2
    """The columns of the two ticks."""

    def __init__(
        self,
        labels: Sequence[Label],
        allow: Sequence[str] | None,
        deny: Sequence[str],
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Species lists")
        self._labels = [label for label in labels if not label.is_background]
        hint = QLabel(
            "Tick <b>Only</b> to name only those species (e.g. the birds of your region), <b>Never</b> for a species "
            "that keeps being named wrongly. Nothing ticked under Only: every species but the Never ones."
        )
        hint.setWordWrap(True)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the model's species (common or scientific name)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.table = QTableWidget(len(self._labels), 3)
        self.table.setHorizontalHeaderLabels(["Species", "Only", "Never"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (self.ONLY, self.NEVER):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        allowed, denied = _keys(allow or ()), _keys(deny)
        for row, label in enumerate(self._labels):
            self.table.setItem(row, 0, QTableWidgetItem(_shown_name(label)))
            for column, ticked in ((self.ONLY, allowed), (self.NEVER, denied)):
                item = QTableWidgetItem()
                item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                item.setCheckState(Qt.CheckState.Checked if _names(label) & ticked else Qt.CheckState.Unchecked)
                self.table.setItem(row, column, item)
        self.counts = QLabel()
        self.table.itemChanged.connect(lambda _: self._show_counts())
        load_only = QPushButton("Load an Only list\u2026")
        load_only.clicked.connect(lambda: self._load(self.ONLY))
        load_never = QPushButton("Load a Never list\u2026")
        load_never.clicked.connect(lambda: self._load(self.NEVER))
        clear = QPushButton("Clear all")
        clear.clicked.connect(self._clear)
        row = QHBoxLayout()
        for widget in (load_only, load_never, clear):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.counts)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(ok_cancel_buttons(self))
        self._show_counts()
        self.resize(620, 560)

    def lists(self) -> SpeciesLists:
        """The ticked species as the engine takes them (scientific names where the model gives them)."""
        only, never = self._ticked(self.ONLY), self._ticked(self.NEVER)
        return SpeciesLists(allow=tuple(only) or None, deny=tuple(never))

    def _ticked(self, column: int) -> list[str]:
        return [
            label.scientific_name or label.common_name or label.text
            for row, label in enumerate(self._labels)
            if self.table.item(row, column).checkState() == Qt.CheckState.Checked
        ]

    def _filter(self, text: str) -> None:
        key = name_key(text)
        for row, label in enumerate(self._labels):
            self.table.setRowHidden(row, bool(key) and not any(key in name for name in _names(label)))

    def _show_counts(self) -> None:
        only, never = len(self._ticked(self.ONLY)), len(self._ticked(self.NEVER))
        self.counts.setText(f"Only: {only or 'every species'} \u00b7 Never: {never}")

    def _clear(self) -> None:
        for row in range(self.table.rowCount()):
            for column in (self.ONLY, self.NEVER):
                self.table.item(row, column).setCheckState(Qt.CheckState.Unchecked)

    def _load(self, column: int) -> None:
        """Ticks the species a list file names; says which names the model does not know."""
        path, _ = QFileDialog.getOpenFileName(self, "Load a species list", "", "Species lists (*.txt);;All files (*)")
        if not path:
            return
        try:
            names = read_species_list(Path(path))
        except BirdcamError as error:
            QMessageBox.warning(self, "Species list not loaded", str(error))
            return
        wanted = _keys(names)
        found = set()
        for row, label in enumerate(self._labels):
            matched = _names(label) & wanted
            if matched:
                self.table.item(row, column).setCheckState(Qt.CheckState.Checked)
                found |= matched
        unknown = [name for name in names if name_key(name) not in found]
        if unknown:
            QMessageBox.information(
                self,
                "Species list loaded",
                f"The model does not know {len(unknown)} of the {len(names)} names: {', '.join(unknown[:5])}"
                + (", \u2026" if len(unknown) > 5 else ""),
            )


def _shown_name(label: Label) -> str:
    if label.common_name and label.scientific_name:
        return f"{label.common_name} \u2014 {label.scientific_name}"
    return label.display_name


def _names(label: Label) -> set[str]:
    """The keys a list may name a label by: its common and scientific names and its text."""
    return {name_key(name) for name in (label.common_name, label.scientific_name, label.text) if name}


def _keys(names: Sequence[str]) -> set[str]:
    return {name_key(name) for name in names}
